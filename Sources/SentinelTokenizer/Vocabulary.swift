import SentinelCore

/// A WordPiece vocabulary: token ↔ id, with byte-keyed lookup tables for the tokenizer's hot loop.
///
/// Ids are the line numbers of `vocab.txt` (0-based) or the values of `tokenizer.json`'s `model.vocab`.
/// Lookups of word-initial pieces use the whole token; continuation pieces (`##ing`) are also kept in a
/// second table without the prefix, so the WordPiece loop never concatenates strings.
public struct WordPieceVocabulary: Sendable {
    /// Token of each id, `[vocab]`.
    public let tokens: [String]
    let whole: ByteTable
    let continuation: ByteTable
    /// The continuing-subword prefix, `##` for BERT.
    public let continuingSubwordPrefix: String

    /// Number of ids (the embedding matrix has this many rows).
    public var count: Int { tokens.count }

    /// Builds the tables for `tokens` (index = id).
    public init(tokens: [String], continuingSubwordPrefix: String = "##") {
        self.tokens = tokens
        self.continuingSubwordPrefix = continuingSubwordPrefix
        let whole = ByteTable(capacity: tokens.count)
        let continuation = ByteTable(capacity: tokens.count / 4)
        let prefix = Array(continuingSubwordPrefix.utf8)
        for (id, token) in tokens.enumerated() {
            let bytes = Array(token.utf8)
            whole.insert(bytes, value: Int32(id))
            if !prefix.isEmpty, bytes.count > prefix.count, bytes.starts(with: prefix) {
                continuation.insert(bytes[prefix.count...], value: Int32(id))
            }
        }
        whole.freeze()
        continuation.freeze()
        self.whole = whole
        self.continuation = continuation
    }

    /// The id of `token`, or nil.
    public func id(of token: String) -> Int32? { whole.lookup(token) }

    /// Reads `vocab.txt` as HuggingFace's `load_vocab` does (`transformers/models/bert/tokenization_bert.py`):
    /// line `i` is the token with id `i`; a text-mode `open(…, encoding="utf-8")`, so Python's universal
    /// newlines apply: `\n`, `\r\n` and a lone `\r` all end a line; no empty token after a final line break.
    /// - Throws: ``InputError`` (`missing` for an empty file, `not_text` naming the line and byte offset of
    ///   invalid UTF-8); ``OutputError`` when the file can't be read.
    public static func read(vocabTxt path: String, continuingSubwordPrefix: String = "##") throws -> WordPieceVocabulary {
        let f = try MappedFile(path: path)
        var tokens: [String] = []
        try withExtendedLifetime(f) {
            let b = f.bytes
            var start = 0, i = 0
            func take(_ end: Int) throws {
                let slice = UnsafeRawBufferPointer(rebasing: b[start..<end])
                guard let s = String(validating: slice, as: UTF8.self) else {
                    throw InputError(.notText, file: path, offset: start, key: "line \(tokens.count + 1)", "not valid UTF-8")
                }
                tokens.append(s)
            }
            while i < b.count {
                if b[i] == 0x0A || b[i] == 0x0D {
                    try take(i)
                    if b[i] == 0x0D && i + 1 < b.count && b[i + 1] == 0x0A { i += 1 }
                    start = i + 1
                }
                i += 1
            }
            if start < b.count { try take(b.count) }
        }
        guard !tokens.isEmpty else { throw InputError(.missing, file: path, "the vocabulary is empty") }
        return WordPieceVocabulary(tokens: tokens, continuingSubwordPrefix: continuingSubwordPrefix)
    }

    /// The first thing that makes this vocabulary unfit for adaptation, as an error naming `path` and
    /// the line: a byte-order mark, an empty token, or a token listed twice (each would give the adapted
    /// vocabulary a digest that no client produces, or two ids for one digest).
    public func checkForAdaptation(path: String) throws {
        if tokens.first?.unicodeScalars.first == "\u{FEFF}" {
            throw InputError(
                .invalidStructure, file: path, offset: 0, key: "line 1",
                "starts with a byte-order mark (U+FEFF), which would become part of the first token")
        }
        var seen: [String: Int] = [:]
        for (i, t) in tokens.enumerated() {
            if t.isEmpty { throw InputError(.invalidStructure, file: path, key: "line \(i + 1)", "empty line: a token cannot be empty") }
            if let first = seen[t] {
                throw InputError(.invalidStructure, file: path, key: "line \(i + 1)", "token repeats line \(first + 1)")
            }
            seen[t] = i
        }
    }

    /// Reads `model.vocab` of a parsed `tokenizer.json` (an object token → id). Ids must cover 0..<n once each.
    /// - Throws: ``InputError`` (`invalid_structure`, key `model.vocab`) naming the offending token.
    static func fromTokenizerJSON(_ vocab: JSONValue, file: String, prefix: String) throws -> WordPieceVocabulary {
        guard let entries = vocab.objectValue else {
            throw InputError(.invalidStructure, file: file, key: "model.vocab", "model.vocab is not an object")
        }
        var tokens = [String?](repeating: nil, count: entries.count)
        for (token, value) in entries {
            guard let id = value.intValue, id >= 0, id < entries.count else {
                throw InputError(
                    .invalidStructure, file: file, key: "model.vocab",
                    "token \(quoted(token)) has id \(value.serialized()), outside 0..<\(entries.count)")
            }
            if let other = tokens[id] {
                throw InputError(
                    .invalidStructure, file: file, key: "model.vocab",
                    "tokens \(quoted(other)) and \(quoted(token)) share id \(id)")
            }
            tokens[id] = token
        }
        if let gap = tokens.firstIndex(where: { $0 == nil }) {
            throw InputError(.invalidStructure, file: file, key: "model.vocab", "no token has id \(gap) (duplicate keys?)")
        }
        return WordPieceVocabulary(tokens: tokens.map { $0 ?? "" }, continuingSubwordPrefix: prefix)
    }
}
