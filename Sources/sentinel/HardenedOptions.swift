import ArgumentParser
import SentinelScheme

/// `convert --scheme hardened` options: Argon2id parameters and the embedding transform (HardenedScheme.swift).
struct HardenedOptions: ParsableArguments {
    @Option(
        name: .customLong("kdf-ops"), parsing: .unconditional,
        help: ArgumentHelp("Argon2id passes (libsodium opslimit). Default: 3 (MODERATE).", valueName: "n"))
    var kdfOps: Int?

    @Option(name: .customLong("kdf-mem"), help: ArgumentHelp("Argon2id memory (e.g. 64MiB, 256MiB). Default: 256MiB (MODERATE).", valueName: "size"))
    var kdfMem: String?

    @Option(
        name: .customLong("kdf-salt"),
        help: ArgumentHelp(
            "Argon2id salt, 32 hex characters. Default: 16 fresh random bytes. Give one only to reproduce a conversion.", valueName: "hex"))
    var kdfSalt: String?

    @Option(parsing: .unconditional, help: ArgumentHelp("Multiply every word-embedding row by this factor. Default: 1.", valueName: "x"))
    var scale: Double?

    @Option(
        name: .customLong("dim-scale"), parsing: .unconditional,
        help: ArgumentHelp(
            "Multiply each dimension by a key-derived factor, log-uniform in [1/x, x]. Default: 1 (off).", valueName: "x"))
    var dimScale: Double?

    @Option(
        name: .customLong("noise-std"), parsing: .unconditional,
        help: ArgumentHelp(
            "Add key-derived Gaussian noise of this standard deviation (embedding units). Default: 0.", valueName: "x"))
    var noiseStd: Double?

    @Option(
        name: .customLong("reinit-fraction"), parsing: .unconditional,
        help: ArgumentHelp(
            "Replace this fraction of the non-special rows, chosen by the key, by N(0, reinit-std) values. Default: 0 "
                + "when another transform option is given, else 1.", valueName: "f"))
    var reinitFraction: Double?

    @Option(
        name: .customLong("reinit-std"), parsing: .unconditional,
        help: ArgumentHelp(
            "Standard deviation of re-initialised rows. Default: config.json initializer_range (0.02 when absent).", valueName: "x"))
    var reinitStd: Double?

    /// The options given on the command line, by flag name.
    var givenOptions: [String] {
        [
            ("--kdf-ops", kdfOps != nil), ("--kdf-mem", kdfMem != nil), ("--kdf-salt", kdfSalt != nil), ("--scale", scale != nil),
            ("--dim-scale", dimScale != nil), ("--noise-std", noiseStd != nil), ("--reinit-fraction", reinitFraction != nil),
            ("--reinit-std", reinitStd != nil),
        ].filter(\.1).map(\.0)
    }

    func validate() throws {
        if let kdfMem, parseByteSize(kdfMem) == nil { throw ValidationError("--kdf-mem '\(kdfMem)' is not a size (examples: 64MiB, 256MiB)") }
        if let kdfSalt, HardenedManifest.unhex(kdfSalt)?.count != Argon2idParameters.saltBytes {
            throw ValidationError("--kdf-salt must be \(2 * Argon2idParameters.saltBytes) hex characters")
        }
        if let problem = kdfParameters().problem { throw ValidationError("--kdf-ops/--kdf-mem: " + problem) }
        if let problem = transformOptions().problem { throw ValidationError("--" + problem) }
    }

    /// Argon2id parameters: libsodium MODERATE unless overridden; the given or a fresh random salt.
    func kdfParameters() -> Argon2idParameters {
        var p = Argon2idParameters.standard(salt: kdfSalt.flatMap(HardenedManifest.unhex) ?? Argon2idParameters.randomSalt())
        if let kdfOps { p.opsLimit = kdfOps }
        if let kdfMem, let bytes = parseByteSize(kdfMem) { p.memLimit = bytes }
        return p
    }

    /// The transform: ``HardenedTransformOptions/standard`` when no transform option is given, else the given ones
    /// with the others neutral.
    func transformOptions() -> HardenedTransformOptions {
        if scale == nil && dimScale == nil && noiseStd == nil && reinitFraction == nil && reinitStd == nil { return .standard }
        return HardenedTransformOptions(
            scale: scale ?? 1, dimScale: dimScale ?? 1, noiseStd: noiseStd ?? 0,
            reinitFraction: reinitFraction ?? 0, reinitStd: reinitStd)
    }
}
