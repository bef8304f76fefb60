import Dispatch
import SentinelCore
import SentinelTokenizer
import SentinelFormats
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

    public init(
        shuffle: Bool = false, glideSteps: Int = 2, embeddingDType: EmbeddingDType = .keep, replace: Bool = false,
        format: WeightsFormat = .safetensors, maxShardBytes: Int? = nil
    ) {
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
    /// The `sentinel.json` written (scheme parameters; never the key).
    public var manifest: JSONValue = .null
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
    public static func convert(
        model: String, output: String, passkey: String, options: ConversionOptions,
        progress: (String) -> Void = { _ in }
    ) throws -> ConversionReport {
        var report = try convert(
            model: model, output: output, options: options, steps: seedSteps(passkey: passkey, options: options), progress: progress)
        if !options.shuffle { report.warnings.insert(SeedScheme.unshuffledWarning, at: 0) }
        return report
    }

    /// The conversion pipeline shared by every scheme; `steps` holds what the scheme decides.
    static func convert(
        model: String, output: String, options: ConversionOptions, steps: SchemeSteps,
        progress: (String) -> Void
    ) throws -> ConversionReport {
        let start = monotonicSeconds()
        let dir = try ModelDirectory(path: model)
        // An adapted model converted again would hash digests into digests of digests: no client could encrypt for it.
        if dir.has("sentinel.json") {
            throw InputError(
                .invalidStructure, file: dir.file("sentinel.json"),
                "the input is already an adapted model (it has a sentinel.json): convert the original model instead")
        }
        let hasher = try steps.hasher()

        // Source digests for sentinel.json, on the second core while the rest runs.
        let sourceFiles =
            ([dir.weightsFileName] + dir.shardFileNames + [
                "config.json", "vocab.txt", "vocab.json", "merges.txt",
                "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
            ] + UnigramTokenizer.modelFileNames).filter(dir.has)
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
        // vocab.txt (WordPiece; tokenizer.json's model.vocab when a transformers 5 directory has no vocab.txt),
        // vocab.json (byte-level BPE) or the unigram pieces (XLM-R); the scheme is the same for all three.
        let source = try SourceVocabulary(directory: dir)
        let (vocab, vocabFile) = (source.vocabulary, source.path)
        let byteLevel = source.family == .byteLevelBPE
        if source.family == .wordPiece { try vocab.checkForAdaptation(path: vocabFile) }
        let specialTokens = try SpecialTokensMap.read(directory: dir.path).all
        let specialIDs = Set(specialTokens.compactMap { vocab.id(of: $0).map(Int.init) })
        guard !specialIDs.isEmpty else {
            throw InputError(
                .invalidStructure, file: vocabFile,
                "none of the special tokens (\(specialTokens.joined(separator: " "))) is in the vocabulary")
        }
        let config = try dir.config()
        var warnings: [String] = []
        if let type = config["model_type"]?.stringValue, !["bert", "roberta", "distilbert", "electra", "xlm-roberta"].contains(type) {
            warnings.append("config.json model_type is '\(type)'; the \(steps.name) scheme is defined for BERT-style models")
        }
        if !dir.has("tokenizer.json") && source.family == .wordPiece {
            warnings.append("the input has no tokenizer.json, so none is written (vocab.txt carries the adapted vocabulary)")
        }

        progress("hashing \(vocab.count) tokens")
        let mapping = steps.mapping(vocab.count, specialIDs)
        let adaptedTokens: [String]
        // A unigram vocabulary: pieces checked (none empty or repeated), hashed and renumbered with its tokenizer files.
        let unigram = try source.unigram.map { t in
            try UnigramVocabularyAdaptation.adapt(
                UnigramVocabularyAdaptation.Source(tokenizer: t, specialTokens: specialTokens), hasher: hasher, mapping: mapping,
                file: vocabFile)
        }
        if let unigram {
            adaptedTokens = unigram.tokens
        } else {
            let hashed = hasher.hexDigests(of: vocab.tokens, keeping: specialIDs)
            var adaptedTokensByID = [String](repeating: "", count: vocab.count)
            for (old, new) in mapping.enumerated() { adaptedTokensByID[new] = hashed[old] }
            adaptedTokens = adaptedTokensByID
        }
        // tokenizer.json (about 1.5 MB of JSON) is rewritten on the other core while the weights are written.
        let tokenizerText = BackgroundTask { [adaptedTokens] () -> String? in
            if let unigram { return unigram.tokenizerJSON.serialized(.pretty) + "\n" }
            if byteLevel { return try adaptedByteLevelTokenizer(dir, vocab: vocab, adaptedTokens: adaptedTokens, specialTokens: specialTokens) }
            guard dir.has("tokenizer.json") else { return nil }
            let original = try JSONValue.read(file: dir.file("tokenizer.json"))
            try vocab.checkAgrees(withTokenizerJSON: original, path: dir.file("tokenizer.json"))
            let adaptedVocab = JSONValue.object(adaptedTokens.enumerated().map { ($0.element, .int(Int64($0.offset))) })
            let model = (original["model"] ?? .object([])).setting("vocab", to: adaptedVocab)
            return original.setting("model", to: model).serialized(.pretty)
        }
        defer { _ = try? tokenizerText.wait() }

        progress("opening weights \(dir.weightsFileName)")
        let opened = try openTensorArchive(path: dir.weightsPath)
        let (_, renamed) = try renameLegacyLayerNormKeys(opened.entries.map(\.name), file: opened.path)
        let archive: TensorArchive = renamed.isEmpty ? opened : RenamedArchive(opened, renames: renamed)
        let ties = (opened as? TorchCheckpoint)?.ties ?? [:]
        let entries = archive.entries
        // A name no writer can store is refused now, before the output directory exists.
        try SafeTensorsWriter.checkNames(entries, file: archive.path)
        let embedding = archive.entry(named: try wordEmbeddingsName(in: entries.map(\.name), file: archive.path))!
        guard embedding.shape.count == 2, embedding.shape[0] == vocab.count,
            EmbeddingTransform.supportedDTypes.contains(embedding.dtype)
        else {
            throw InputError(
                .invalidStructure, file: archive.path, key: embedding.name,
                "expected [\(vocab.count), hidden] of F16, BF16, F32 or F64 (\(vocabFile) has \(vocab.count) tokens); found \(embedding.dtype) \(embedding.shape)"
            )
        }
        let hidden = embedding.shape[1]
        let outDType: DType =
            switch options.embeddingDType {
            case .keep: embedding.dtype
            case .F32: .F32
            case .F64: .F64
            }
        if let declared = config["vocab_size"]?.intValue, declared != embedding.shape[0] {
            throw InputError(
                .invalidStructure, file: dir.file("config.json"), key: "vocab_size",
                "says \(declared) but \(embedding.name) has \(embedding.shape[0]) rows")
        }
        // A masked-LM head's decoder and biases move with the ids; a decoder tied to the embeddings stays tied.
        let changes = VocabularyRows.changes(of: entries, embeddingName: embedding.name, vocabSize: vocab.count, ties: ties)
        for e in entries where changes[e.name] == .unchanged && e.shape.first == vocab.count && e.shape.count <= 2 {
            warnings.append(
                "\(e.name) \(e.shape) is vocabulary-sized but the \(steps.name) scheme leaves it unchanged (as the reference converter does)")
        }

        progress("writing \(output)")
        let out = try AtomicDirectory(path: output, replace: options.replace)
        // With a tied decoder the adapted matrix may be produced twice (safetensors keeps both names): keep the source.
        let releaseEmbedding = changes.values.filter { $0 == .embedding }.count == 1
        var weightFiles: [String] = []
        try archive.withBytes(of: embedding.name) { source in
            let transform = steps.transform(source, embedding.dtype, vocab.count, hidden, mapping, specialIDs, config)
            let items = entries.map { e -> SafeTensorsWriter.Item in
                switch changes[e.name] ?? .unchanged {
                case .unchanged: return .copy(e, from: archive)
                case .permuteRows:
                    return SafeTensorsWriter.Item(entry: e) { sink in
                        try archive.withBytes(of: e.name) {
                            try VocabularyRows.permutedRows($0, rowBytes: e.byteCount / vocab.count, mapping: mapping, to: sink)
                        }
                        archive.releaseBytes(of: e.name)
                    }
                case .embedding: break
                }
                return SafeTensorsWriter.Item(entry: TensorEntry(name: e.name, dtype: outDType, shape: embedding.shape)) { sink in
                    let chunkRows = 2048
                    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkRows * hidden * outDType.byteWidth!, alignment: 64)
                    defer { buffer.deallocate() }
                    for lo in stride(from: 0, to: vocab.count, by: chunkRows) {
                        let range = lo..<min(lo + chunkRows, vocab.count)
                        transform.produce(rows: range, as: outDType, into: buffer)
                        try sink(UnsafeRawBufferPointer(rebasing: buffer[0..<(range.count * hidden * outDType.byteWidth!)]))
                    }
                    if releaseEmbedding { archive.releaseBytes(of: embedding.name) }
                }
            }
            let metadata = (archive as? SafeTensorsFile)?.metadata ?? [("format", "pt")]
            let inputShardBytes = (opened as? ShardedArchive).map { sharded in
                sharded.shards.map { $0.entries.reduce(0) { $0 + $1.byteCount } }.max() ?? 0
            }
            if let maxShard = options.maxShardBytes ?? inputShardBytes {
                weightFiles = try ShardedWriter.write(
                    items, ties: ties, format: options.format, metadata: metadata,
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
        if byteLevel || unigram != nil {
            // vocab.json of digests; no merges.txt or SentencePiece .model (they would list the plaintext vocabulary).
            try out.write("vocab.json", text: SourceVocabulary.vocabJSON(adaptedTokens))
            let config = dir.has("tokenizer_config.json") ? try JSONValue.read(file: dir.file("tokenizer_config.json")) : nil
            let adaptedConfig = unigram.map { $0.tokenizerConfig(original: config).serialized(.pretty) + "\n" }
            try out.write("tokenizer_config.json", text: adaptedConfig ?? SourceVocabulary.adaptedTokenizerConfig(config))
        } else {
            try out.write("vocab.txt", text: adaptedTokens.joined(separator: "\n"))
        }
        if let text = try tokenizerText.wait() { try out.write("tokenizer.json", text: text) }
        for name in ["config.json", "tokenizer_config.json", "special_tokens_map.json"]
        where dir.has(name) && !((byteLevel || unigram != nil) && name == "tokenizer_config.json") {
            let f = try MappedFile(path: dir.file(name))
            try withExtendedLifetime(f) { try out.write(name) { try $0.write(f.bytes) } }
        }
        progress("waiting for source digests")
        let sourceDigests = try digests.wait()
        let manifest = JSONValue.object(
            steps.manifest(outDType) + [
                ("vocabulary", .string(source.family.rawValue)),
                (
                    "source",
                    .object([
                        (
                            "files",
                            .object(
                                sourceDigests.map { name, sha, size in
                                    (name, .object([("sha256", .string(sha)), ("bytes", .int(Int64(size)))]))
                                })
                        )
                    ])
                ),
                ("tool", .object([("name", .string("sentinel")), ("version", .string(sentinelVersion))])),
            ])
        try out.write("sentinel.json", text: manifest.serialized(.pretty) + "\n")
        progress("committing \(output)")
        try out.commit()
        return ConversionReport(
            output: output, scheme: steps.name, vocabSize: vocab.count,
            changedTensors: entries.map(\.name).filter { changes[$0] != .unchanged },
            embeddingDType: outDType, ignoredFiles: dir.unknownFileNames, warnings: warnings,
            renamedTensors: renamed, weightFiles: weightFiles, seconds: monotonicSeconds() - start,
            manifest: manifest)
    }

    /// The adapted tokenizer.json of a byte-level BPE model (``SourceVocabulary/adaptedTokenizerJSON(original:tokens:specials:unknown:cls:sep:)``),
    /// after checking that the input's tokenizer.json, when present, has the vocabulary of vocab.json.
    static func adaptedByteLevelTokenizer(
        _ dir: ModelDirectory, vocab: WordPieceVocabulary, adaptedTokens: [String],
        specialTokens: [String]
    ) throws -> String {
        let original = dir.has("tokenizer.json") ? try JSONValue.read(file: dir.file("tokenizer.json")) : nil
        if let original { try vocab.checkAgrees(withTokenizerJSON: original, path: dir.file("tokenizer.json")) }
        let map = try SpecialTokensMap.read(directory: dir.path)
        let specials = specialTokens.compactMap { t in vocab.id(of: t).map { (t, Int($0)) } }
        return SourceVocabulary.adaptedTokenizerJSON(
            original: original, tokens: adaptedTokens, specials: specials,
            unknown: map["unk_token"] ?? "<unk>", cls: map["cls_token"] ?? "<s>",
            sep: map["sep_token"] ?? "</s>")
    }

}

/// A computation started on a background thread; ``wait()`` returns its result or rethrows its error.
final class BackgroundTask<T>: @unchecked Sendable {
    private var result: Result<T, Error>?
    private let group = DispatchGroup()

    /// - Parameter body: runs on another thread; it must not share mutable state with the caller until ``wait()``.
    init(_ body: @escaping () throws -> T) {
        group.enter()
        let work = UncheckedSendable(body)
        DispatchQueue.global().async { [self] in
            result = Result(catching: work.value)
            group.leave()
        }
    }

    func wait() throws -> T {
        group.wait()
        return try result!.get()
    }
}
