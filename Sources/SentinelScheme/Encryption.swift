import SentinelCore
import SentinelTokenizer

/// Client-side encryption of text for an adapted model (scheme `seed`, `../shared/docs/SCHEME.md`):
/// the text is tokenized by the ORIGINAL model's tokenizer and every non-special wordpiece is replaced by
/// `blake2b(data: UTF-8 of the piece, key: UTF-8 of the passkey, digest_size: 16).hexdigest()`.
/// Special tokens (`[UNK]`, `[CLS]`, …) are kept as they are: they are never hashed.
///
/// The digest of a piece depends only on its vocabulary id, so all digests are computed once, when the
/// encryptor is made (30,522 BLAKE2b calls for BERT, a few ms); encryption is then a table lookup.
/// The passkey itself is not kept.
public final class Encryptor: @unchecked Sendable {
    /// The original model's tokenizer (WordPiece, byte-level BPE, unigram).
    public let tokenizer: any SubwordTokenizer
    /// The encrypted text of every id, back to back: 32 lowercase hex ASCII bytes for a hashed id, the
    /// token itself for a special id. Id `i` is `text[start[i]..<start[i + 1]]`. Raw memory, immutable
    /// after init, so that threads sharing the encryptor touch no shared reference count per token
    /// (hence `@unchecked Sendable`).
    private let text: UnsafeMutablePointer<UInt8>
    private let start: UnsafeMutablePointer<Int32>
    private let special: [Bool]
    private let idCount: Int
    private let hasher: TokenHasher

    /// The number of hex characters of a digest (16 bytes).
    public static let digestHexLength = Digest.hexLength

    /// Loads the tokenizer of the original model directory and hashes its vocabulary with `key`.
    ///
    /// The tokens left unhashed are the converter's: ``SpecialTokensMap/all``.
    /// - Throws: ``InputError`` from ``Tokenizers/load(directory:)`` (any family); `TokenHasher.Error` when the key is
    ///   over 64 bytes.
    public convenience init(modelDirectory: String, key: String) throws {
        let tokenizer = try Tokenizers.load(directory: modelDirectory)
        try self.init(tokenizer: tokenizer, key: key, specialTokens: try SpecialTokensMap.read(directory: modelDirectory).all)
    }

    /// Hashes the vocabulary of `tokenizer` with `key` (``TokenHasher/hexDigests(of:keeping:)``).
    /// - Parameter specialTokens: the tokens never hashed; nil takes ``SubwordTokenizer/specialIDs``.
    /// - Throws: `TokenHasher.Error` when the key is over 64 bytes.
    public convenience init(tokenizer: any SubwordTokenizer, key: String, specialTokens: [String]? = nil) throws {
        self.init(tokenizer: tokenizer, hasher: try TokenHasher(passkey: key), specialTokens: specialTokens)
    }

    /// Hashes the vocabulary of `tokenizer` with `hasher` (the scheme's: ``AdaptationManifest/tokenHasher(passkey:)``).
    /// - Parameter specialTokens: the tokens never hashed; nil takes the tokenizer's special ids.
    public init(tokenizer: any SubwordTokenizer, hasher: TokenHasher, specialTokens: [String]? = nil) {
        self.tokenizer = tokenizer
        var specialIDs = tokenizer.specialIDs
        if let specialTokens {
            specialIDs = Set(specialTokens.compactMap { tokenizer.id(of: $0) })
        }
        let tokens = (0..<tokenizer.vocabularySize).map { tokenizer.token(of: Int32($0)) ?? "" }
        let special = (0..<tokens.count).map { specialIDs.contains(Int32($0)) }
        let adapted = hasher.hexDigests(of: tokens, keeping: Set(specialIDs.map(Int.init)))
        var text = [UInt8]()
        text.reserveCapacity(tokens.count * Self.digestHexLength)
        var start = [Int32]()
        start.reserveCapacity(tokens.count + 1)
        for token in adapted {
            start.append(Int32(text.count))
            text.append(contentsOf: token.utf8)
        }
        start.append(Int32(text.count))
        self.text = .allocate(capacity: max(text.count, 1))
        self.text.initialize(from: text, count: text.count)
        self.start = .allocate(capacity: start.count)
        self.start.initialize(from: start, count: start.count)
        self.special = special
        idCount = tokens.count
        self.hasher = hasher
    }

    deinit {
        text.deallocate()
        start.deallocate()
    }

    /// The digest of any token text (in the vocabulary or not): 32 lowercase hex characters.
    public func digest(ofToken token: String) -> String {
        hasher.hexDigest(token)
    }

    /// The text that stands for vocabulary id `id` in encrypted output: its digest (32 lowercase hex
    /// characters), or the token itself for a special id. Ids outside the vocabulary (added tokens that are
    /// not in it) give their added token's text.
    public func encryptedToken(id: Int32) -> String {
        guard id >= 0 && Int(id) < idCount else { return (tokenizer.token(of: id) ?? "") }
        return String(
            decoding: UnsafeBufferPointer(
                start: text + Int(start[Int(id)]),
                count: Int(start[Int(id) + 1] - start[Int(id)])), as: UTF8.self)
    }

    /// Appends the encrypted token of `id` (digest or special token text) to `out` as UTF-8 bytes.
    @inline(__always)
    public func appendEncryptedToken(id: Int32, to out: inout [UInt8]) {
        guard id >= 0 && Int(id) < idCount else {
            out.append(contentsOf: (tokenizer.token(of: id) ?? "").utf8)
            return
        }
        out.append(
            contentsOf: UnsafeBufferPointer(
                start: text + Int(start[Int(id)]),
                count: Int(start[Int(id) + 1] - start[Int(id)])))
    }

    /// Whether `id` is written as a digest (false for special tokens).
    public func isHashed(id: Int32) -> Bool { id >= 0 && Int(id) < idCount && !special[Int(id)] }

    /// The digests of the wordpieces of `text`, without `[CLS]`/`[SEP]` (the adapted side adds them);
    /// special tokens in the text and `[UNK]` pieces appear as themselves.
    public func encrypt(text: String) -> [String] {
        tokenizer.pieces(of: text).ids.map(encryptedToken(id:))
    }

    /// Encrypts pre-split words (NER): digests and, for each digest, the index of its word.
    /// A word that normalizes to nothing (only control characters) gets one `[UNK]`, so that every word
    /// keeps a position for its label.
    public func encrypt(words: [String]) -> (tokens: [String], wordIDs: [Int]) {
        let pieces = tokenizer.labelPieces(ofWords: words)
        return (pieces.ids.map(encryptedToken(id:)), pieces.words.map(Int.init))
    }
}
