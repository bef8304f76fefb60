import SentinelCore

/// One sentence of a word-per-line NER file: words and their word-level labels (same count).
public struct NERSentence: Sendable, Equatable {
    public var words: [String]
    public var labels: [String]
    /// 1-based line number of the sentence's first word in its file.
    public var line: Int

    public init(words: [String], labels: [String], line: Int) {
        self.words = words
        self.labels = labels
        self.line = line
    }
}

/// Readers for word-per-line NER files (format notes: `Formats/datasets.md`).
///
/// - CoNLL-2003: four space-separated columns `word POS chunk NER`, `-DOCSTART- -X- -X- O` lines,
///   blank lines between sentences.
/// - WNUT-16 Twitter NER: `word<TAB>tag`; sentences are separated by lines holding a single tab.
///
/// One reader covers both: a line with a TAB is split on tabs, otherwise on runs of spaces; the word is the
/// first column and the label the last; a line of only whitespace ends a sentence; a line whose first
/// column is `-DOCSTART-` ends the sentence and is skipped. Every data line must have the same number of
/// columns as the first one (or `columns`, when given).
public enum NERCorpus {
    /// The label of word-pieces that are not the first of their word, and of special tokens
    /// (PyTorch's `CrossEntropyLoss` ignore index, as in HF's token-classification recipe).
    public static let ignoreIndex: Int32 = -100

    /// Reads all sentences of `path`.
    /// - Parameter columns: the required column count (4 for CoNLL-2003, 2 for WNUT); nil takes it from the
    ///   first data line (at least 2).
    /// - Throws: ``InputError``: `file_too_small` for an empty file, `not_text` for invalid UTF-8,
    ///   `invalid_structure` for a line with the wrong column count or a word column holding spaces (a TSV of
    ///   sentences; message names the line; offset is the line's first byte); ``OutputError`` when the file can't be read.
    public static func read(path: String, columns: Int? = nil) throws -> [NERSentence] {
        try read(TextFile(path: path), columns: columns)
    }

    /// Reads all sentences of an already opened file (e.g. standard input).
    public static func read(_ file: TextFile, columns: Int? = nil) throws -> [NERSentence] {
        let path = file.path
        var sentences: [NERSentence] = []
        var current = NERSentence(words: [], labels: [], line: 0)
        var expected = columns
        func finish() {
            if !current.words.isEmpty { sentences.append(current) }
            current = NERSentence(words: [], labels: [], line: 0)
        }
        try file.forEachLine { line in
            if line.isBlank {
                finish()
                return
            }
            let fields = split(line.bytes)
            if fields.first == "-DOCSTART-" {
                finish()
                return
            }
            if expected == nil {
                guard fields.count >= 2 else {
                    throw InputError(
                        .invalidStructure, file: path, offset: line.offset,
                        "line \(line.number): expected a word and a label, found \(fields.count) column(s)")
                }
                expected = fields.count
            }
            guard fields.count == expected else {
                throw InputError(
                    .invalidStructure, file: path, offset: line.offset,
                    "line \(line.number): expected \(expected ?? 0) columns, found \(fields.count)")
            }
            // A word never holds a space: a first column with spaces is a sentence per line (a GLUE TSV, plain text).
            if fields[0].utf8.contains(0x20) {
                throw InputError(
                    .invalidStructure, file: path, offset: line.offset,
                    "line \(line.number): the word column holds spaces, so this is not a word-per-line NER file (a TSV of sentences? use --format tsv)"
                )
            }
            if current.words.isEmpty { current.line = line.number }
            current.words.append(fields[0])
            current.labels.append(fields[fields.count - 1])
        }
        finish()
        if sentences.isEmpty {
            throw InputError(.missing, file: path, offset: 0, "line 1: the file holds no sentence")
        }
        return sentences
    }

    /// Splits on tabs when the line has one, else on runs of spaces; no empty fields from runs of spaces.
    static func split(_ bytes: UnsafeRawBufferPointer) -> [String] {
        if bytes.contains(0x09) {
            var fields = bytes.split(separator: 0x09, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
            // A trailing tab (or spaces) does not make an extra column.
            while let last = fields.last, last.allSatisfy({ $0 == " " }), fields.count > 1 { fields.removeLast() }
            return fields
        }
        return bytes.split(separator: 0x20).map { String(decoding: $0, as: UTF8.self) }
    }

    /// The label names in the order of first appearance, for a label ↔ id map.
    public static func labelNames(_ sentences: [NERSentence]) -> [String] {
        var seen = Set<String>()
        var names: [String] = []
        for s in sentences {
            for l in s.labels where seen.insert(l).inserted { names.append(l) }
        }
        return names
    }
}

/// Wordpieces of a sentence with labels aligned to them.
public struct AlignedLabels: Sendable, Equatable {
    public var pieces: Pieces
    /// Per piece: the word's label id on the first piece of each word, ``NERCorpus/ignoreIndex`` elsewhere.
    public var labels: [Int32]
}

extension BertTokenizer {
    /// Tokenizes pre-split words and aligns word-level labels to the FIRST wordpiece of each word
    /// (the others get -100), as HF's token-classification recipe does with `word_ids()`.
    ///
    /// Genuine `[UNK]` pieces are kept (the authors' NER script drops them together with special tokens,
    /// which silently removes words); a word that normalizes to nothing gets one `[UNK]`, so every word
    /// keeps exactly one label. No special tokens are added; ``assemble(_:_:addSpecialTokens:truncation:padding:)``
    /// does that, and their label is -100.
    /// - Precondition: `labels.count == words.count`.
    public func alignLabels(words: [String], labels: [Int32], workspace: inout TokenizerWorkspace) -> AlignedLabels {
        precondition(words.count == labels.count, "one label per word")
        var pieces = Pieces()
        appendWords(words, to: &pieces, workspace: &workspace)
        var aligned = [Int32](repeating: NERCorpus.ignoreIndex, count: pieces.count)
        var previous: Int32 = -1
        for i in 0..<pieces.count where pieces.words[i] != previous {
            previous = pieces.words[i]
            aligned[i] = labels[Int(previous)]
        }
        return AlignedLabels(pieces: pieces, labels: aligned)
    }
}

/// One row of a GLUE TSV file: one text (SST-2) or a pair (MRPC, RTE) and its label.
public struct TextExample: Sendable, Equatable {
    public var text: String
    public var pair: String?
    public var label: String
    /// 1-based line number in the file.
    public var line: Int

    public init(text: String, pair: String? = nil, label: String, line: Int) {
        self.text = text
        self.pair = pair
        self.label = label
        self.line = line
    }
}

/// GLUE TSV files (format notes: `Formats/datasets.md`): a header line, then TAB-separated rows with no
/// quoting. The columns are found by the header's names:
/// SST-2 `sentence, label`; RTE `index, sentence1, sentence2, label`;
/// MRPC `Quality, #1 ID, #2 ID, #1 String, #2 String` (a UTF-8 BOM before the header is skipped).
public enum GLUETSV {
    /// Reads every row of `path`.
    /// - Throws: ``InputError``: `file_too_small` (empty), `not_text` (invalid UTF-8), `unknown_format`
    ///   (a header without known column names), `invalid_structure` (a row whose field count differs
    ///   from the header's, with the line number and byte offset); ``OutputError``.
    public static func read(path: String) throws -> [TextExample] {
        try read(TextFile(path: path))
    }

    /// Reads every row of an already opened file (e.g. standard input).
    public static func read(_ file: TextFile) throws -> [TextExample] {
        let path = file.path
        var header: [String]?
        var columns: (text: Int, pair: Int?, label: Int) = (0, nil, 0)
        var rows: [TextExample] = []
        try file.forEachLine { line in
            var bytes = line.bytes
            if line.number == 1, bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes = UnsafeRawBufferPointer(rebasing: bytes[3...]) }
            let fields = bytes.split(separator: 0x09, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
            guard let header else {
                func index(_ name: String) -> Int? { fields.firstIndex(of: name) }
                if let t = index("sentence"), let l = index("label") {
                    columns = (t, nil, l)
                } else if let a = index("sentence1"), let b = index("sentence2"), let l = index("label") {
                    columns = (a, b, l)
                } else if let a = index("#1 String"), let b = index("#2 String"), let l = index("Quality") {
                    columns = (a, b, l)
                } else {
                    throw InputError(
                        .unknownFormat, file: path, offset: line.offset,
                        "line 1: header \(quoted(fields.joined(separator: "\t"))) has none of the GLUE column sets (sentence,label | sentence1,sentence2,label | Quality,#1 String,#2 String)"
                    )
                }
                header = fields
                return
            }
            if line.isBlank && line.bytes.isEmpty { return }
            guard fields.count == header.count else {
                throw InputError(
                    .invalidStructure, file: path, offset: line.offset,
                    "line \(line.number): expected \(header.count) TAB-separated fields, found \(fields.count)")
            }
            rows.append(
                TextExample(
                    text: fields[columns.text], pair: columns.pair.map { fields[$0] },
                    label: fields[columns.label], line: line.number))
        }
        if header == nil {
            throw InputError(.fileTooSmall, file: path, offset: 0, "line 1: the file is empty")
        }
        return rows
    }
}
