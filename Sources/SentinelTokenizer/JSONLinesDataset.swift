import SentinelCore

/// Datasets as JSON lines with the field names of the HuggingFace datasets (`datasets.load_dataset("json",
/// data_files=…)` loads them as they are): token classification `{"tokens": [...], "ner_tags": [...]}` (as
/// `conll2003`), sequence classification `{"sentence": ..., "label": ...}` (as `glue/sst2`) or
/// `{"sentence1": ..., "sentence2": ..., "label": ...}` (as `glue/rte`, `glue/mrpc`).
///
/// `sentinel encrypt` writes its CoNLL and TSV output in this form, the tokens being digests; for
/// encrypted NER each record also has `word_ids` (the word of each digest, as HF's `word_ids()`), and
/// `ner_tags` holds each digest's word label. Format notes: `Formats/datasets.md`.
public enum JSONLinesDataset {
    /// One token-classification record.
    public struct NERRecord: Sendable, Equatable {
        /// Words (plain) or digests (encrypted).
        public var tokens: [String]
        /// One label per token (strings; integer tags are kept as their decimal text).
        public var nerTags: [String]
        /// The word of each token, or nil when every token is its own word.
        public var wordIDs: [Int]?
        /// 1-based line number in the file.
        public var line: Int

        public init(tokens: [String], nerTags: [String], wordIDs: [Int]? = nil, line: Int) {
            self.tokens = tokens
            self.nerTags = nerTags
            self.wordIDs = wordIDs
            self.line = line
        }

        /// The word index of each token (``wordIDs``, or 0, 1, 2, … when absent).
        public var words: [Int] { wordIDs ?? Array(tokens.indices) }

        /// One label per word: the label of each word's first token.
        public var wordLabels: [String] {
            var out: [String] = []
            var previous = -1
            for (i, w) in words.enumerated() where w != previous {
                previous = w
                out.append(nerTags[i])
            }
            return out
        }

        /// The record as one JSON line (no trailing newline).
        public var json: JSONValue {
            var fields: [(String, JSONValue)] = [
                ("tokens", .array(tokens.map { .string($0) })),
                ("ner_tags", .array(nerTags.map { .string($0) })),
            ]
            if let wordIDs { fields.append(("word_ids", .array(wordIDs.map { .int(Int64($0)) }))) }
            return .object(fields)
        }
    }

    /// Whether `file` is in this format, for commands that detect it: its first non-blank line parses as a JSON
    /// object with a record's field (`tokens`, `sentence`, or `sentence1`). A text line that merely starts with `{`
    /// (`{braces} in a sentence`) is text.
    public static func looksLikeJSONLines(_ file: TextFile) -> Bool {
        guard file.bytes.first(where: { $0 != 0x20 && $0 != 0x09 && $0 != 0x0A && $0 != 0x0D }) == 0x7B else { return false }
        var found = false
        var done = false
        file.forEachLine { line in
            guard !done, !line.isBlank else { return }
            done = true
            guard let v = try? JSONValue.parse(line.bytes), v.objectValue != nil else { return }
            found = v["tokens"]?.arrayValue != nil || v["sentence"]?.stringValue != nil || v["sentence1"]?.stringValue != nil
        }
        return found
    }

    /// Whether the first record of `file` is a token-classification record (it has `tokens`), as `sentinel encrypt
    /// --format conll` writes them; false for classification records or when the first line is not JSON.
    public static func holdsTokenRecords(_ file: TextFile) -> Bool {
        var found = false
        var done = false
        file.forEachLine { line in
            guard !done, !line.isBlank else { return }
            done = true
            found = (try? JSONValue.parse(line.bytes))?["tokens"] != nil
        }
        return found
    }

    /// Parses every non-blank line as a JSON object.
    /// - Throws: ``InputError`` `.notJSON` naming the line and the byte offset of the error in the file.
    static func objects(_ file: TextFile) throws -> [(line: Int, offset: Int, value: JSONValue)] {
        var out: [(Int, Int, JSONValue)] = []
        try file.forEachLine { line in
            if line.isBlank { return }
            do {
                let value = try JSONValue.parse(line.bytes)
                guard value.objectValue != nil else {
                    throw InputError(.invalidStructure, file: file.path, offset: line.offset, "line \(line.number): not a JSON object")
                }
                out.append((line.number, line.offset, value))
            } catch let e as JSONValue.ParseError {
                throw InputError(.notJSON, file: file.path, offset: line.offset + e.offset, "line \(line.number): \(e.reason)")
            }
        }
        return out
    }

    private static func text(_ v: JSONValue) -> String? {
        if let s = v.stringValue { return s }
        if let i = v.int64Value { return String(i) }
        return nil
    }

    /// Reads token-classification records.
    /// - Throws: ``InputError`` (`invalid_structure`) naming the line and key for a record without `tokens`,
    ///   with tags or word ids of another length, or with non-increasing word ids.
    public static func readNER(_ file: TextFile) throws -> [NERRecord] {
        try objects(file).map { line, offset, v in
            func fail(_ key: String, _ why: String) -> InputError {
                InputError(.invalidStructure, file: file.path, offset: offset, key: key, "line \(line): \(why)")
            }
            guard let tokens = v["tokens"]?.arrayValue?.compactMap(\.stringValue), tokens.count == v["tokens"]?.arrayValue?.count else {
                throw fail("tokens", "needs \"tokens\", a list of strings")
            }
            let tagValues = v["ner_tags"]?.arrayValue ?? v["labels"]?.arrayValue ?? []
            let tags = tagValues.compactMap(text)
            guard tags.count == tagValues.count, tags.isEmpty || tags.count == tokens.count else {
                throw fail("ner_tags", "needs one tag (string or integer) per token: \(tagValues.count) for \(tokens.count) tokens")
            }
            var wordIDs: [Int]?
            if let ids = v["word_ids"]?.arrayValue {
                let w = ids.compactMap(\.intValue)
                guard w.count == tokens.count, w.count == ids.count else { throw fail("word_ids", "needs one integer per token") }
                guard zip(w, w.dropFirst()).allSatisfy({ $0 <= $1 && $1 - $0 <= 1 }), w.first.map({ $0 == 0 }) ?? true else {
                    throw fail("word_ids", "word ids must start at 0 and count up by at most 1")
                }
                wordIDs = w
            }
            return NERRecord(
                tokens: tokens, nerTags: tags.isEmpty ? Array(repeating: "O", count: tokens.count) : tags,
                wordIDs: wordIDs, line: line)
        }
    }

    /// Reads sequence-classification records (`sentence`, or `sentence1` + `sentence2`; `label` string or integer).
    /// - Throws: ``InputError`` (`invalid_structure`) naming the line and the missing key.
    public static func readClassification(_ file: TextFile) throws -> [TextExample] {
        try objects(file).map { line, offset, v in
            let label = v["label"].flatMap(text) ?? ""
            if let s = v["sentence"]?.stringValue { return TextExample(text: s, label: label, line: line) }
            if let a = v["sentence1"]?.stringValue, let b = v["sentence2"]?.stringValue {
                return TextExample(text: a, pair: b, label: label, line: line)
            }
            throw InputError(
                .invalidStructure, file: file.path, offset: offset, key: "sentence",
                "line \(line): needs \"sentence\" or \"sentence1\" and \"sentence2\"")
        }
    }

    /// A classification record as one JSON line; an integer label (SST-2's 0/1) stays an integer.
    public static func json(_ example: TextExample) -> JSONValue {
        let label: JSONValue = Int64(example.label).map { .int($0) } ?? .string(example.label)
        if let pair = example.pair {
            return .object([("sentence1", .string(example.text)), ("sentence2", .string(pair)), ("label", label)])
        }
        return .object([("sentence", .string(example.text)), ("label", label)])
    }
}
