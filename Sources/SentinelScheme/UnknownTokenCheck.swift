import SentinelTokenizer

/// Counts how much of an input became the unknown token (`[UNK]`) and judges it.
///
/// Input that is mostly `[UNK]` is a wrong input, not data: plain text given to an adapted model, digests
/// (`--encrypted`) given to a plain model, digests made with another key or for another model, or
/// `sentinel encrypt` given the adapted directory instead of the original one. The commands that turn
/// text into ids (`embed`, `predict`, `encrypt`) count every row with this type and, above a threshold,
/// stop with an ``UnknownTokenError`` (CLI exit 1) whose message gives the fraction and the likely cause.
///
/// Only the tokens of the text are counted: the special tokens the template adds (`[CLS]`, `[SEP]`, padding)
/// are not.
public struct UnknownTokenCheck: Sendable {
    /// What the command does with the input.
    public enum Input: String, Sendable {
        /// Plain text through the model's own tokenizer (`embed`, `predict` without `--encrypted`).
        case plainText = "plain text"
        /// Space-separated digests through the model's vocabulary (`embed`/`predict --encrypted`).
        case encryptedText = "encrypted text"
        /// Plain text through the original model's tokenizer, to be hashed (`encrypt`).
        case encryption = "text to encrypt"
    }

    /// The default largest accepted fraction of unknown tokens (`--max-unknown`).
    public static let defaultMaxFraction = 0.5

    public let input: Input
    /// The id unknown input maps to.
    public let unknownID: Int32
    /// Whether the model's vocabulary is an adapted one (most entries are digests).
    public let modelIsAdapted: Bool
    /// The model directory, named in the message.
    public let model: String
    /// The input file, named in the message (`<stdin>` for standard input).
    public let file: String
    /// Tokens of the text counted so far (special tokens excluded).
    public private(set) var tokens = 0
    /// How many of them are the unknown id.
    public private(set) var unknown = 0

    /// - Parameters:
    ///   - vocabulary: the model's tokens in id order (to tell an adapted vocabulary from a plain one).
    public init(input: Input, unknownID: Int32, vocabulary: [String], model: String, file: String) {
        self.input = input
        self.unknownID = unknownID
        self.modelIsAdapted = Self.isAdapted(vocabulary: vocabulary)
        self.model = model
        self.file = file
    }

    /// The check for the rows an ``InputEncoder`` makes (`embed`, `predict`).
    public init(encoder: InputEncoder, model: String, file: String) {
        switch encoder {
        case let .plain(tokenizer):
            self.init(
                input: .plainText, unknownID: tokenizer.unknownID, vocabulary: Self.tokens(of: tokenizer),
                model: model, file: file)
        case let .encrypted(vocabulary):
            self.init(
                input: .encryptedText, unknownID: vocabulary.unknownID, vocabulary: vocabulary.vocabulary.tokens,
                model: model, file: file)
        }
    }

    /// The check for `sentinel encrypt`: the original model's tokenizer, held by `encryptor`, with the counts
    /// made so far (`unknown` of `tokens` wordpieces were the tokenizer's unknown id).
    public init(encryptor: Encryptor, model: String, file: String, unknown: Int = 0, tokens: Int = 0) {
        self.init(
            input: .encryption, unknownID: encryptor.tokenizer.unknownID,
            vocabulary: Self.tokens(of: encryptor.tokenizer), model: model, file: file)
        add(unknown: unknown, tokens: tokens)
    }

    /// Counts the text positions of one row (positions whose `sequenceIDs` entry is not nil).
    public mutating func count(_ encoding: Encoding) {
        for (id, sequence) in zip(encoding.inputIDs, encoding.sequenceIDs) where sequence != nil {
            tokens += 1
            if id == unknownID { unknown += 1 }
        }
    }

    /// Counts ids that are all text tokens (no special tokens added), e.g. the pieces `encrypt` hashes.
    public mutating func count(ids: some Sequence<Int32>) {
        for id in ids {
            tokens += 1
            if id == unknownID { unknown += 1 }
        }
    }

    /// Adds counts made elsewhere.
    public mutating func add(unknown: Int, tokens: Int) {
        self.unknown += unknown
        self.tokens += tokens
    }

    /// `unknown / tokens`, 0 for an input without tokens.
    public var fraction: Double { tokens == 0 ? 0 : Double(unknown) / Double(tokens) }

    /// The most likely reason for an input that is mostly unknown, from what the command did and whether the
    /// model's vocabulary holds digests.
    public var likelyCause: String {
        switch (input, modelIsAdapted) {
        case (.plainText, true):
            return "\(model) is an adapted model (its vocabulary holds digests), so plain text becomes [UNK]: "
                + "encrypt the text with `sentinel encrypt ORIGINAL_MODEL` and pass --encrypted"
        case (.plainText, false):
            return "most words are not in the vocabulary of \(model) (another language or script, or a model without its own tokenizer files?)"
        case (.encryptedText, false):
            return "--encrypted was given but \(model) is not an adapted model (its vocabulary holds no digests): "
                + "give the adapted model, or drop --encrypted for plain text"
        case (.encryptedText, true):
            return "the digests are not in the vocabulary of \(model): the text was encrypted with another key or for another "
                + "model, or without --manifest for a hardened model (`sentinel encrypt ORIGINAL --manifest ADAPTED_DIR`), or the lines are "
                + "not digests (plain text given with --encrypted?)"
        case (.encryption, true):
            return "\(model) is an adapted model (its vocabulary holds digests): `encrypt` needs the ORIGINAL model's directory"
        case (.encryption, false):
            return "most words are not in the vocabulary of \(model) (another language or script?)"
        }
    }

    /// The report line: how many tokens of `file` are `[UNK]`, the fraction, and the likely cause.
    public var message: String {
        "\(unknown) of \(tokens) tokens of the \(input.rawValue) in \(file) are [UNK] (fraction \(Self.format(fraction))); "
            + likelyCause
    }

    /// Judges the counts: nil when the fraction is at most `maxFraction` (or there are no tokens), else the error.
    public func failure(maxFraction: Double) -> UnknownTokenError? {
        guard tokens > 0, fraction > maxFraction else { return nil }
        return UnknownTokenError(unknown: unknown, tokens: tokens, maxFraction: maxFraction, file: file, message: message)
    }

    /// Whether most entries of `vocabulary` are digests (32 lowercase hex characters): an adapted model's.
    public static func isAdapted(vocabulary: [String]) -> Bool {
        guard !vocabulary.isEmpty else { return false }
        let digests = vocabulary.reduce(0) { $0 + (Digest.isCanonical($1) ? 1 : 0) }
        return 2 * digests > vocabulary.count
    }

    static func tokens(of tokenizer: any SubwordTokenizer) -> [String] {
        (0..<tokenizer.vocabularySize).map { tokenizer.token(of: Int32($0)) ?? "" }
    }

    /// `x` with 3 decimals (no Foundation).
    static func format(_ x: Double) -> String {
        let thousandths = Int((x * 1000).rounded())
        let fraction = String(thousandths % 1000)
        return "\(thousandths / 1000)." + String(repeating: "0", count: 3 - fraction.count) + fraction
    }
}

/// An input that is mostly `[UNK]` (``UnknownTokenCheck``): more than `maxFraction` of its `tokens` are unknown.
/// The CLI reports it with exit 1 (a check failed).
public struct UnknownTokenError: Error, CustomStringConvertible, Sendable, Equatable {
    public var unknown: Int
    public var tokens: Int
    public var maxFraction: Double
    /// The input file (`<stdin>` for standard input).
    public var file: String
    /// The counts, the fraction and the likely cause.
    public var message: String

    public var fraction: Double { tokens == 0 ? 0 : Double(unknown) / Double(tokens) }

    public var description: String {
        message + " (more than the accepted \(UnknownTokenCheck.format(maxFraction)))"
    }
}
