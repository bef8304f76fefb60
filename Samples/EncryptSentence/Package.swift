// swift-tools-version: 6.1
import PackageDescription

/// A client that encrypts a sentence with Sentinel's Swift API (SentinelScheme's `Encryptor`).
///
/// It depends on Sentinel by URL and version, as any package would. `SENTINEL_PACKAGE_URL` names the
/// repository (a `file://` URL of a local clone works; `Tests/SentinelCLITests/SamplePackageTests.swift`
/// builds this sample against a tagged clone of the project).
let sentinelURL = Context.environment["SENTINEL_PACKAGE_URL"] ?? "https://github.com/sentinel-lms/sentinel"

let package = Package(
    name: "EncryptSentence",
    platforms: [.macOS(.v13)],
    dependencies: [
        .package(url: sentinelURL, from: "0.1.0"),
    ],
    targets: [
        .executableTarget(
            name: "encrypt-sentence",
            dependencies: [
                .product(name: "SentinelScheme", package: "sentinel"),
                .product(name: "SentinelTokenizer", package: "sentinel"),
            ]
        ),
    ]
)
