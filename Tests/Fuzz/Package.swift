// swift-tools-version: 6.1
import PackageDescription

/// libFuzzer harnesses for Sentinel's parsers (issue 12, item 1). A nested package so that the main
/// package stays free of sanitizer flags; it depends on the checkout two levels up by path.
/// Build and run with `Tests/Fuzz/run.sh NAME SECONDS` (README.md), which passes
/// `--sanitize=fuzzer --sanitize=address`: each harness is an executable whose `main` is libFuzzer's.
let harnesses: [(name: String, dependencies: [String])] = [
    ("FuzzSafeTensors", ["SentinelFormats"]),
    ("FuzzPickle", ["SentinelFormats"]),
    ("FuzzTorchZip", ["SentinelFormats"]),
    ("FuzzTorchLegacy", ["SentinelFormats"]),
    ("FuzzJSON", ["SentinelEncoder"]),
    ("FuzzTokenizerJSON", ["SentinelTokenizer"]),
    ("FuzzWordPiece", ["SentinelTokenizer"]),
    ("FuzzByteLevelBPE", ["SentinelTokenizer"]),
    ("FuzzUnigram", ["SentinelTokenizer"]),
]

/// The main package's identity is its directory name (the checkout's), so it is named through the
/// `SENTINEL_PACKAGE` environment variable that run.sh sets (default: the directory two levels up).
let mainPackage: String = {
    if let name = Context.environment["SENTINEL_PACKAGE"], !name.isEmpty { return name }
    let dir = Context.packageDirectory
    let parts = dir.split(separator: "/")
    return parts.count >= 3 ? String(parts[parts.count - 3]).lowercased() : "sentinel"
}()

let package = Package(
    name: "SentinelFuzz",
    dependencies: [.package(path: "../..")],
    targets: [
        .target(
            name: "FuzzSupport",
            dependencies: [
                .product(name: "SentinelCore", package: mainPackage),
                .product(name: "SentinelFormats", package: mainPackage),
                .product(name: "SentinelTokenizer", package: mainPackage),
                .product(name: "SentinelEncoder", package: mainPackage),
            ]
        )
    ]
        + harnesses.map { h in
            .executableTarget(
                name: h.name,
                dependencies: ["FuzzSupport"] + h.dependencies.map { .product(name: $0, package: mainPackage) }
                    + [.product(name: "SentinelCore", package: mainPackage)],
                path: "Sources/\(h.name)"
            )
        },
    swiftLanguageModes: [.v6]
)
