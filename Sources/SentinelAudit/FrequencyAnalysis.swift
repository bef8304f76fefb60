import SentinelCore
import SentinelScheme
import SentinelTokenizer

/// What the ciphertext frequency attack works from: how often each adapted id occurs in an encrypted text, and
/// how often each original id occurs in a public corpus tokenized with the original tokenizer.
public struct FrequencyEvidence: Sendable {
    /// `[adaptedRows]`: occurrences of each adapted id (digest) in the ciphertext.
    public var ciphertextCounts: [Int]
    /// Ciphertext tokens that look like digests but are not in the adapted vocabulary (another key or model).
    public var unknownDigests: Int
    /// `[originalRows]`: occurrences of each original id in the corpus.
    public var corpusCounts: [Int]
    /// Wordpieces in the corpus.
    public var corpusTokens: Int

    public init(ciphertextCounts: [Int], unknownDigests: Int = 0, corpusCounts: [Int], corpusTokens: Int? = nil) {
        self.ciphertextCounts = ciphertextCounts
        self.unknownDigests = unknownDigests
        self.corpusCounts = corpusCounts
        self.corpusTokens = corpusTokens ?? corpusCounts.reduce(0, +)
    }
}

/// Frequency analysis of ciphertext: digests are deterministic per token under every scheme (SCHEME.md), so the
/// most frequent digest is most likely the most frequent wordpiece of English, and so on down the ranks. No
/// embedding transform can hide this; the audit reports how much of a ciphertext it decodes.
public enum FrequencyAnalysis {
    /// Ranks the ciphertext's distinct digests by count and the public corpus's wordpieces by count (ties by id,
    /// special ids left out of both) and guesses that rank `r` of one is rank `r` of the other; the top-10 guess
    /// is the ten corpus ranks around `r` (`r-4 … r+5`).
    /// - Returns: recovered top-1 = fraction of the ciphertext's hidden tokens decoded (occurrences, not
    ///   distinct digests); the distinct-digest figures are in `values`.
    static func attack(_ input: AuditInput, evidence: FrequencyEvidence) -> AttackResult {
        let specialsA = Set(input.anchors.map(\.adapted)), specialsO = Set(input.anchors.map(\.original))
        let seen = (0..<min(input.adaptedRows, evidence.ciphertextCounts.count))
            .filter { evidence.ciphertextCounts[$0] > 0 && !specialsA.contains($0) }
            .sorted {
                evidence.ciphertextCounts[$0] != evidence.ciphertextCounts[$1]
                    ? evidence.ciphertextCounts[$0] > evidence.ciphertextCounts[$1] : $0 < $1
            }
        let ranked = (0..<min(input.originalRows, evidence.corpusCounts.count))
            .filter { !specialsO.contains($0) }
            .sorted {
                evidence.corpusCounts[$0] != evidence.corpusCounts[$1]
                    ? evidence.corpusCounts[$0] > evidence.corpusCounts[$1] : $0 < $1
            }
        var total = 0, decoded = 0, decoded10 = 0, distinct = 0, distinctDecoded = 0
        for (r, a) in seen.enumerated() where input.hidden[a] {
            let c = evidence.ciphertextCounts[a], t = Int(input.truth[a])
            total += c
            distinct += 1
            if r < ranked.count && ranked[r] == t {
                decoded += c
                distinctDecoded += 1
            }
            let lo = max(0, r - 4), hi = min(ranked.count, r + 6)
            if lo < hi && ranked[lo..<hi].contains(t) { decoded10 += c }
        }
        let top1 = total > 0 ? Double(decoded) / Double(total) : 0
        let top10 = total > 0 ? Double(decoded10) / Double(total) : 0
        return AttackResult(
            name: .ciphertextFrequency, recoveredTop1: top1, recoveredTop10: top10,
            chanceTop1: EmbeddingAttacks.chance(input, 1), seconds: 0,
            detail: "digest frequencies of \(total) ciphertext tokens (\(distinct) distinct) ranked against \(evidence.corpusTokens) corpus "
                + "wordpieces: \(percent(top1)) of the ciphertext's tokens decoded (\(distinctDecoded) distinct digests); digests are "
                + "deterministic per token, so no embedding transform changes this",
            values: [
                ("ciphertext_tokens", .int(Int64(total))), ("distinct_digests", .int(Int64(distinct))),
                ("distinct_digests_decoded", .int(Int64(distinctDecoded))), ("unknown_digests", .int(Int64(evidence.unknownDigests))),
                ("corpus_tokens", .int(Int64(evidence.corpusTokens))),
            ])
    }

    /// Counts the digests of a ciphertext file, as `sentinel encrypt` writes it (text: space-separated digests per
    /// line; conll: JSON lines with `"tokens"`): every maximal run of exactly 32 hex digits is a digest, looked up
    /// (lower-cased) in the adapted vocabulary.
    /// - Returns: `[adaptedVocabulary.count]` counts and the number of digests not in the vocabulary.
    /// - Throws: ``InputError`` (`not_text`, `missing`) when the file is not UTF-8 or holds no digest of this model.
    public static func ciphertextCounts(path: String, vocabulary: WordPieceVocabulary) throws -> (counts: [Int], unknown: Int) {
        let file = try TextFile(path: path)
        var counts = [Int](repeating: 0, count: vocabulary.count)
        var unknown = 0, found = 0
        var run: [UInt8] = []
        var firstUnknownOffset: Int?
        func flush(_ end: Int) {
            defer { run.removeAll(keepingCapacity: true) }
            guard run.count == Encryptor.digestHexLength else { return }
            let digest = String(decoding: run.map { $0 >= 0x41 && $0 <= 0x46 ? $0 + 0x20 : $0 }, as: UTF8.self)
            if let id = vocabulary.id(of: digest) {
                counts[Int(id)] += 1
                found += 1
            } else {
                unknown += 1
                if firstUnknownOffset == nil { firstUnknownOffset = end - run.count }
            }
        }
        for (offset, byte) in file.bytes.enumerated() {
            let hex = (byte >= 0x30 && byte <= 0x39) || (byte >= 0x61 && byte <= 0x66) || (byte >= 0x41 && byte <= 0x46)
            if hex { run.append(byte) } else if !run.isEmpty { flush(offset) }
        }
        if !run.isEmpty { flush(file.bytes.count) }
        guard found > 0 else {
            throw InputError(
                .missing, file: path, offset: firstUnknownOffset,
                unknown > 0
                    ? "none of its \(unknown) digests is in the adapted vocabulary (another key or model?)"
                    : "no digests (32 hex digits) in the file: give the output of sentinel encrypt")
        }
        return (counts, unknown)
    }

    /// Counts the original tokenizer's wordpieces in a public corpus: CoNLL-style word-per-line files (the first
    /// data line has two or more columns, or the file starts with `-DOCSTART-`) are read as sentences of words
    /// (``NERCorpus``), anything else as one text per line.
    /// - Returns: `[tokenizer.vocabularySize]` counts and the total number of pieces (any tokenizer family).
    /// - Throws: ``InputError`` from the readers; `missing` when the corpus has no wordpiece.
    public static func corpusCounts(path: String, tokenizer: any SubwordTokenizer) throws -> (counts: [Int], tokens: Int) {
        let file = try TextFile(path: path)
        var counts = [Int](repeating: 0, count: tokenizer.vocabularySize)
        var tokens = 0
        func add(_ text: String) {
            for id in tokenizer.pieces(of: text).ids where id >= 0 && Int(id) < counts.count {
                counts[Int(id)] += 1
                tokens += 1
            }
        }
        if looksLikeConll(file) {
            for sentence in try NERCorpus.read(file) {
                for id in tokenizer.pieces(ofWords: sentence.words).ids where id >= 0 && Int(id) < counts.count {
                    counts[Int(id)] += 1
                    tokens += 1
                }
            }
        } else {
            file.forEachLine { line in if !line.isBlank { add(line.text) } }
        }
        guard tokens > 0 else { throw InputError(.missing, file: path, "the corpus has no text") }
        return (counts, tokens)
    }

    /// Whether the file is word-per-line NER data (CoNLL): it starts with `-DOCSTART-`, or each of its first 20 data
    /// lines has 2 to 5 columns, the same number, and ends in a tag (`O`, or `B-`, `I-`, `E-`, `S-`… a type).
    static func looksLikeConll(_ file: TextFile) -> Bool {
        var n: Int?
        var seen = 0, conll = true
        file.forEachLine { line in
            guard conll, seen < 20, !line.isBlank else { return }
            let text = line.text
            if seen == 0 && text.hasPrefix("-DOCSTART-") {
                seen = 20
                return
            }
            let columns = text.split(whereSeparator: { $0 == " " || $0 == "\t" })
            if n == nil { n = columns.count }
            let tag = columns.last.map(String.init) ?? ""
            let isTag = tag == "O" || (tag.count > 2 && ["B-", "I-", "E-", "S-", "L-", "U-"].contains(String(tag.prefix(2))))
            if columns.count != n || columns.count < 2 || columns.count > 5 || !isTag { conll = false }
            seen += 1
        }
        return conll && seen > 0
    }
}

extension FrequencyEvidence {
    /// The corpus used when none is given: the CoNLL-2003 English training set (Reuters news, 14,041 sentences),
    /// `data/conll2003/train.txt` of the project's shared data: under `$SENTINEL_SHARED`, else in a `shared/`
    /// folder beside one of `directories` or their parents (four levels up).
    public static func defaultCorpus(searching directories: [String], environment shared: String?) -> String? {
        let relative = "data/conll2003/train.txt"
        if let shared, !shared.isEmpty, fileExists(shared + "/" + relative) { return shared + "/" + relative }
        for start in directories {
            var dir = start
            for _ in 0..<5 {
                let candidate = dir + "/shared/" + relative
                if fileExists(candidate) { return candidate }
                dir += "/.."
            }
        }
        return nil
    }

    /// Reads a ciphertext and a corpus for the frequency attack: the ciphertext's digests are counted in the
    /// adapted model's vocabulary, the corpus is tokenized by the original model's tokenizer.
    /// - Throws: ``InputError`` from ``FrequencyAnalysis/ciphertextCounts(path:vocabulary:)``,
    ///   ``FrequencyAnalysis/corpusCounts(path:tokenizer:)`` and the tokenizer and vocabulary readers.
    public static func load(ciphertext: String, corpus: String, adapted: String, original: String) throws -> FrequencyEvidence {
        let vocabulary = try AdaptedVocabulary(path: adapted).vocabulary
        let (counts, unknown) = try FrequencyAnalysis.ciphertextCounts(path: ciphertext, vocabulary: vocabulary)
        let tokenizer = try Tokenizers.load(directory: original)
        let (corpusCounts, tokens) = try FrequencyAnalysis.corpusCounts(path: corpus, tokenizer: tokenizer)
        return FrequencyEvidence(ciphertextCounts: counts, unknownDigests: unknown, corpusCounts: corpusCounts, corpusTokens: tokens)
    }
}

/// Whether `path` exists (any file type).
func fileExists(_ path: String) -> Bool {
    var st = stat()
    return stat(path, &st) == 0
}

#if canImport(Glibc)
    import Glibc
#endif
