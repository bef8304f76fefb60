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

    /// Reads `vocab.txt` with SentinelCore's ``Vocabulary`` reader (id = line number, as HF's `load_vocab`).
    /// - Throws: ``InputError`` (`missing` for an empty file, `not_text` naming the line of invalid UTF-8);
    ///   ``OutputError`` when the file can't be read.
    public static func read(vocabTxt path: String, continuingSubwordPrefix: String = "##") throws -> WordPieceVocabulary {
        WordPieceVocabulary(tokens: try Vocabulary(contentsOf: path).tokens, continuingSubwordPrefix: continuingSubwordPrefix)
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
                throw InputError(.invalidStructure, file: file, key: "model.vocab",
                                 "token \(quoted(token)) has id \(value.serialized()), outside 0..<\(entries.count)")
            }
            if let other = tokens[id] {
                throw InputError(.invalidStructure, file: file, key: "model.vocab",
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

/// `token` in double quotes with control characters escaped, for error messages.
func quoted(_ token: String) -> String {
    JSONValue.string(token).serialized()
}
