import Dispatch
import SentinelCore
import SentinelTorch
#if canImport(Glibc)
import Glibc
#endif

/// What `sentinel convert` is asked to do.
public struct ConversionOptions: Sendable {
    /// Which dtype the adapted `embeddings.word_embeddings.weight` is written in.
    public enum EmbeddingDType: String, Sendable, CaseIterable {
        /// The input's dtype (the reference writes F64; keeping the input's dtype keeps the model's size).
        case keep
        case F32
        case F64
    }

    /// Step 4 of the scheme (id shuffle and row permutation).
    public var shuffle: Bool
    /// Step 5: number of glide passes (the authors' `--embedding_rescaling_factor`).
    public var glideSteps: Int
    public var embeddingDType: EmbeddingDType
    /// Replace an existing output directory.
    public var replace: Bool
    /// Weights format to write.
    public var format: WeightsFormat
    /// Largest shard in bytes of tensor data; `nil` keeps the input's layout (one file, or shards no larger
    /// than the input's largest shard).
    public var maxShardBytes: Int?

    public init(shuffle: Bool = false, glideSteps: Int = 2, embeddingDType: EmbeddingDType = .keep, replace: Bool = false,
                format: WeightsFormat = .safetensors, maxShardBytes: Int? = nil) {
        self.shuffle = shuffle
        self.glideSteps = glideSteps
        self.embeddingDType = embeddingDType
        self.replace = replace
        self.format = format
        self.maxShardBytes = maxShardBytes
    }
}

/// What a conversion did.
public struct ConversionReport: Sendable {
    public var output: String
    public var scheme: String
    public var vocabSize: Int
    /// Names of tensors whose values changed (only the word embeddings for the seed scheme).
    public var changedTensors: [String]
    /// dtype written for the word embeddings.
    public var embeddingDType: DType
    /// Input files that were not carried over (unknown to Sentinel).
    public var ignoredFiles: [String]
    /// Things the user should know (e.g. other vocabulary-sized tensors left unpermuted).
    public var warnings: [String]
    /// Old LayerNorm names mapped to the current ones (`gamma` → `weight`, `beta` → `bias`).
    public var renamedTensors: [(from: String, to: String)]
    /// Weights files written (shards, then the index, if sharded).
    public var weightFiles: [String]
    /// Wall time in seconds.
    public var seconds: Double
}

/// The seed-scheme converter: reproduces `llm_converter.py` (SentinelLMs, AAAI 2024) exactly, with
/// Sentinel's own I/O (memory-mapped input, streamed and atomic output). Spec: `../shared/docs/SCHEME.md`.
public enum SeedConverter {
    /// Name of the embedding parameter the scheme changes (HF `BertEmbeddings`).
    public static let wordEmbeddingsName = "embeddings.word_embeddings.weight"

    /// Converts the model directory `model` into the adapted directory `output`.
    ///
    /// - Parameters:
    ///   - passkey: the user's key; used for the digests (UTF-8, ≤ 64 bytes) and the seed. Never written.
    ///   - progress: called with short step descriptions.
    /// - Throws: ``InputError`` (bad model directory or weights), ``OutputError`` (I/O), `TokenHasher.Error`.
    ///   On any error nothing is left at `output`.
    public static func convert(model: String, output: String, passkey: String, options: ConversionOptions,
                               progress: (String) -> Void = { _ in }) throws -> ConversionReport {
        let start = monotonicSeconds()
        let dir = try ModelDirectory(path: model)
        let hasher = try TokenHasher(passkey: passkey)

        // Source digests for sentinel.json, on the second core while the rest runs.
        let sourceFiles = ([dir.weightsFileName] + dir.shardFileNames + ["config.json", "vocab.txt", "vocab.json", "merges.txt",
                           "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"]).filter(dir.has)
        let digests = BackgroundTask {
            try sourceFiles.map { name in
                let (sha, size) = try SHA256Stream.hex(file: dir.file(name))
                return (name, sha, size)
            }
        }
        // On an early error, let the hashing finish before the process exits: libcrypto's atexit cleanup
        // (run while OpenBLAS joins its thread pool) under a running SHA-256 crashed with SIGSEGV.
        defer { _ = try? digests.wait() }

        progress("reading vocabulary")
        // vocab.txt (WordPiece) or vocab.json (byte-level BPE); the scheme is the same for both.
        let source = try SourceVocabulary(directory: dir)
        let vocab = source.vocabulary
        let byteLevel = source.family == .byteLevelBPE
        let specialTokens = try dir.specialTokens()
        let specialIDs = Set(specialTokens.compactMap { vocab.ids[$0] })
        guard !specialIDs.isEmpty else {
            throw InputError(.invalidStructure, file: source.path,
                             "none of the special tokens (\(specialTokens.joined(separator: " "))) is in the vocabulary")
        }
        let config = try dir.config()
        var warnings: [String] = []
        if let type = config["model_type"]?.stringValue, !["bert", "roberta", "distilbert", "electra", "xlm-roberta"].contains(type) {
            warnings.append("config.json model_type is '\(type)'; the seed scheme is defined for BERT-style models")
        }
        if !dir.has("tokenizer.json") && !byteLevel {
            warnings.append("the input has no tokenizer.json, so none is written (vocab.txt carries the adapted vocabulary)")
        }

        progress("hashing \(vocab.count) tokens")
        let hashed = hashVocabulary(vocab.tokens, special: specialIDs, hasher: hasher)
        let seed = SeedScheme.seed(forKey: passkey)
        let mapping = SeedScheme.mapping(vocabSize: vocab.count, specialIDs: specialIDs, seed: seed, shuffle: options.shuffle)
        var adaptedTokensByID = [String](repeating: "", count: vocab.count)
        for (old, new) in mapping.enumerated() { adaptedTokensByID[new] = hashed[old] }
        let adaptedTokens = adaptedTokensByID
        // tokenizer.json (about 1.5 MB of JSON) is rewritten on the other core while the weights are written.
        let tokenizerText = BackgroundTask { () -> String? in
            if byteLevel { return try adaptedByteLevelTokenizer(dir, vocab: vocab, adaptedTokens: adaptedTokens, specialTokens: specialTokens) }
            guard dir.has("tokenizer.json") else { return nil }
            let original = try ModelDirectory.readJSON(dir.file("tokenizer.json"))
            try checkTokenizerVocab(original, matches: vocab, path: dir.file("tokenizer.json"))
            let adaptedVocab = JSONValue.object(adaptedTokens.enumerated().map { ($0.element, .int(Int64($0.offset))) })
            let model = (original["model"] ?? .object([])).setting("vocab", to: adaptedVocab)
            return original.setting("model", to: model).serialized(.pretty)
        }
        defer { _ = try? tokenizerText.wait() }
        var global = PythonRandom(seed: seed)
        let passes = SeedScheme.glidePasses(options.glideSteps, generator: &global)

        progress("opening weights \(dir.weightsFileName)")
        let opened = try openTensorArchive(path: dir.weightsPath)
        let (_, renamed) = try renameLegacyLayerNormKeys(opened.entries.map(\.name), file: opened.path)
        let archive: TensorArchive = renamed.isEmpty ? opened : RenamedArchive(opened, renames: renamed)
        let ties = (opened as? TorchCheckpoint)?.ties ?? [:]
        let entries = archive.entries
        let embeddingNames = entries.map(\.name).filter { $0 == wordEmbeddingsName || $0.hasSuffix("." + wordEmbeddingsName) }
        guard embeddingNames.count == 1, let embedding = archive.entry(named: embeddingNames[0]) else {
            throw InputError(embeddingNames.isEmpty ? .missing : .invalidStructure, file: archive.path, key: wordEmbeddingsName,
                             embeddingNames.isEmpty ? "no word-embedding tensor" : "several word-embedding tensors: \(embeddingNames)")
        }
        guard embedding.shape.count == 2, embedding.shape[0] == vocab.count,
              EmbeddingTransform.supportedDTypes.contains(embedding.dtype)
        else {
            throw InputError(.invalidStructure, file: archive.path, key: embedding.name,
                             "expected [\(vocab.count), hidden] of F16, BF16, F32 or F64 (\(source.path) has \(vocab.count) tokens); found \(embedding.dtype) \(embedding.shape)")
        }
        let hidden = embedding.shape[1]
        let outDType: DType = switch options.embeddingDType {
        case .keep: embedding.dtype
        case .F32: .F32
        case .F64: .F64
        }
        if let declared = config["vocab_size"]?.intValue, declared != embedding.shape[0] {
            throw InputError(.invalidStructure, file: dir.file("config.json"), key: "vocab_size",
                             "says \(declared) but \(embedding.name) has \(embedding.shape[0]) rows")
        }
        for e in entries where e.name != embedding.name && e.shape.first == vocab.count && e.shape.count <= 2 {
            warnings.append("\(e.name) \(e.shape) is vocabulary-sized but the seed scheme leaves it unchanged (as the reference converter does)")
        }

        progress("writing \(output)")
        let out = try AtomicDirectory(path: output, replace: options.replace)
        let adaptedEntry = TensorEntry(name: embedding.name, dtype: outDType, shape: embedding.shape)
        var weightFiles: [String] = []
        try archive.withBytes(of: embedding.name) { source in
            let transform = EmbeddingTransform(source: source, dtype: embedding.dtype, rows: vocab.count, hidden: hidden,
                                               passes: passes, mapping: mapping)
            let items = entries.map { e -> SafeTensorsWriter.Item in
                guard e.name == embedding.name else { return .copy(e, from: archive) }
                return SafeTensorsWriter.Item(entry: adaptedEntry) { sink in
                    let chunkRows = 2048
                    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkRows * hidden * outDType.byteWidth!, alignment: 64)
                    defer { buffer.deallocate() }
                    for lo in stride(from: 0, to: vocab.count, by: chunkRows) {
                        let range = lo..<min(lo + chunkRows, vocab.count)
                        transform.produce(rows: range, as: outDType, into: buffer)
                        try sink(UnsafeRawBufferPointer(rebasing: buffer[0..<(range.count * hidden * outDType.byteWidth!)]))
                    }
                    archive.releaseBytes(of: embedding.name)
                }
            }
            let metadata = (archive as? SafeTensorsFile)?.metadata ?? [("format", "pt")]
            let inputShardBytes = (opened as? ShardedArchive).map { sharded in
                sharded.shards.map { $0.entries.reduce(0) { $0 + $1.byteCount } }.max() ?? 0
            }
            if let maxShard = options.maxShardBytes ?? inputShardBytes {
                weightFiles = try ShardedWriter.write(items, ties: ties, format: options.format, metadata: metadata,
                                                      maxShardBytes: maxShard, directory: out.temporaryPath)
            } else if options.format == .pytorch {
                try out.write(WeightsFormat.pytorch.fileName) { try TorchWriter.stream(items, ties: ties, recordPrefix: "pytorch_model", to: $0) }
                weightFiles = [WeightsFormat.pytorch.fileName]
            } else {
                try out.write(WeightsFormat.safetensors.fileName) { try SafeTensorsWriter.stream(items, metadata: metadata, to: $0) }
                weightFiles = [WeightsFormat.safetensors.fileName]
            }
        }

        progress("writing vocabulary and tokenizer files")
        if byteLevel {
            // vocab.json of digests; no merges.txt (it would list the plaintext vocabulary).
            try out.write("vocab.json", text: SourceVocabulary.vocabJSON(adaptedTokens))
            let config = dir.has("tokenizer_config.json") ? try ModelDirectory.readJSON(dir.file("tokenizer_config.json")) : nil
            try out.write("tokenizer_config.json", text: SourceVocabulary.adaptedTokenizerConfig(config))
        } else {
            try out.write("vocab.txt", text: adaptedTokens.joined(separator: "\n"))
        }
        if let text = try tokenizerText.wait() { try out.write("tokenizer.json", text: text) }
        for name in ["config.json", "tokenizer_config.json", "special_tokens_map.json"] where dir.has(name) && !(byteLevel && name == "tokenizer_config.json") {
            let f = try MappedFile(path: dir.file(name))
            try withExtendedLifetime(f) { try out.write(name) { try $0.write(f.bytes) } }
        }
        progress("waiting for source digests")
        let sourceDigests = try digests.wait()
        let manifest = JSONValue.object([
            ("scheme", .string("seed")),
            ("scheme_version", .int(Int64(SeedScheme.version))),
            ("vocabulary", .string(source.family.rawValue)),
            ("shuffle", .bool(options.shuffle)),
            ("glide_steps", .int(Int64(options.glideSteps))),
            ("embedding_dtype", .string(outDType.rawValue)),
            ("digest", .object([("algorithm", .string("blake2b")), ("digest_size", .int(16)), ("encoding", .string("hex"))])),
            ("kdf", .null),
            ("source", .object([("files", .object(sourceDigests.map { name, sha, size in
                (name, .object([("sha256", .string(sha)), ("bytes", .int(Int64(size)))]))
            }))])),
            ("tool", .object([("name", .string("sentinel")), ("version", .string(sentinelVersion))])),
        ])
        try out.write("sentinel.json", text: manifest.serialized(.pretty) + "\n")
        progress("committing \(output)")
        try out.commit()
        return ConversionReport(output: output, scheme: "seed", vocabSize: vocab.count, changedTensors: [embedding.name],
                                embeddingDType: outDType, ignoredFiles: dir.unknownFileNames, warnings: warnings,
                                renamedTensors: renamed, weightFiles: weightFiles, seconds: monotonicSeconds() - start)
    }

    /// Digests every non-special token (specials keep their text), using both cores.
    public static func hashVocabulary(_ tokens: [String], special: Set<Int>, hasher: TokenHasher) -> [String] {
        var out = [String](repeating: "", count: tokens.count)
        out.withUnsafeMutableBufferPointer { buf in
            let base = buf.baseAddress!
            DispatchQueue.concurrentPerform(iterations: 2) { w in
                for i in stride(from: w, to: tokens.count, by: 2) {
                    (base + i).pointee = special.contains(i) ? tokens[i] : hasher.hexDigest(tokens[i])
                }
            }
        }
        return out
    }

    /// The adapted tokenizer.json of a byte-level BPE model (``SourceVocabulary/adaptedTokenizerJSON(original:tokens:specials:unknown:cls:sep:)``),
    /// after checking that the input's tokenizer.json, when present, has the vocabulary of vocab.json.
    static func adaptedByteLevelTokenizer(_ dir: ModelDirectory, vocab: Vocabulary, adaptedTokens: [String],
                                          specialTokens: [String]) throws -> String {
        let original = dir.has("tokenizer.json") ? try ModelDirectory.readJSON(dir.file("tokenizer.json")) : nil
        if let original { try checkTokenizerVocab(original, matches: vocab, path: dir.file("tokenizer.json")) }
        let config = dir.has("tokenizer_config.json") ? try ModelDirectory.readJSON(dir.file("tokenizer_config.json")) : nil
        func token(_ key: String, _ fallback: String) -> String {
            config?[key]?.stringValue ?? config?[key]?["content"]?.stringValue ?? fallback
        }
        let specials = specialTokens.compactMap { t in vocab.ids[t].map { (t, $0) } }
        return SourceVocabulary.adaptedTokenizerJSON(original: original, tokens: adaptedTokens, specials: specials,
                                                     unknown: token("unk_token", "<unk>"), cls: token("cls_token", "<s>"),
                                                     sep: token("sep_token", "</s>"))
    }

    /// `tokenizer.json`'s `model.vocab`, when present, must agree with `vocab.txt` (or vocab.json).
    static func checkTokenizerVocab(_ tokenizer: JSONValue, matches vocab: Vocabulary, path: String) throws {
        guard let map = tokenizer["model"]?["vocab"]?.objectValue else { return }
        guard map.count == vocab.ids.count else {
            throw InputError(.invalidStructure, file: path, key: "model.vocab",
                             "has \(map.count) tokens but vocab.txt has \(vocab.ids.count) distinct tokens")
        }
        for (token, id) in map where vocab.ids[token] != id.intValue {
            throw InputError(.invalidStructure, file: path, key: "model.vocab",
                             "token id \(id.intValue.map(String.init) ?? "?") disagrees with vocab.txt (\(vocab.ids[token].map(String.init) ?? "absent"))")
        }
    }
}

/// A computation started on a background thread; ``wait()`` returns its result or rethrows its error.
final class BackgroundTask<T>: @unchecked Sendable {
    private var result: Result<T, Error>?
    private let group = DispatchGroup()

    init(_ body: @escaping () throws -> T) {
        group.enter()
        DispatchQueue.global().async { [self] in
            result = Result(catching: body)
            group.leave()
        }
    }

    func wait() throws -> T {
        group.wait()
        return try result!.get()
    }
}
