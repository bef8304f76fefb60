// swift-tools-version: 6.1
import PackageDescription

/// The encoder's vector kernels (softmax, GELU, LayerNorm) can be compiled for a CPU level above baseline
/// x86-64: `SENTINEL_TARGET_CPU=haswell swift build` (AVX2 + FMA, about 10 % faster at MiniLM (8, 128)).
/// `Samples/*.sh` set it when this CPU has AVX2 and FMA. It is a local build setting: SwiftPM refuses
/// `unsafeFlags` in a package that others depend on by URL and version, so without the variable no
/// unsafe flag is used and the library products can be depended on as usual.
let encoderTargetCPU = Context.environment["SENTINEL_TARGET_CPU"].flatMap { $0.isEmpty ? nil : $0 }
/// `SENTINEL_OPTIMIZE_DEBUG=1` compiles the numeric targets (encoder, scheme) and the format readers with `-O` in
/// debug builds too, so that the test suite's end-to-end runs of the encoder take seconds, not minutes, and the
/// mutation tests' ~100,000 parses a few seconds (also a local setting; `-O` keeps overflow traps).
let optimizeDebug = Context.environment["SENTINEL_OPTIMIZE_DEBUG"] == "1"
let numericSettings: [SwiftSetting] = optimizeDebug ? [.unsafeFlags(["-O"], .when(configuration: .debug))] : []
let encoderSettings: [SwiftSetting] = (encoderTargetCPU.map {
    [.unsafeFlags(["-target-cpu", $0]), .define("SENTINEL_CPU_CHECK")]
} ?? []) + numericSettings

/// Sentinel: adapt HuggingFace BERT checkpoints for encrypted input (SentinelLMs, AAAI 2024),
/// inspect and convert checkpoint formats, and run the adapted encoder natively on a CPU.
///
/// C libraries (Debian -dev packages) are wrapped in small system-library targets found with
/// pkg-config: libsodium (BLAKE2b, Argon2id, ChaCha20), json-c (ordered JSON with exact 64-bit
/// integers), libzip (torch zip archives), OpenBLAS (cblas_sgemm), libcrypto (SHA-256).
let package = Package(
    name: "Sentinel",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "sentinel", targets: ["sentinel"]),
        .library(name: "SentinelCore", targets: ["SentinelCore"]),
        .library(name: "SentinelFormats", targets: ["SentinelFormats"]),
        .library(name: "SentinelTokenizer", targets: ["SentinelTokenizer"]),
        .library(name: "SentinelEncoder", targets: ["SentinelEncoder"]),
        .library(name: "SentinelScheme", targets: ["SentinelScheme"]),
        .library(name: "SentinelAudit", targets: ["SentinelAudit"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        // SentencePiece `.model` files are protobuf (ModelProto); the generated code is committed.
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
    ],
    targets: [
        // C libraries.
        .systemLibrary(name: "CSodium", pkgConfig: "libsodium", providers: [.apt(["libsodium-dev"])]),
        .systemLibrary(name: "CJSONC", pkgConfig: "json-c", providers: [.apt(["libjson-c-dev"])]),
        .systemLibrary(name: "CZip", pkgConfig: "libzip", providers: [.apt(["libzip-dev"])]),
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        // OpenSSL's libcrypto, for SHA-256 only: it uses the CPU's SHA extensions (~1.8 GB/s here, vs
        // ~0.3 GB/s for libsodium's portable C), and every source file is digested for sentinel.json.
        .systemLibrary(name: "COpenSSL", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),

        // Linux system calls Swift's Glibc module does not export (copy_file_range), as swift-nio's CNIOLinux does.
        .target(name: "CSentinelLinux"),
        // Small numeric kernels in C where the exact operation order matters (the reference's ddot).
        .target(name: "CSentinelKernels"),

        // The module tree (README, "Layout"): each module imports only what it uses.
        //   SentinelCore <- SentinelFormats, SentinelTokenizer, SentinelEncoder <- SentinelScheme <- SentinelAudit <- sentinel
        // Dtypes and their decoding, tensor entries and archives, memory-mapped files, file I/O and atomic
        // outputs, JSON (json-c), SHA-256 (libcrypto), the error types.
        .target(name: "SentinelCore", dependencies: ["CJSONC", "COpenSSL", "CSentinelLinux"]),
        // Checkpoint formats: safetensors, PyTorch (restricted pickle machine, zip and legacy containers),
        // sharded checkpoints, HF model directories; their writers.
        .target(name: "SentinelFormats", dependencies: ["SentinelCore", "CZip"], swiftSettings: numericSettings),
        // Tokenizers (BERT WordPiece; one protocol for every vocabulary family), special tokens, datasets.
        .target(
            name: "SentinelTokenizer",
            dependencies: ["SentinelCore", .product(name: "SwiftProtobuf", package: "swift-protobuf")],
            exclude: ["SentencePiece/sentencepiece_model.proto", "SentencePiece/README.md"]
        ),
        // Native CPU BERT encoder (OpenBLAS sgemm + SIMD kernels), heads, batching.
        .target(
            name: "SentinelEncoder",
            dependencies: ["SentinelCore", "COpenBLAS", "CSentinelKernels"],
            // With SENTINEL_TARGET_CPU (above), BertModel checks at load time that the CPU has AVX2 + FMA.
            swiftSettings: encoderSettings
        ),
        // The adaptation schemes: keyed token hashing, Python-compatible MT19937, the seed scheme's id
        // mapping and glide transform, the converter, the client-side encryptor, the adapted vocabulary.
        .target(name: "SentinelScheme", dependencies: ["SentinelCore", "SentinelFormats", "SentinelTokenizer", "CSodium", "CSentinelKernels"],
                swiftSettings: numericSettings),
        // Checks of adapted models: vocabulary, unchanged tensors, embedding rows, forward parity (verify);
        // the irreversibility audit (attacks on the id permutation, BLAS similarity blocks). Its matchers scan
        // ~10⁹ similarities per attack on MiniLM, hence -O in debug test builds (SENTINEL_OPTIMIZE_DEBUG).
        .target(
            name: "SentinelAudit",
            dependencies: ["SentinelCore", "SentinelFormats", "SentinelTokenizer", "SentinelEncoder", "SentinelScheme", "COpenBLAS"],
            swiftSettings: numericSettings
        ),
        // The command-line tool: options and calls into the libraries.
        .executableTarget(
            name: "sentinel",
            dependencies: [
                "SentinelCore", "SentinelFormats", "SentinelTokenizer", "SentinelEncoder", "SentinelScheme", "SentinelAudit",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),

        // Fixture locations, the sample model and a process runner, shared by every test target.
        .target(name: "SentinelTestSupport", dependencies: ["SentinelCore"]),
        .testTarget(name: "SentinelCoreTests", dependencies: ["SentinelCore", "SentinelTestSupport"]),
        .testTarget(name: "SentinelFormatsTests", dependencies: ["SentinelFormats", "SentinelCore", "SentinelTestSupport"]),
        .testTarget(name: "SentinelTokenizerTests", dependencies: ["SentinelTokenizer", "SentinelFormats", "SentinelCore", "SentinelTestSupport"]),
        .testTarget(name: "SentinelUnigramTests", dependencies: ["SentinelTokenizer", "SentinelScheme", "SentinelFormats", "SentinelCore", "SentinelTestSupport"]),
        .testTarget(name: "SentinelEncoderTests", dependencies: ["SentinelEncoder", "SentinelFormats", "SentinelCore", "SentinelTestSupport"]),
        .testTarget(name: "SentinelSchemeTests", dependencies: ["SentinelScheme", "SentinelFormats", "SentinelTokenizer", "SentinelCore", "SentinelTestSupport", "CSentinelKernels"]),
        .testTarget(name: "SentinelAuditTests", dependencies: ["SentinelAudit", "SentinelScheme", "SentinelTokenizer", "SentinelFormats", "SentinelCore", "SentinelEncoder", "SentinelTestSupport"]),
        // Replays the fuzz harnesses' committed regression inputs (Tests/Fuzz: the libFuzzer package runs the same
        // harness code, FuzzHarness.swift, linked from there).
        .testTarget(name: "SentinelFuzzTests", dependencies: ["SentinelFormats", "SentinelTokenizer", "SentinelEncoder", "SentinelCore", "SentinelTestSupport"]),
        // Runs the `sentinel` executable end to end (the only test target that depends on it).
        .testTarget(name: "SentinelCLITests", dependencies: ["sentinel", "SentinelFormats", "SentinelTokenizer", "SentinelScheme", "SentinelEncoder", "SentinelCore", "SentinelTestSupport"]),
    ],
    swiftLanguageModes: [.v6]
)
