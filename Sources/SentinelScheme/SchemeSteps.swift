import SentinelCore

/// The parts of a conversion that depend on the scheme; ``SeedConverter/convert(model:output:options:steps:progress:)``
/// does the rest (reading, validating, streaming, atomic output) the same way for every scheme.
struct SchemeSteps {
    /// Scheme name (`sentinel.json` `scheme`, the report).
    var name: String
    /// The token hasher (called once, first, after the model directory is opened).
    var hasher: () throws -> TokenHasher
    /// `mapping[old id] = new id` for `(vocabSize, specialIDs)`.
    var mapping: (Int, Set<Int>) -> [Int]
    /// The adapted embedding rows: `(source bytes, dtype, rows, hidden, mapping, specialIDs, config.json)`.
    var transform: (UnsafeRawBufferPointer, DType, Int, Int, [Int], Set<Int>, JSONValue) -> any EmbeddingRowProducer
    /// `sentinel.json` fields before `source` and `tool`, given the dtype written.
    var manifest: (DType) -> [(String, JSONValue)]
}

extension SeedConverter {
    /// The seed scheme's steps (`../shared/docs/SCHEME.md` steps 1–6), as the reference converter does them.
    static func seedSteps(passkey: String, options: ConversionOptions) -> SchemeSteps {
        let seed = SeedScheme.seed(forKey: passkey)
        return SchemeSteps(
            name: "seed",
            hasher: { try TokenHasher(passkey: passkey) },
            mapping: { SeedScheme.mapping(vocabSize: $0, specialIDs: $1, seed: seed, shuffle: options.shuffle) },
            transform: { source, dtype, rows, hidden, mapping, _, _ in
                var global = PythonRandom(seed: seed)
                let passes = SeedScheme.glidePasses(options.glideSteps, generator: &global)
                return EmbeddingTransform(source: source, dtype: dtype, rows: rows, hidden: hidden, passes: passes, mapping: mapping)
            },
            manifest: { outDType in
                [
                    ("scheme", .string("seed")),
                    ("scheme_version", .int(Int64(SeedScheme.version))),
                    ("shuffle", .bool(options.shuffle)),
                    ("glide_steps", .int(Int64(options.glideSteps))),
                    ("embedding_dtype", .string(outDType.rawValue)),
                    ("digest", .object([("algorithm", .string("blake2b")), ("digest_size", .int(16)), ("encoding", .string("hex"))])),
                    ("kdf", .null),
                ]
            }
        )
    }
}
