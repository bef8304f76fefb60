import SentinelScheme
import SentinelCore
import SentinelEncoder
import SentinelTokenizer
import SentinelFormats

/// One check of ``AdaptedModelVerifier``: its name, verdict, a sentence saying why, and measured values.
public struct VerificationCheck: Sendable {
    public var name: String
    public var passed: Bool
    public var detail: String
    /// Measured figures (counts, max |Δ|), for the JSON report.
    public var values: [(String, JSONValue)]

    public var json: JSONValue {
        .object([("name", .string(name)), ("passed", .bool(passed)), ("detail", .string(detail))] + values)
    }
}

/// The outcome of ``AdaptedModelVerifier/verify(adapted:original:passkey:sentences:tolerance:)``.
public struct VerificationReport: Sendable {
    public var checks: [VerificationCheck]
    public var passed: Bool { checks.allSatisfy(\.passed) }
}

/// Checks that an adapted model is what the seed scheme promises for the original and the key
/// (`../shared/docs/SCHEME.md`; `sentinel verify`):
/// 0. `source`: the original is the model converted (``SourceModelCheck``);
/// 1. `vocabulary`: every original token's keyed digest is in the adapted `vocab.txt` exactly once, the
///    specials stay in place, and the id mapping is the scheme's for this key (`sentinel.json` says whether
///    ids were shuffled);
/// 2. `tensors`: every tensor but `embeddings.word_embeddings.weight` is byte-identical to the original's;
/// 3. `embeddings`: each adapted embedding row equals the glide transform of its source row;
/// 4. `forward`: the adapted encoder on encrypted input matches the original on plain input
///    (max |Δ last_hidden_state| and |Δ pooler_output| within `tolerance`, float32).
public enum AdaptedModelVerifier {
    /// Real English sentences used when the caller gives none.
    public static let defaultSentences = [
        "The quick brown fox jumps over the lazy dog.",
        "Encrypted inputs should not change what the model computes.",
        "She sold her bicycle in Amsterdam for 120 euros last Tuesday.",
        "Researchers at the University of Cambridge published the results in Nature.",
        "Can you recommend a good Italian restaurant near the station?",
        "The stock market fell sharply after the central bank raised interest rates.",
        "Marie Curie won two Nobel Prizes, in physics and in chemistry.",
        "I haven't seen a film this moving since 1994 — truly unforgettable!",
    ]

    /// Runs every check. Checks after a failed one still run where they can.
    /// - Parameters:
    ///   - adapted: the adapted model directory (with `sentinel.json`).
    ///   - original: the model it was converted from.
    ///   - passkey: the key it was converted with (never reported).
    ///   - sentences: text to run both encoders on.
    ///   - tolerance: largest accepted max |Δ| of `last_hidden_state` and `pooler_output` (float32).
    /// - Throws: ``InputError``/``OutputError`` when a directory cannot be read at all; a mismatch is a
    ///   failed check, not an error.
    public static func verify(
        adapted: String, original: String, passkey: String, sentences: [String] = defaultSentences,
        tolerance: Float = 1e-4, progress: (String) -> Void = { _ in }
    ) throws -> VerificationReport {
        var checks: [VerificationCheck] = []
        let adaptedDir = try ModelDirectory(path: adapted), originalDir = try ModelDirectory(path: original)

        // The original is the model converted (sentinel.json's source digests, else config.json's shape).
        progress("checking that the original is the source model")
        let source = try SourceModelCheck.check(adapted: adaptedDir, original: originalDir)

        // sentinel.json: which scheme and options.
        var shuffle = true, glideSteps = 2
        if adaptedDir.has("sentinel.json") {
            let path = adaptedDir.file("sentinel.json")
            let manifest = try JSONValue.read(file: path)
            if manifest["scheme"]?.stringValue == HardenedScheme.name {
                var report = try verifyHardened(
                    adaptedDir: adaptedDir, originalDir: originalDir, manifest: HardenedManifest(json: manifest, path: path),
                    passkey: passkey, sentences: sentences, tolerance: tolerance, progress: progress)
                report.checks.insert(source, at: min(1, report.checks.count))
                return report
            }
            guard let s = manifest["shuffle"]?.boolValue else {
                throw InputError(.invalidStructure, file: path, key: "shuffle", "must be true or false")
            }
            guard let g = manifest["glide_steps"]?.intValue, (0...SeedScheme.maxGlideSteps).contains(g) else {
                throw InputError(.invalidStructure, file: path, key: "glide_steps", "must be an integer from 0 to \(SeedScheme.maxGlideSteps)")
            }
            shuffle = s
            glideSteps = g
            let scheme = manifest["scheme"]?.stringValue ?? "?"
            checks.append(
                VerificationCheck(
                    name: "manifest", passed: scheme == "seed",
                    detail: scheme == "seed"
                        ? "scheme seed, shuffle \(shuffle), \(glideSteps) glide passes"
                        : "scheme '\(scheme)' is not one this verifier knows",
                    values: [("scheme", .string(scheme)), ("shuffle", .bool(shuffle)), ("glide_steps", .int(Int64(glideSteps)))]))
        } else {
            checks.append(
                VerificationCheck(
                    name: "manifest", passed: false,
                    detail: "the adapted directory has no sentinel.json (checked as seed, shuffled, 2 glide passes)", values: []))
        }

        checks.append(source)

        // 1. Vocabulary.
        progress("checking the vocabulary")
        let hasher = try TokenHasher(passkey: passkey)
        let (vocabularyCheck, expected, _) = try vocabularyCheck(
            originalDir: originalDir, adaptedDir: adaptedDir, hasher: hasher, mappingName: "the seed scheme's mapping",
            matchedName: "the seed scheme's (\(shuffle ? "shuffled" : "identity"))"
        ) { SeedScheme.mapping(vocabSize: $0, specialIDs: $1, seed: SeedScheme.seed(forKey: passkey), shuffle: shuffle) }
        checks.append(vocabularyCheck)

        // 2. Unchanged tensors.
        progress("comparing tensors")
        let originalWeights = try openTensorArchive(path: originalDir.weightsPath)
        let adaptedWeights = try openTensorArchive(path: adaptedDir.weightsPath)
        try checkRecordChecksums(originalWeights)
        try checkRecordChecksums(adaptedWeights)
        // `embeddings.word_embeddings.weight`, or `bert.embeddings.word_embeddings.weight` of a task model.
        let embeddingName = try SeedConverter.wordEmbeddingsName(in: originalWeights.entries.map(\.name), file: originalWeights.path)
        checks.append(try tensorsCheck(original: originalWeights, adapted: adaptedWeights, embeddingName: embeddingName, mapping: expected))

        // 3. Embedding rows.
        progress("checking embedding rows")
        checks.append(
            try embeddingCheck(
                original: originalWeights, adapted: adaptedWeights, name: embeddingName,
                mapping: expected, passkey: passkey, glideSteps: glideSteps))

        // 4. Forward pass on encrypted vs plain input.
        progress("running both encoders on \(sentences.count) sentences")
        checks += try forwardChecks(
            originalDir: originalDir, adaptedDir: adaptedDir, originalWeights: originalWeights,
            adaptedWeights: adaptedWeights, hasher: hasher, sentences: sentences, tolerance: tolerance)
        return VerificationReport(checks: checks)
    }

    /// Every original token's digest (by `hasher`) in the adapted `vocab.txt` exactly once, specials in place, and the
    /// id mapping equal to `mapping(vocabSize, specialIDs)`. Returns the check, the expected mapping and the special ids.
    static func vocabularyCheck(
        originalDir: ModelDirectory, adaptedDir: ModelDirectory, hasher: TokenHasher, mappingName: String,
        matchedName: String, mapping: (Int, Set<Int>) -> [Int]
    ) throws
        -> (VerificationCheck, expected: [Int], specialIDs: Set<Int>)
    {
        // vocab.txt (or tokenizer.json's model.vocab when a directory has no vocab.txt, transformers 5), or vocab.json
        // of a byte-level BPE model (``SourceVocabulary``).
        let originalVocab = try SourceVocabulary(directory: originalDir).vocabulary
        let adaptedVocab = try SourceVocabulary(directory: adaptedDir).vocabulary
        let specialIDs = Set(try SpecialTokensMap.read(directory: originalDir.path).all.compactMap { originalVocab.id(of: $0).map(Int.init) })
        let hashed = hasher.hexDigests(of: originalVocab.tokens, keeping: specialIDs)
        let found = hashed.map { adaptedVocab.id(of: $0).map(Int.init) ?? -1 }
        let missing = found.filter { $0 < 0 }.count
        let distinct = Set(found.filter { $0 >= 0 }).count
        let expected = mapping(originalVocab.count, specialIDs)
        let mappingMatches = missing == 0 && found == expected
        let bijection = missing == 0 && distinct == originalVocab.count && adaptedVocab.count == originalVocab.count
        let hashedCount = originalVocab.count - specialIDs.count
        let hashedFound = found.enumerated().filter { !specialIDs.contains($0.offset) && $0.element >= 0 }.count
        let vocabDetail: String
        if !KeyCheck.keyMatches(hashed: hashedCount, hashedFound: hashedFound) {
            vocabDetail = "\(hashedFound) of the \(hashedCount) hashed tokens are in the adapted vocabulary: the key does not match this model"
        } else if !bijection {
            vocabDetail =
                "\(missing) original tokens have no digest in the adapted vocabulary (\(distinct) of \(originalVocab.count) distinct ids found)"
        } else if !mappingMatches {
            let wrong = zip(found, expected).filter { $0 != $1 }.count
            vocabDetail = "the vocabulary is a bijection but \(wrong) ids differ from \(mappingName) for this key"
        } else {
            vocabDetail = "all \(originalVocab.count) tokens found once; mapping is \(matchedName)"
        }
        let check = VerificationCheck(
            name: "vocabulary", passed: bijection && mappingMatches, detail: vocabDetail,
            values: [
                ("tokens", .int(Int64(originalVocab.count))), ("hashed_tokens_found", .int(Int64(hashedFound))),
                ("missing", .int(Int64(missing))), ("bijection", .bool(bijection)), ("mapping_matches_scheme", .bool(mappingMatches)),
            ])
        return (check, expected, specialIDs)
    }

    /// Every tensor but the word embeddings byte-identical to the original's (same names, dtypes, shapes, bytes),
    /// except a masked-LM head, which moves with the ids (``VocabularyRows``): a decoder tied to the embeddings
    /// equals the adapted embeddings, the biases (and an untied decoder) are the original rows in adapted order.
    static func tensorsCheck(original: TensorArchive, adapted: TensorArchive, embeddingName: String, mapping: [Int]) throws -> VerificationCheck {
        var differing: [String] = []
        var identical = 0, moved = 0
        let adaptedNames = Set(adapted.entries.map(\.name))
        let missingTensors = original.entries.map(\.name).filter { !adaptedNames.contains($0) }
        let extraTensors = adapted.entries.map(\.name).filter { original.entry(named: $0) == nil }
        // A masked-LM head moves with the ids (``VocabularyRows``): a decoder tied to the embeddings must equal the
        // adapted embeddings, the biases (and an untied decoder) the original rows in adapted order.
        let changes = VocabularyRows.changes(
            of: original.entries, embeddingName: embeddingName, vocabSize: mapping.count,
            ties: (original as? TorchCheckpoint)?.ties ?? [:])
        for e in original.entries where e.name != embeddingName && adaptedNames.contains(e.name) {
            let a = adapted.entry(named: e.name)!
            let same: Bool
            switch changes[e.name] ?? .unchanged {
            case .embedding:
                let adaptedEmbedding = adapted.entry(named: embeddingName)
                same =
                    try a.dtype == adaptedEmbedding?.dtype && a.shape == adaptedEmbedding?.shape
                    && adapted.withBytes(of: e.name) { x in
                        try adapted.withBytes(of: embeddingName) { y in x.elementsEqual(y) }
                    }
            case .permuteRows:
                same =
                    try a.dtype == e.dtype && a.shape == e.shape
                    && original.withBytes(of: e.name) { x in
                        try adapted.withBytes(of: e.name) { y in
                            let row = x.count / max(1, mapping.count)
                            return x.count == y.count && mapping.count * row == x.count
                                && mapping.enumerated().allSatisfy { old, new in
                                    memcmp(x.baseAddress! + old * row, y.baseAddress! + new * row, row) == 0
                                }
                        }
                    }
            case .unchanged:
                same =
                    try a.dtype == e.dtype && a.shape == e.shape
                    && original.withBytes(of: e.name) { x in
                        try adapted.withBytes(of: e.name) { y in
                            x.count == y.count && (x.count == 0 || memcmp(x.baseAddress!, y.baseAddress!, x.count) == 0)
                        }
                    }
            }
            if !same { differing.append(e.name) } else if changes[e.name] == .unchanged { identical += 1 } else { moved += 1 }
            original.releaseBytes(of: e.name)
            adapted.releaseBytes(of: e.name)
        }
        let tensorsOK = differing.isEmpty && missingTensors.isEmpty && extraTensors.isEmpty
        return VerificationCheck(
            name: "tensors", passed: tensorsOK,
            detail: tensorsOK
                ? "\(identical) tensors byte-identical to the original" + (moved > 0 ? ", \(moved) masked-LM tensors moved with the ids" : "")
                : "changed: \(differing.prefix(5).joined(separator: ", "))\(differing.count > 5 ? "…" : ""); missing: \(missingTensors.prefix(5)); extra: \(extraTensors.prefix(5))",
            values: [
                ("identical", .int(Int64(identical))), ("moved_with_ids", .int(Int64(moved))), ("changed", .array(differing.map { .string($0) })),
                ("missing", .array(missingTensors.map { .string($0) })), ("extra", .array(extraTensors.map { .string($0) })),
            ])
    }

    static func embeddingCheck(
        original: TensorArchive, adapted: TensorArchive, name: String, mapping: [Int],
        passkey: String, glideSteps: Int
    ) throws -> VerificationCheck {
        var global = PythonRandom(seed: SeedScheme.seed(forKey: passkey))
        let passes = SeedScheme.glidePasses(glideSteps, generator: &global)
        return try embeddingCheck(original: original, adapted: adapted, name: name, mapping: mapping, transformName: "glide transform") {
            EmbeddingTransform(source: $0, dtype: $1, rows: $2, hidden: $3, passes: passes, mapping: mapping)
        }
    }

    /// Recomputes every adapted embedding row with `producer` (`(source bytes, dtype, rows, hidden)`) in the adapted
    /// dtype and compares it with the stored row.
    static func embeddingCheck(
        original: TensorArchive, adapted: TensorArchive, name: String, mapping: [Int], transformName: String,
        producer: (UnsafeRawBufferPointer, DType, Int, Int) -> any EmbeddingRowProducer
    ) throws -> VerificationCheck {
        guard let o = original.entry(named: name), let a = adapted.entry(named: name), o.shape == a.shape, o.shape.count == 2,
            o.shape[0] == mapping.count, EmbeddingTransform.supportedDTypes.contains(o.dtype),
            EmbeddingTransform.supportedDTypes.contains(a.dtype)
        else {
            return VerificationCheck(name: "embeddings", passed: false, detail: "\(name) is missing or its shape or dtype differs", values: [])
        }
        let rows = o.shape[0], hidden = o.shape[1]
        // Compare in float64: recompute each row in the adapted dtype, then measure |Δ|.
        let (maxDiff, rowsDiffering) = try original.withBytes(of: name) { src -> (Double, Int) in
            try adapted.withBytes(of: name) { stored -> (Double, Int) in
                let transform = producer(src, o.dtype, rows, hidden)
                let width = a.dtype.byteWidth!
                let chunk = 1024
                let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunk * hidden * width, alignment: 64)
                defer { buffer.deallocate() }
                var maxDiff = 0.0, differing = 0
                for lo in stride(from: 0, to: rows, by: chunk) {
                    let range = lo..<min(lo + chunk, rows)
                    transform.produce(rows: range, as: a.dtype, into: buffer)
                    for r in range {
                        var rowMax = 0.0
                        for i in 0..<hidden {
                            let x = element(UnsafeRawBufferPointer(buffer), (r - lo) * hidden + i, a.dtype)
                            let y = element(stored, r * hidden + i, a.dtype)
                            let d = abs(x - y)
                            if !(d <= rowMax) { rowMax = d.isNaN ? .infinity : d }
                        }
                        if rowMax > 0 { differing += 1 }
                        maxDiff = max(maxDiff, rowMax)
                    }
                }
                return (maxDiff, differing)
            }
        }
        let limit: Double =
            switch a.dtype {
            case .F64: 1e-12
            case .F32: 1e-6
            default: 1e-2
            }
        let ok = maxDiff <= limit
        return VerificationCheck(
            name: "embeddings", passed: ok,
            detail: ok
                ? "every adapted row is the \(transformName) of its source row (max |Δ| \(maxDiff))"
                : "\(rowsDiffering) rows differ from the \(transformName) of their source row (max |Δ| \(maxDiff))",
            values: [
                ("max_abs_diff", .double(maxDiff, text: nil)), ("rows_differing", .int(Int64(rowsDiffering))),
                ("dtype", .string(a.dtype.rawValue)),
            ])
    }

    @inline(__always)
    static func element(_ b: UnsafeRawBufferPointer, _ i: Int, _ dtype: DType) -> Double {
        FloatCoding.double(b, i, dtype)
    }

    /// The classifier of a task model, for the `logits` check; nil for a base model.
    struct TaskHead {
        /// `"token"` or `"sequence"` classification.
        var kind: String
        var labelCount: Int
        /// Whether the logits read `pooler_output` (BERT's sequence classifier), which both models then need.
        var pooled: Bool
        /// Logits `[rows, labels]` flattened, from the encoder's output.
        var logits: (BertOutput) -> [Float]
    }

    /// The task head of `weights`, from config.json's `architectures` and the tensors present:
    /// * `classifier.dense.*` + `classifier.out_proj.*` (`RobertaForSequenceClassification`, also XLM-R):
    ///   ``RobertaClassificationHead`` on the `<s>` position of `last_hidden_state`;
    /// * `classifier.weight` `[labels, hidden]`, `classifier.bias`: `BertForSequenceClassification` (on `pooler_output`,
    ///   when `architectures` names a `…ForSequenceClassification`), else a token classifier on every position of
    ///   `last_hidden_state` (`BertForTokenClassification`, `RobertaForTokenClassification`).
    /// - Throws: ``InputError`` for a head with missing or mis-shaped tensors.
    static func taskHead(_ dir: ModelDirectory, _ weights: TensorArchive, hiddenSize: Int) throws -> TaskHead? {
        if RobertaClassificationHead.isPresent(in: weights) {
            let head = try RobertaClassificationHead.load(from: weights, hiddenSize: hiddenSize)
            return TaskHead(kind: "sequence", labelCount: head.labelCount, pooled: false) { head.logits($0.lastHiddenState).values }
        }
        guard weights.entry(named: "classifier.weight") != nil else { return nil }
        let architectures = (try dir.config()["architectures"]?.arrayValue ?? []).compactMap(\.stringValue)
        let head = try ClassificationHead.load(from: weights, hiddenSize: hiddenSize)
        if architectures.contains(where: { $0.hasSuffix("ForSequenceClassification") }) {
            return TaskHead(kind: "sequence", labelCount: head.labelCount, pooled: true) { head.logits($0.poolerOutput!).values }
        }
        return TaskHead(kind: "token", labelCount: head.labelCount, pooled: false) { head.logits($0.lastHiddenState).values }
    }

    /// The `forward` check and, for a task model, the `logits` check: the classifier's logits on the adapted
    /// encoder's outputs for encrypted input against the original's for plain input, within `tolerance`.
    static func forwardChecks(
        originalDir: ModelDirectory, adaptedDir: ModelDirectory, originalWeights: TensorArchive,
        adaptedWeights: TensorArchive, hasher: TokenHasher, sentences: [String], tolerance: Float,
        expectParity: Bool = true
    ) throws -> [VerificationCheck] {
        let originalModel = try BertModel(archive: originalWeights, config: BertConfig.load(path: originalDir.file("config.json")))
        let adaptedModel = try BertModel(archive: adaptedWeights, config: BertConfig.load(path: adaptedDir.file("config.json")))
        let originalHead = try taskHead(originalDir, originalWeights, hiddenSize: originalModel.config.hiddenSize)
        let adaptedHead = try taskHead(adaptedDir, adaptedWeights, hiddenSize: adaptedModel.config.hiddenSize)
        var maxLogits: Float = 0, logitValues = 0, argmaxDiffering = 0
        var headProblem: String? = nil
        if let o = originalHead {
            if adaptedHead == nil {
                headProblem = "the original is a task model but the adapted model has no classifier"
            } else if adaptedHead!.labelCount != o.labelCount || adaptedHead!.kind != o.kind {
                headProblem = "the classifiers differ in kind or label count"
            } else if o.pooled && (originalModel.pooler == nil || adaptedModel.pooler == nil) {
                headProblem = "sequence classification needs the pooler, which a model lacks"
            }
        }
        let tokenizer = try Tokenizers.load(directory: originalDir.path)
        let encryptor = Encryptor(
            tokenizer: tokenizer, hasher: hasher,
            specialTokens: try SpecialTokensMap.read(directory: originalDir.path).all)
        let adaptedVocab = try AdaptedVocabulary(path: adaptedDir.path)
        var maxHidden: Float = 0, maxPooler: Float = 0, plainOnAdapted: Float = 0
        var tokens = 0, unknownPlain = 0, unknownEncrypted = 0
        let limit = min(originalModel.config.maxSequenceLength, adaptedModel.config.maxSequenceLength)
        // Over-long sentences keep their first limit-1 tokens and the final [SEP], on both sides alike.
        func cut(_ ids: [Int]) -> [Int] { ids.count <= limit ? ids : Array(ids.prefix(limit - 1)) + [ids[ids.count - 1]] }
        let originalUnknown = Int(tokenizer.unknownID)
        for text in sentences {
            let plain = cut(tokenizer.encode(text).inputIDs.map(Int.init))
            // One text: `[CLS] A [SEP]` or, for RoBERTa, `<s> A </s>` (AdaptedVocabulary's cls/sep are `<s>`/`</s>` there).
            let encrypted = cut(adaptedVocab.inputIDs(encryptor.encrypt(text: text)).map(Int.init))
            guard plain.count == encrypted.count else {
                return [
                    VerificationCheck(
                        name: "forward", passed: false,
                        detail: "the encrypted and plain sequences of '\(text.prefix(40))' differ in length", values: [])
                ]
            }
            unknownPlain += plain.filter { $0 == originalUnknown }.count
            unknownEncrypted += encrypted.filter { $0 == Int(adaptedVocab.unknownID) }.count
            tokens += plain.count
            let x = try originalModel.forward(inputIDs: [plain])
            let y = try adaptedModel.forward(inputIDs: [encrypted])
            maxHidden = max(maxHidden, maxAbsDiff(x.lastHiddenState.values, y.lastHiddenState.values))
            if let p = x.poolerOutput, let q = y.poolerOutput { maxPooler = max(maxPooler, maxAbsDiff(p.values, q.values)) }
            if headProblem == nil, let o = originalHead, let a = adaptedHead {
                let lx = o.logits(x), ly = a.logits(y), n = o.labelCount
                maxLogits = max(maxLogits, maxAbsDiff(lx, ly))
                logitValues += lx.count
                for r in 0..<(lx.count / n) {
                    let px = lx[(r * n)..<((r + 1) * n)], py = ly[(r * n)..<((r + 1) * n)]
                    if px.indices.max(by: { px[$0] < px[$1] }) != py.indices.max(by: { py[$0] < py[$1] }) { argmaxDiffering += 1 }
                }
            }
            // The adapted model on the plain ids: how much the shuffle changes for a party without the key.
            let z = try adaptedModel.forward(inputIDs: [plain])
            plainOnAdapted = max(plainOnAdapted, maxAbsDiff(x.lastHiddenState.values, z.lastHiddenState.values))
        }
        // Digests the adapted vocabulary does not know become [UNK]: a wrong key or the wrong model, not parity
        // (comparing [UNK] with [UNK] would pass while proving nothing).
        let unknownDigests = unknownEncrypted
        let textTokens = tokens - 2 * sentences.count
        let digestsKnown = unknownEncrypted <= unknownPlain && 2 * unknownEncrypted < max(1, textTokens)
        // Without parity (a transform that changes the function), only the digest lookup is checked; the differences
        // are reported as measured.
        let ok = digestsKnown && (!expectParity || (maxHidden <= tolerance && maxPooler <= tolerance))
        var checks: [VerificationCheck] = []
        if let o = originalHead {
            let kind = o.kind
            let logitsOK = headProblem == nil && ok && (!expectParity || maxLogits <= tolerance)
            checks.append(
                VerificationCheck(
                    name: "logits", passed: logitsOK,
                    detail: headProblem
                        ?? ("\(kind)-classification logits: max |Δ| \(maxLogits) over \(sentences.count) sentences "
                            + "(tolerance \(tolerance)), \(argmaxDiffering) predicted labels differ"
                            + (ok ? "" : "; the encoder outputs differ (see forward)")),
                    values: [
                        ("task", .string(kind + "_classification")), ("labels", .int(Int64(o.labelCount))),
                        ("logits", .int(Int64(logitValues))), ("max_abs_diff_logits", .double(Double(maxLogits), text: nil)),
                        ("predicted_labels_differing", .int(Int64(argmaxDiffering))),
                    ]))
        }
        return [
            VerificationCheck(
                name: "forward", passed: ok,
                detail: (!digestsKnown ? "\(unknownEncrypted) of \(textTokens) encrypted tokens are [UNK] in the adapted model; " : "")
                    + (expectParity ? "" : "parity not expected (the embedding transform changes the function), not checked: ")
                    + "max |Δ last_hidden_state| \(maxHidden), max |Δ pooler_output| \(maxPooler) over \(sentences.count) sentences"
                    + (expectParity ? " (tolerance \(tolerance))" : ""),
                values: [
                    ("parity_expected", .bool(expectParity)), ("sentences", .int(Int64(sentences.count))), ("tokens", .int(Int64(tokens))),
                    ("max_abs_diff_last_hidden_state", .double(Double(maxHidden), text: nil)),
                    ("max_abs_diff_pooler_output", .double(Double(maxPooler), text: nil)),
                    ("tolerance", .double(Double(tolerance), text: nil)),
                    ("unknown_digests", .int(Int64(max(0, unknownDigests)))),
                    ("adapted_model_on_plain_ids_max_abs_diff", .double(Double(plainOnAdapted), text: nil)),
                ])
        ] + checks
    }

    static func maxAbsDiff(_ a: [Float], _ b: [Float]) -> Float {
        guard a.count == b.count else { return .infinity }
        var m: Float = 0
        for i in a.indices {
            let d = abs(a[i] - b[i])
            if !(d <= m) { m = d.isNaN ? .infinity : d }
        }
        return m
    }
}

#if canImport(Glibc)
    import Glibc
#endif
