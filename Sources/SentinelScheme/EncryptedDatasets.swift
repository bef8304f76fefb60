import SentinelCore
import SentinelTokenizer

extension Encryptor {
    /// An NER sentence encrypted for the adapted model, as `sentinel encrypt --format conll` writes it
    /// (``JSONLinesDataset/NERRecord``): the digests of its wordpieces, the word of each digest, and each
    /// digest's word label (a model trained on it labels the first digest of each word, as on plain text).
    public func encrypt(_ sentence: NERSentence) -> JSONLinesDataset.NERRecord {
        let (tokens, wordIDs) = encrypt(words: sentence.words)
        return JSONLinesDataset.NERRecord(
            tokens: tokens, nerTags: wordIDs.map { sentence.labels[$0] }, wordIDs: wordIDs,
            line: sentence.line)
    }

    /// A classification example with its text (and pair) encrypted: space-separated digests.
    public func encrypt(_ example: TextExample) -> TextExample {
        TextExample(
            text: encrypt(text: example.text).joined(separator: " "),
            pair: example.pair.map { encrypt(text: $0).joined(separator: " ") }, label: example.label, line: example.line)
    }
}

extension AdaptedVocabulary {
    /// Pieces for encrypted tokens whose words are given (`word_ids` of an encrypted NER record).
    public func pieces(ofEncrypted tokens: [String], words: [Int]) -> Pieces {
        var p = Pieces()
        for (token, word) in zip(tokens, words) {
            p.appendPiece(lookup(token[...]) ?? unknownID, start: 0, end: 0, word: Int32(truncatingIfNeeded: word))
        }
        return p
    }
}

/// The formats of input files the encoder commands read (`embed`, `predict`, `evaluate`).
public enum InputFormat: String, CaseIterable, Sendable {
    /// One text per line; a TAB separates the two texts of a pair (classification). Encrypted: digests.
    case text
    /// Word-per-line NER (CoNLL-2003, WNUT), plain text only.
    case conll
    /// GLUE TSV with a header, plain text only.
    case tsv
    /// HF-style JSON lines (``JSONLinesDataset``), plain or encrypted (what `sentinel encrypt` writes for
    /// `--format conll` and `--format tsv`).
    case jsonl
}

/// One input of an encoder command, ready for the model.
public struct InputRecord: Sendable {
    /// `input_ids`, `token_type_ids`, … with the template and truncation applied.
    public var encoding: Encoding
    /// For token labelling: each word that survived truncation, with its text (the word, or the first digest of
    /// an encrypted word) and the position of its first piece.
    public var words: [(text: String, position: Int)]
    /// The gold label, for datasets that carry one (classification).
    public var label: String?
    /// The gold word labels (NER datasets).
    public var wordLabels: [String]?
    /// 1-based line number in the input.
    public var line: Int
}

extension InputEncoder {
    /// Reads every input of `file` for a token-labelling task (`tokens: true`, NER) or a sequence task.
    /// - Parameter format: nil detects: JSON lines when the first line is a JSON record (``JSONLinesDataset/looksLikeJSONLines(_:)``), else text.
    /// - Throws: ``InputError`` from the dataset readers, or (`unknown_format`) for a format the input kind
    ///   cannot be (a CoNLL or TSV file given as encrypted input: encrypt it with `sentinel encrypt` first).
    public func records(_ file: TextFile, format: InputFormat?, tokens: Bool, maxLength: Int) throws -> [InputRecord] {
        let format = format ?? (JSONLinesDataset.looksLikeJSONLines(file) ? .jsonl : .text)
        let truncation = Truncation.longestFirst(maxLength: maxLength)
        var out: [InputRecord] = []
        switch (format, self) {
        case (.text, _):
            file.forEachLine { line in
                let text = line.text
                let fields = text.split(separator: "\t", maxSplits: 1, omittingEmptySubsequences: false)
                let first = tokens ? text[...] : fields[0]
                let e = encode(first, pair: !tokens && fields.count > 1 ? fields[1] : nil, maxLength: maxLength)
                var words: [(String, Int)] = []
                if tokens, case .plain = self { words = e.firstPieceWords(in: first) }
                out.append(InputRecord(encoding: e, words: words, label: nil, wordLabels: nil, line: line.number))
            }
        case (.conll, .plain(let tokenizer)):
            for s in try NERCorpus.read(file) {
                let e = tokenizer.template.assemble(tokenizer.labelPieces(ofWords: s.words), nil, truncation: truncation)
                out.append(
                    InputRecord(
                        encoding: e, words: Self.firstPositions(e).map { (s.words[$0.word], $0.position) },
                        label: nil, wordLabels: s.labels, line: s.line))
            }
        case (.tsv, .plain):
            for x in try GLUETSV.read(file) {
                out.append(
                    InputRecord(
                        encoding: encode(x.text[...], pair: x.pair?[...], maxLength: maxLength), words: [],
                        label: x.label, wordLabels: nil, line: x.line))
            }
        // Token records (`tokens`, what `encrypt --format conll` writes) are read as such by every command, also
        // by the sequence commands (`embed`), which then take each record's tokens as one row.
        case (.jsonl, _) where tokens || JSONLinesDataset.holdsTokenRecords(file):
            for r in try JSONLinesDataset.readNER(file) {
                let e: Encoding
                switch self {
                case let .plain(tokenizer):
                    e = tokenizer.template.assemble(tokenizer.labelPieces(ofWords: r.tokens), nil, truncation: truncation)
                case let .encrypted(vocabulary):
                    e = vocabulary.template.assemble(vocabulary.pieces(ofEncrypted: r.tokens, words: r.words), nil, truncation: truncation)
                }
                let firstToken = Self.firstTokens(r.words)
                let words = Self.firstPositions(e).map { (r.tokens[firstToken[$0.word]], $0.position) }
                out.append(InputRecord(encoding: e, words: words, label: nil, wordLabels: r.wordLabels, line: r.line))
            }
        case (.jsonl, _):
            for x in try JSONLinesDataset.readClassification(file) {
                out.append(
                    InputRecord(
                        encoding: encode(x.text[...], pair: x.pair?[...], maxLength: maxLength), words: [],
                        label: x.label, wordLabels: nil, line: x.line))
            }
        case (.conll, .encrypted), (.tsv, .encrypted):
            throw InputError(
                .unknownFormat, file: file.path,
                "--format \(format.rawValue) is plain text; encrypted datasets are the JSON lines that `sentinel encrypt --format \(format.rawValue)` writes"
            )
        }
        return out
    }

    /// The first position of each word of the first sequence, in word order.
    static func firstPositions(_ e: Encoding) -> [(word: Int, position: Int)] {
        var seen = Set<Int>()
        var out: [(Int, Int)] = []
        for (i, w) in e.wordIDs.enumerated() where e.sequenceIDs[i] == 0 {
            guard let w, seen.insert(w).inserted else { continue }
            out.append((w, i))
        }
        return out
    }

    /// The index of the first token of each word.
    static func firstTokens(_ words: [Int]) -> [Int] {
        var out: [Int] = []
        for (i, w) in words.enumerated() where w == out.count { out.append(i) }
        return out
    }
}

extension Encryptor {
    /// The plain inputs `sentinel encrypt` reads.
    public enum PlainFormat: String, CaseIterable, Sendable {
        /// One text per line (a TAB between the texts of a pair is kept); out: space-separated digests per line.
        case text
        /// Word-per-line NER; out: ``JSONLinesDataset/NERRecord`` JSON lines.
        case conll
        /// GLUE TSV; out: classification JSON lines (``JSONLinesDataset/json(_:)``).
        case tsv
    }

    /// Counts of an encryption run.
    public struct Statistics: Sendable, Equatable {
        public var records = 0
        public var tokens = 0
        /// Tokens that are `[UNK]` (the tokenizer's unknown id).
        public var unknownTokens = 0
        /// Model positions (pieces plus the template's special tokens: `[CLS] A [SEP]`, `<s> A </s></s> B </s>`)
        /// above which `embed`/`predict` truncate a record; ``recordsOverLimit`` counts the records that need more.
        public var truncationLimit: Int
        /// Records longer than ``truncationLimit`` positions.
        public var recordsOverLimit = 0
        public init(truncationLimit: Int = .max) { self.truncationLimit = truncationLimit }
        /// Counts one record needing `positions` model positions.
        public mutating func record(positions: Int) {
            records += 1
            if positions > truncationLimit { recordsOverLimit += 1 }
        }
    }

    /// The tokenizer's workspace for ``appendEncrypted(line:to:stats:state:)``, reused from line to line.
    public struct TextLineEncryption {
        var pieces = Pieces()
        var scratch: AnyObject?
        public init() {}
    }

    /// Appends one line of `--format text` encrypted, and its newline: the space-separated digests of its
    /// wordpieces; TAB-separated fields (the two texts of a pair) are encrypted one by one and stay
    /// TAB-separated. Counts the record, its tokens and its `[UNK]`s. The one rule for text, in memory and streamed.
    public func appendEncrypted(line: UnsafeRawBufferPointer, to out: inout [UInt8], stats: inout Statistics, state: inout TextLineEncryption) {
        let unk = tokenizer.unknownID
        var positions = 0, fields = 0
        for (i, field) in line.split(separator: 0x09, omittingEmptySubsequences: false).enumerated() {
            if i > 0 { out.append(0x09) }
            fields += 1
            state.pieces.removeAll()
            tokenizer.append(UnsafeRawBufferPointer(rebasing: field), word: nil, to: &state.pieces, scratch: &state.scratch)
            for (k, id) in state.pieces.ids.enumerated() {
                if k > 0 { out.append(0x20) }
                appendEncryptedToken(id: id, to: &out)
                if id == unk { stats.unknownTokens += 1 }
            }
            stats.tokens += state.pieces.count
            positions += state.pieces.count
        }
        out.append(0x0A)
        stats.record(positions: positions + tokenizer.template.addedCount(pair: fields > 1))
    }

    /// Tokens read before anything is written by ``encryptText(_:to:check:)``: the `[UNK]` check runs on them first.
    public static let heldBackTokens = 1 << 20

    /// Encrypts `--format text` input as it is read, in bounded memory (the line reader's buffer and about 1 MiB of
    /// output, or the first ``heldBackTokens`` tokens' output): nothing is written until `check` accepts the
    /// counts of the first ``heldBackTokens`` tokens (or of the whole input, if shorter); `check` runs again on the
    /// final counts before the last bytes are written (an atomic output is then discarded if it throws).
    /// - Throws: what `lines`, `out` and `check` throw.
    public func encryptText(
        _ lines: LineReader, to out: FileWriter, truncationLimit: Int = .max, check: (Statistics) throws -> Void
    ) throws -> Statistics {
        var stats = Statistics(truncationLimit: truncationLimit)
        var state = TextLineEncryption()
        var buffer: [UInt8] = []
        buffer.reserveCapacity(2 << 20)
        var holding = true
        while let line = try lines.next() {
            appendEncrypted(line: line.bytes, to: &buffer, stats: &stats, state: &state)
            if holding && stats.tokens >= Self.heldBackTokens {
                try check(stats)
                holding = false
            }
            if !holding && buffer.count >= 1 << 20 {
                try buffer.withUnsafeBytes { try out.write($0) }
                buffer.removeAll(keepingCapacity: true)
            }
        }
        try check(stats)
        try buffer.withUnsafeBytes { try out.write($0) }
        return stats
    }

    /// Encrypts a whole input file in `format`: the bytes to write and the counts.
    /// - Throws: ``InputError`` from the CoNLL and TSV readers.
    public func encrypt(_ file: TextFile, format: PlainFormat, truncationLimit: Int = .max) throws -> ([UInt8], Statistics) {
        var out: [UInt8] = []
        out.reserveCapacity(file.bytes.count * 4)
        var stats = Statistics(truncationLimit: truncationLimit)
        let unk = tokenizer.unknownID
        func count(_ tokens: [String]) {
            stats.tokens += tokens.count
        }
        switch format {
        case .text:
            var line = TextLineEncryption()
            file.forEachLine { l in
                appendEncrypted(line: l.bytes, to: &out, stats: &stats, state: &line)
            }
        case .conll:
            for sentence in try NERCorpus.read(file) {
                let record = encrypt(sentence)
                stats.unknownTokens += record.tokens.filter { $0 == (tokenizer.token(of: unk) ?? "") }.count
                count(record.tokens)
                out.append(contentsOf: record.json.serialized(.compact).utf8)
                out.append(0x0A)
                stats.record(positions: record.tokens.count + tokenizer.template.addedCount(pair: false))
            }
        case .tsv:
            let unknownText = tokenizer.token(of: unk) ?? ""
            for row in try GLUETSV.read(file) {
                let encrypted = encrypt(row)
                var needed = tokenizer.template.addedCount(pair: encrypted.pair != nil)
                for text in [encrypted.text] + (encrypted.pair.map { [$0] } ?? []) {
                    let tokens = text.split(separator: " ")
                    stats.tokens += tokens.count
                    stats.unknownTokens += tokens.filter { $0 == unknownText }.count
                    needed += tokens.count
                }
                out.append(contentsOf: JSONLinesDataset.json(encrypted).serialized(.compact).utf8)
                out.append(0x0A)
                stats.record(positions: needed)
            }
        }
        return (out, stats)
    }
}
