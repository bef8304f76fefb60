import SentinelAdapt
import SentinelCore
import SentinelEncoder
import SentinelTokenizer
import SentinelTorch

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
    public static func verify(adapted: String, original: String, passkey: String, sentences: [String] = defaultSentences,
                              tolerance: Float = 1e-4, progress: (String) -> Void = { _ in }) throws -> VerificationReport {
        var checks: [VerificationCheck] = []
        let adaptedDir = try ModelDirectory(path: adapted), originalDir = try ModelDirectory(path: original)

        // sentinel.json: which scheme and options.
        var shuffle = true, glideSteps = 2
        if adaptedDir.has("sentinel.json") {
            let path = adaptedDir.file("sentinel.json")
            let manifest = try ModelDirectory.readJSON(path)
            guard let s = manifest["shuffle"]?.boolValue else {
                throw InputError(.invalidStructure, file: path, key: "shuffle", "must be true or false")
            }
            guard let g = manifest["glide_steps"]?.intValue, (0...SeedScheme.maxGlideSteps).contains(g) else {
                throw InputError(.invalidStructure, file: path, key: "glide_steps", "must be an integer from 0 to \(SeedScheme.maxGlideSteps)")
            }
            shuffle = s
            glideSteps = g
            let scheme = manifest["scheme"]?.stringValue ?? "?"
            checks.append(VerificationCheck(name: "manifest", passed: scheme == "seed",
                                            detail: scheme == "seed" ? "scheme seed, shuffle \(shuffle), \(glideSteps) glide passes"
                                                                     : "scheme '\(scheme)' is not one this verifier knows",
                                            values: [("scheme", .string(scheme)), ("shuffle", .bool(shuffle)), ("glide_steps", .int(Int64(glideSteps)))]))
        } else {
            checks.append(VerificationCheck(name: "manifest", passed: false,
                                            detail: "the adapted directory has no sentinel.json (checked as seed, shuffled, 2 glide passes)", values: []))
        }

        // 1. Vocabulary.
        progress("checking the vocabulary")
        // vocab.txt (WordPiece) or vocab.json (byte-level BPE) of both models.
        for dir in [originalDir, adaptedDir] where !dir.has("vocab.txt") && !dir.has("vocab.json") {
            throw InputError(.missing, file: dir.file("vocab.txt"), "verify needs the vocab.txt (or vocab.json) of both models")
        }
        let originalVocab = try SourceVocabulary(directory: originalDir).vocabulary
        let adaptedVocab = try SourceVocabulary(directory: adaptedDir).vocabulary
        let specialIDs = Set(try originalDir.specialTokens().compactMap { originalVocab.ids[$0] })
        let hasher = try TokenHasher(passkey: passkey)
        let hashed = SeedConverter.hashVocabulary(originalVocab.tokens, special: specialIDs, hasher: hasher)
        var found = [Int](repeating: -1, count: originalVocab.count)
        for (i, digest) in hashed.enumerated() { found[i] = adaptedVocab.ids[digest] ?? -1 }
        let missing = found.filter { $0 < 0 }.count
        let distinct = Set(found.filter { $0 >= 0 }).count
        let expected = SeedScheme.mapping(vocabSize: originalVocab.count, specialIDs: specialIDs,
                                          seed: SeedScheme.seed(forKey: passkey), shuffle: shuffle)
        let mappingMatches = missing == 0 && found == expected
        let bijection = missing == 0 && distinct == originalVocab.count && adaptedVocab.count == originalVocab.count
        let hashedCount = originalVocab.count - specialIDs.count
        let hashedFound = found.enumerated().filter { !specialIDs.contains($0.offset) && $0.element >= 0 }.count
        var vocabDetail: String
        if hashedFound == 0 && hashedCount > 0 {
            vocabDetail = "none of the \(hashedCount) hashed tokens is in the adapted vocabulary: the key does not match this model"
        } else if !bijection {
            vocabDetail = "\(missing) original tokens have no digest in the adapted vocabulary (\(distinct) of \(originalVocab.count) distinct ids found)"
        } else if !mappingMatches {
            let wrong = zip(found, expected).filter { $0 != $1 }.count
            vocabDetail = "the vocabulary is a bijection but \(wrong) ids differ from the seed scheme's mapping for this key"
        } else {
            vocabDetail = "all \(originalVocab.count) tokens found once; mapping is the seed scheme's (\(shuffle ? "shuffled" : "identity"))"
        }
        checks.append(VerificationCheck(name: "vocabulary", passed: bijection && mappingMatches, detail: vocabDetail, values: [
            ("tokens", .int(Int64(originalVocab.count))), ("hashed_tokens_found", .int(Int64(hashedFound))),
            ("missing", .int(Int64(missing))), ("bijection", .bool(bijection)), ("mapping_matches_scheme", .bool(mappingMatches)),
        ]))

        // 2. Unchanged tensors.
        progress("comparing tensors")
        let originalWeights = try openTensorArchive(path: originalDir.weightsPath)
        let adaptedWeights = try openTensorArchive(path: adaptedDir.weightsPath)
        let embeddingName = SeedConverter.wordEmbeddingsName
        var differing: [String] = []
        var identical = 0
        let adaptedNames = Set(adaptedWeights.entries.map(\.name))
        let missingTensors = originalWeights.entries.map(\.name).filter { !adaptedNames.contains($0) }
        let extraTensors = adaptedWeights.entries.map(\.name).filter { originalWeights.entry(named: $0) == nil }
        for e in originalWeights.entries where e.name != embeddingName && adaptedNames.contains(e.name) {
            let a = adaptedWeights.entry(named: e.name)!
            let same = try a.dtype == e.dtype && a.shape == e.shape && originalWeights.withBytes(of: e.name) { x in
                try adaptedWeights.withBytes(of: e.name) { y in x.count == y.count && (x.count == 0 || memcmp(x.baseAddress!, y.baseAddress!, x.count) == 0) }
            }
            if same { identical += 1 } else { differing.append(e.name) }
            originalWeights.releaseBytes(of: e.name)
            adaptedWeights.releaseBytes(of: e.name)
        }
        let tensorsOK = differing.isEmpty && missingTensors.isEmpty && extraTensors.isEmpty
        checks.append(VerificationCheck(
            name: "tensors", passed: tensorsOK,
            detail: tensorsOK ? "\(identical) tensors byte-identical to the original"
                : "changed: \(differing.prefix(5).joined(separator: ", "))\(differing.count > 5 ? "…" : ""); missing: \(missingTensors.prefix(5)); extra: \(extraTensors.prefix(5))",
            values: [("identical", .int(Int64(identical))), ("changed", .array(differing.map { .string($0) })),
                     ("missing", .array(missingTensors.map { .string($0) })), ("extra", .array(extraTensors.map { .string($0) }))]))

        // 3. Embedding rows.
        progress("checking embedding rows")
        checks.append(try embeddingCheck(original: originalWeights, adapted: adaptedWeights, name: embeddingName,
                                         mapping: expected, passkey: passkey, glideSteps: glideSteps))

        // 4. Forward pass on encrypted vs plain input.
        progress("running both encoders on \(sentences.count) sentences")
        checks.append(try forwardCheck(originalDir: originalDir, adaptedDir: adaptedDir, originalWeights: originalWeights,
                                       adaptedWeights: adaptedWeights, passkey: passkey, sentences: sentences, tolerance: tolerance))
        return VerificationReport(checks: checks)
    }

    static func embeddingCheck(original: TensorArchive, adapted: TensorArchive, name: String, mapping: [Int],
                               passkey: String, glideSteps: Int) throws -> VerificationCheck {
        guard let o = original.entry(named: name), let a = adapted.entry(named: name), o.shape == a.shape, o.shape.count == 2,
              o.shape[0] == mapping.count, EmbeddingTransform.supportedDTypes.contains(o.dtype),
              EmbeddingTransform.supportedDTypes.contains(a.dtype)
        else {
            return VerificationCheck(name: "embeddings", passed: false, detail: "\(name) is missing or its shape or dtype differs", values: [])
        }
        var global = PythonRandom(seed: SeedScheme.seed(forKey: passkey))
        let passes = SeedScheme.glidePasses(glideSteps, generator: &global)
        let rows = o.shape[0], hidden = o.shape[1]
        // Compare in float64: recompute each row in the adapted dtype, then measure |Δ|.
        let (maxDiff, rowsDiffering) = try original.withBytes(of: name) { src -> (Double, Int) in
            try adapted.withBytes(of: name) { stored -> (Double, Int) in
                let transform = EmbeddingTransform(source: src, dtype: o.dtype, rows: rows, hidden: hidden, passes: passes, mapping: mapping)
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
        let limit: Double = switch a.dtype {
        case .F64: 1e-12
        case .F32: 1e-6
        default: 1e-2
        }
        let ok = maxDiff <= limit
        return VerificationCheck(name: "embeddings", passed: ok,
                                 detail: ok ? "every adapted row is the glide transform of its source row (max |Δ| \(maxDiff))"
                                            : "\(rowsDiffering) rows differ from the glide transform of their source row (max |Δ| \(maxDiff))",
                                 values: [("max_abs_diff", .double(maxDiff, text: nil)), ("rows_differing", .int(Int64(rowsDiffering))),
                                          ("dtype", .string(a.dtype.rawValue))])
    }

    @inline(__always)
    static func element(_ b: UnsafeRawBufferPointer, _ i: Int, _ dtype: DType) -> Double {
        switch dtype {
        case .F64: b.loadUnaligned(fromByteOffset: i * 8, as: Double.self)
        case .F32: Double(b.loadUnaligned(fromByteOffset: i * 4, as: Float.self))
        case .F16: Double(Float(Float16(bitPattern: b.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self))))
        default: Double(Float(bitPattern: UInt32(b.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self)) << 16))
        }
    }

    static func forwardCheck(originalDir: ModelDirectory, adaptedDir: ModelDirectory, originalWeights: TensorArchive,
                             adaptedWeights: TensorArchive, passkey: String, sentences: [String], tolerance: Float) throws -> VerificationCheck {
        let originalModel = try BertModel(archive: originalWeights, config: BertConfig.load(path: originalDir.file("config.json")))
        let adaptedModel = try BertModel(archive: adaptedWeights, config: BertConfig.load(path: adaptedDir.file("config.json")))
        let tokenizer = try loadSubwordTokenizer(directory: originalDir.path)
        let encryptor = try Encryptor(tokenizer: tokenizer, key: passkey,
                                      specialTokens: try ModelDirectory.specialTokens(inDirectory: originalDir.path))
        let adaptedVocab = try AdaptedVocabulary(path: adaptedDir.has("vocab.txt") ? adaptedDir.file("vocab.txt") : adaptedDir.path)
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
                return VerificationCheck(name: "forward", passed: false,
                                         detail: "the encrypted and plain sequences of '\(text.prefix(40))' differ in length", values: [])
            }
            unknownPlain += plain.filter { $0 == originalUnknown }.count
            unknownEncrypted += encrypted.filter { $0 == Int(adaptedVocab.unknownID) }.count
            tokens += plain.count
            let x = try originalModel.forward(inputIDs: [plain])
            let y = try adaptedModel.forward(inputIDs: [encrypted])
            maxHidden = max(maxHidden, maxAbsDiff(x.lastHiddenState.values, y.lastHiddenState.values))
            if let p = x.poolerOutput, let q = y.poolerOutput { maxPooler = max(maxPooler, maxAbsDiff(p.values, q.values)) }
            // The adapted model on the plain ids: how much the shuffle changes for a party without the key.
            let z = try adaptedModel.forward(inputIDs: [plain])
            plainOnAdapted = max(plainOnAdapted, maxAbsDiff(x.lastHiddenState.values, z.lastHiddenState.values))
        }
        // Digests the adapted vocabulary does not know become [UNK]: a wrong key or the wrong model, not parity
        // (comparing [UNK] with [UNK] would pass while proving nothing).
        let unknownDigests = unknownEncrypted
        let textTokens = tokens - 2 * sentences.count
        let ok = maxHidden <= tolerance && maxPooler <= tolerance && unknownEncrypted <= unknownPlain && 2 * unknownEncrypted < max(1, textTokens)
        return VerificationCheck(
            name: "forward", passed: ok,
            detail: (unknownEncrypted > unknownPlain || 2 * unknownEncrypted >= max(1, textTokens)
                     ? "\(unknownEncrypted) of \(textTokens) encrypted tokens are [UNK] in the adapted model; " : "")
                + "max |Δ last_hidden_state| \(maxHidden), max |Δ pooler_output| \(maxPooler) over \(sentences.count) sentences (tolerance \(tolerance))",
            values: [("sentences", .int(Int64(sentences.count))), ("tokens", .int(Int64(tokens))),
                     ("max_abs_diff_last_hidden_state", .double(Double(maxHidden), text: nil)),
                     ("max_abs_diff_pooler_output", .double(Double(maxPooler), text: nil)),
                     ("tolerance", .double(Double(tolerance), text: nil)),
                     ("unknown_digests", .int(Int64(max(0, unknownDigests)))),
                     ("adapted_model_on_plain_ids_max_abs_diff", .double(Double(plainOnAdapted), text: nil))])
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
