import SentinelTokenizer

/// Turns one line of input into model input for the commands that run the encoder (`embed`, `predict`,
/// `evaluate`): plain text through the model's own tokenizer, or encrypted text (space-separated digests,
/// the output of `sentinel encrypt`) through the adapted model's vocabulary (``AdaptedVocabulary``).
/// Both use the model's special-token template and longest-first truncation.
public enum InputEncoder {
    case plain(any SubwordTokenizer)
    case encrypted(AdaptedVocabulary)

    /// The encoder for `directory`'s model: its tokenizer, or with `encrypted` its (adapted) vocabulary.
    /// - Throws: ``InputError`` from the tokenizer or vocabulary readers.
    public static func load(directory: String, encrypted: Bool) throws -> InputEncoder {
        encrypted ? .encrypted(try AdaptedVocabulary(path: directory)) : .plain(try Tokenizers.load(directory: directory))
    }

    /// One row: `text` (and `pair`) with the template, cut longest-first to `maxLength` positions.
    public func encode(_ text: Substring, pair: Substring? = nil, maxLength: Int) -> Encoding {
        switch self {
        case let .plain(tokenizer):
            return tokenizer.encode(String(text), pair: pair.map(String.init), truncation: .longestFirst(maxLength: maxLength))
        case let .encrypted(vocabulary):
            return vocabulary.encode(text, pair: pair, maxLength: maxLength)
        }
    }

    /// The vocabulary spelling of each id (wordpieces for plain input, digests for encrypted input).
    public func tokens(_ ids: [Int32]) -> [String] {
        switch self {
        case let .plain(tokenizer): return tokenizer.tokens(ids)
        case let .encrypted(vocabulary):
            return ids.map { Int($0) >= 0 && Int($0) < vocabulary.count ? vocabulary.vocabulary.tokens[Int($0)] : "" }
        }
    }

    /// The id unknown input maps to.
    public var unknownID: Int32 {
        switch self {
        case let .plain(tokenizer): return tokenizer.unknownID
        case let .encrypted(vocabulary): return vocabulary.unknownID
        }
    }
}
