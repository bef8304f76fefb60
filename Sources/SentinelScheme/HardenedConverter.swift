import SentinelCore
#if canImport(Glibc)
    import Glibc
#endif

/// What `sentinel.json` says about a `hardened` model: everything a party holding the key needs to derive the
/// scheme's keys and recompute the conversion. Public: it holds no key material.
public struct HardenedManifest: Sendable, Equatable {
    public var kdf: Argon2idParameters
    public var transform: HardenedTransformOptions
    /// `embedding_transform.reinit_std` as resolved at conversion time.
    public var reinitStd: Double

    public init(kdf: Argon2idParameters, transform: HardenedTransformOptions, reinitStd: Double) {
        self.kdf = kdf
        self.transform = transform
        self.reinitStd = reinitStd
    }

    /// The `sentinel.json` fields of the scheme, before `source` and `tool`.
    public func fields(embeddingDType: DType) -> [(String, JSONValue)] {
        [
            ("scheme", .string(HardenedScheme.name)),
            ("scheme_version", .int(Int64(HardenedScheme.version))),
            // For readers of the seed layout: the ids are always permuted, and there is no glide transform.
            ("shuffle", .bool(true)),
            ("glide_steps", .int(0)),
            ("embedding_dtype", .string(embeddingDType.rawValue)),
            (
                "digest",
                .object([
                    ("algorithm", .string("blake2b")), ("digest_size", .int(16)), ("encoding", .string("hex")),
                    ("key", .string("kdf subkey " + HardenedKeys.Purpose.tokenDigests.rawValue)),
                ])
            ),
            (
                "kdf",
                .object([
                    ("algorithm", .string(Argon2idParameters.algorithmName)),
                    ("opslimit", .int(Int64(kdf.opsLimit))),
                    ("memlimit", .int(Int64(kdf.memLimit))),
                    ("salt", .string(Self.hex(kdf.salt))),
                    ("key_bytes", .int(Int64(Argon2idParameters.keyBytes))),
                    (
                        "subkeys",
                        .object([
                            ("derivation", .string("crypto_kdf_derive_from_key (blake2b)")),
                            ("subkey_id", .int(Int64(HardenedKeys.subkeyID))),
                            ("token_digests", .string(HardenedKeys.Purpose.tokenDigests.rawValue)),
                            ("permutation", .string(HardenedKeys.Purpose.permutation.rawValue)),
                            ("embedding_transform", .string(HardenedKeys.Purpose.embeddingTransform.rawValue)),
                        ])
                    ),
                ])
            ),
            (
                "permutation",
                .object([
                    ("algorithm", .string("fisher-yates")), ("stream", .string("chacha20-ietf")),
                    ("draws", .string("lemire-unbiased")), ("special_ids_fixed", .bool(true)),
                ])
            ),
            ("embedding_transform", transform.json(resolvedReinitStd: reinitStd)),
        ]
    }

    /// Reads the hardened fields of a parsed `sentinel.json` at `path`.
    /// - Throws: ``InputError`` (`invalid_structure`, naming the key) for a missing, malformed or out-of-range field.
    public init(json m: JSONValue, path: String) throws {
        func bad(_ key: String, _ why: String) -> InputError { InputError(.invalidStructure, file: path, key: key, why) }
        guard m["scheme_version"]?.intValue == HardenedScheme.version else {
            throw bad(
                "scheme_version", "must be \(HardenedScheme.version) for scheme hardened (this Sentinel knows version \(HardenedScheme.version) only)"
            )
        }
        guard let k = m["kdf"], k.objectValue != nil else { throw bad("kdf", "must be an object with the Argon2id parameters") }
        guard k["algorithm"]?.stringValue == Argon2idParameters.algorithmName else {
            throw bad("kdf.algorithm", "must be \"\(Argon2idParameters.algorithmName)\"")
        }
        guard let ops = k["opslimit"]?.intValue, Argon2idParameters.opsRange.contains(ops) else {
            throw bad(
                "kdf.opslimit", "must be an integer from \(Argon2idParameters.opsRange.lowerBound) to \(Argon2idParameters.opsRange.upperBound)")
        }
        guard let mem = k["memlimit"]?.intValue, Argon2idParameters.memRange.contains(mem), mem % 1024 == 0 else {
            throw bad(
                "kdf.memlimit",
                "must be a multiple of 1024 bytes from \(Argon2idParameters.memRange.lowerBound) to \(Argon2idParameters.memRange.upperBound)")
        }
        guard let saltText = k["salt"]?.stringValue, let salt = Self.unhex(saltText), salt.count == Argon2idParameters.saltBytes else {
            throw bad("kdf.salt", "must be \(2 * Argon2idParameters.saltBytes) hex characters")
        }
        if let n = k["key_bytes"], n.intValue != Argon2idParameters.keyBytes { throw bad("kdf.key_bytes", "must be \(Argon2idParameters.keyBytes)") }
        kdf = Argon2idParameters(opsLimit: ops, memLimit: mem, salt: salt)

        guard let t = m["embedding_transform"], t.objectValue != nil else {
            throw bad("embedding_transform", "must be an object with the transform settings")
        }
        func number(_ key: String) throws -> Double {
            guard let v = t[key]?.doubleValue else { throw bad("embedding_transform." + key, "must be a number") }
            return v
        }
        let options = HardenedTransformOptions(
            scale: try number("scale"), dimScale: try number("dim_scale"), noiseStd: try number("noise_std"),
            reinitFraction: try number("reinit_fraction"), reinitStd: try number("reinit_std"))
        if let problem = options.problem { throw bad("embedding_transform", problem) }
        reinitStd = options.reinitStd!
        transform = options
        transform.reinitStd = nil
    }
}

/// The scheme of an adapted model directory, from its `sentinel.json`: what a client needs to make digests.
public enum AdaptationManifest: Sendable, Equatable {
    /// `seed` (or no `sentinel.json`): digests keyed with the passkey's UTF-8 bytes.
    case seed
    /// `hardened`: digests keyed with the Argon2id-derived subkey.
    case hardened(HardenedManifest)

    /// Reads `sentinel.json`, or `PATH/sentinel.json` when `path` is a directory.
    /// - Throws: ``InputError``: missing file, not JSON, unknown scheme, malformed hardened fields.
    public init(path: String) throws {
        let file = HardenedManifest.isDirectory(path) ? path + "/sentinel.json" : path
        guard HardenedManifest.isFile(file) else {
            throw InputError(.missing, file: file, "no sentinel.json: give the adapted model's directory or its sentinel.json")
        }
        try self.init(json: try JSONValue.read(file: file), path: file)
    }

    /// Interprets a parsed `sentinel.json` read from `path`.
    public init(json: JSONValue, path: String) throws {
        switch json["scheme"]?.stringValue {
        case "seed": self = .seed
        case HardenedScheme.name: self = .hardened(try HardenedManifest(json: json, path: path))
        case let other:
            throw InputError(
                .invalidStructure, file: path, key: "scheme",
                "scheme \(other.map { "'\($0)'" } ?? "(missing)") is not one Sentinel knows (seed, hardened)")
        }
    }

    /// The adapted model's manifest if `directory` has a `sentinel.json`, else `.seed` (older outputs).
    public static func of(directory: String) throws -> AdaptationManifest {
        HardenedManifest.isFile(directory + "/sentinel.json") ? try AdaptationManifest(path: directory + "/sentinel.json") : .seed
    }

    /// Scheme name.
    public var scheme: String {
        switch self {
        case .seed: "seed"
        case .hardened: HardenedScheme.name
        }
    }

    /// The token hasher for `passkey` under this scheme (runs Argon2id for `hardened`).
    /// - Throws: `TokenHasher.Error` (seed: key over 64 bytes), ``KeyDerivationError``.
    public func tokenHasher(passkey: String) throws -> TokenHasher {
        switch self {
        case .seed: try TokenHasher(passkey: passkey)
        case let .hardened(m): try HardenedKeys(passkey: passkey, parameters: m.kdf).tokenHasher()
        }
    }
}

/// The `hardened` converter: the shared pipeline of ``SeedConverter`` with ``HardenedScheme``'s steps.
public enum HardenedConverter {
    /// Converts `model` into `output` under the `hardened` scheme.
    ///
    /// - Parameters:
    ///   - passkey: the user's key, any length of UTF-8; only Argon2id sees it. Never written.
    ///   - kdf: Argon2id parameters and salt (recorded in `sentinel.json`; the salt should be fresh: ``Argon2idParameters/randomSalt()``).
    ///   - transform: the embedding transform.
    ///   - options: shared options; `shuffle` and `glideSteps` are ignored (always permuted, no glide).
    /// - Throws: ``KeyDerivationError`` (bad parameters, out of memory), ``InputError``, ``OutputError``; nothing is left at
    ///   `output` on error.
    public static func convert(
        model: String, output: String, passkey: String, kdf: Argon2idParameters,
        transform: HardenedTransformOptions, options: ConversionOptions,
        progress: (String) -> Void = { _ in }
    ) throws -> ConversionReport {
        try withoutActuallyEscaping(progress) { progress in
            try convert(
                model: model, output: output, passkey: passkey, kdf: kdf, transform: transform, options: options,
                escapingProgress: progress)
        }
    }

    private static func convert(
        model: String, output: String, passkey: String, kdf: Argon2idParameters,
        transform: HardenedTransformOptions, options: ConversionOptions,
        escapingProgress progress: @escaping (String) -> Void
    ) throws -> ConversionReport {
        if let problem = kdf.problem { throw KeyDerivationError.invalidParameters(problem) }
        if let problem = transform.problem { throw KeyDerivationError.invalidParameters(problem) }
        final class KeyBox: @unchecked Sendable { var keys: HardenedKeys? }
        let box = KeyBox()
        var resolvedReinitStd = transform.reinitStd ?? defaultReinitStd
        let steps = SchemeSteps(
            name: HardenedScheme.name,
            hasher: {
                progress("deriving keys (Argon2id, opslimit \(kdf.opsLimit), memlimit \(kdf.memLimit >> 20) MiB)")
                let keys = try HardenedKeys(passkey: passkey, parameters: kdf)
                box.keys = keys
                return keys.tokenHasher()
            },
            mapping: { HardenedScheme.mapping(vocabSize: $0, specialIDs: $1, key: box.keys!.permutation) },
            transform: { source, dtype, rows, hidden, mapping, specialIDs, config in
                resolvedReinitStd = transform.reinitStd ?? reinitStd(config: config)
                return HardenedEmbeddingTransform(
                    source: source, dtype: dtype, rows: rows, hidden: hidden, mapping: mapping,
                    specialIDs: specialIDs, options: transform, reinitStd: resolvedReinitStd,
                    key: box.keys!.embeddingTransform)
            },
            manifest: { dtype in
                HardenedManifest(kdf: kdf, transform: transform, reinitStd: resolvedReinitStd).fields(embeddingDType: dtype)
            }
        )
        return try SeedConverter.convert(model: model, output: output, options: options, steps: steps, progress: progress)
    }

    /// BERT's `initializer_range` default.
    public static let defaultReinitStd = 0.02

    /// `config.json`'s `initializer_range` when it is a positive number, else ``defaultReinitStd``.
    public static func reinitStd(config: JSONValue) -> Double {
        if let r = config["initializer_range"]?.doubleValue, r.isFinite, r > 0, r <= HardenedTransformOptions.maxMagnitude { return r }
        return defaultReinitStd
    }
}

extension HardenedManifest {
    /// Lowercase hex of `bytes`.
    public static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 15)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Bytes of an even-length hex string (either case), nil if it is not one.
    public static func unhex(_ text: String) -> [UInt8]? {
        let u = Array(text.utf8)
        guard u.count % 2 == 0 else { return nil }
        func nibble(_ c: UInt8) -> UInt8? {
            switch c {
            case 0x30...0x39: c - 0x30
            case 0x61...0x66: c - 0x61 + 10
            case 0x41...0x46: c - 0x41 + 10
            default: nil
            }
        }
        var out = [UInt8]()
        out.reserveCapacity(u.count / 2)
        for i in stride(from: 0, to: u.count, by: 2) {
            guard let h = nibble(u[i]), let l = nibble(u[i + 1]) else { return nil }
            out.append(h << 4 | l)
        }
        return out
    }

    /// Whether `path` is a regular file (after symlinks).
    static func isFile(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFREG
    }

    /// Whether `path` is a directory (after symlinks).
    static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }
}
