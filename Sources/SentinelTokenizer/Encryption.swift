import SentinelAdapt
import SentinelCore

/// Client-side encryption of text for an adapted model (scheme `seed`, `../shared/docs/SCHEME.md`):
/// the text is tokenized by the ORIGINAL model's tokenizer and every non-special wordpiece is replaced by
/// `blake2b(data: UTF-8 of the piece, key: UTF-8 of the passkey, digest_size: 16).hexdigest()`.
/// Special tokens (`[UNK]`, `[CLS]`, …) are kept as they are: they are never hashed.
///
/// The digest of a piece depends only on its vocabulary id, so all digests are computed once, when the
/// encryptor is made (30,522 BLAKE2b calls for BERT, a few ms); encryption is then a table lookup.
/// The passkey itself is not kept.
public final class Encryptor: @unchecked Sendable {
    /// The original model's tokenizer (WordPiece, byte-level BPE, …).
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
    public static let digestHexLength = 32

    /// Loads the tokenizer of the original model directory and hashes its vocabulary with `key`.
    ///
    /// The tokens left unhashed are the converter's: ``ModelDirectory/specialTokens(inDirectory:)``.
    /// - Throws: ``InputError`` from ``loadSubwordTokenizer(directory:)``; `TokenHasher.Error` when the key is
    ///   over 64 bytes.
    public convenience init(modelDirectory: String, key: String) throws {
        let tokenizer = try loadSubwordTokenizer(directory: modelDirectory)
        try self.init(tokenizer: tokenizer, key: key, specialTokens: try ModelDirectory.specialTokens(inDirectory: modelDirectory))
    }

    /// Hashes the vocabulary of `tokenizer` with `key`.
    /// - Parameter specialTokens: the tokens never hashed; nil takes ``BertTokenizer/specialIDs``.
    /// - Throws: `TokenHasher.Error` when the key is over 64 bytes.
    public init(tokenizer: any SubwordTokenizer, key: String, specialTokens: [String]? = nil) throws {
        self.tokenizer = tokenizer
        let hasher = try TokenHasher(passkey: key)
        var specialIDs = tokenizer.specialIDs
        if let specialTokens {
            specialIDs = Set(specialTokens.compactMap { tokenizer.id(of: $0) })
        }
        let tokens = tokenizer.tokens((0..<Int32(tokenizer.vocabularySize)).map { $0 })
        var text = [UInt8]()
        text.reserveCapacity(tokens.count * Self.digestHexLength)
        var start = [Int32]()
        start.reserveCapacity(tokens.count + 1)
        var special = [Bool](repeating: false, count: tokens.count)
        for (id, token) in tokens.enumerated() {
            start.append(Int32(text.count))
            if specialIDs.contains(Int32(id)) {
                special[id] = true
                text.append(contentsOf: token.utf8)
            } else {
                text.append(contentsOf: hasher.hexDigest(token).utf8)
            }
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
        guard id >= 0 && Int(id) < idCount else { return tokenizer.tokens([id])[0] }
        return String(decoding: UnsafeBufferPointer(start: text + Int(start[Int(id)]),
                                                    count: Int(start[Int(id) + 1] - start[Int(id)])), as: UTF8.self)
    }

    /// Appends the encrypted token of `id` (digest or special token text) to `out` as UTF-8 bytes.
    @inline(__always)
    public func appendEncryptedToken(id: Int32, to out: inout [UInt8]) {
        guard id >= 0 && Int(id) < idCount else { out.append(contentsOf: tokenizer.tokens([id])[0].utf8); return }
        out.append(contentsOf: UnsafeBufferPointer(start: text + Int(start[Int(id)]),
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

/// The adapted model's side of the scheme: its `vocab.txt` lists digests (and the special tokens) in
/// adapted-id order; a digest sequence becomes `input_ids`, an unknown digest `[UNK]`.
public struct AdaptedVocabulary: Sendable {
    public let vocabulary: WordPieceVocabulary
    public let unknownID: Int32
    public let clsID: Int32
    public let sepID: Int32
    public let padID: Int32

    /// Reads an adapted model directory (`vocab.txt`; `vocab.json` for a byte-level BPE model; else `tokenizer.json`)
    /// or a `vocab.txt` path.
    /// - Throws: ``InputError`` (`missing`) when the vocabulary lacks `[UNK]`, `[CLS]`, `[SEP]` or `[PAD]`.
    public init(path: String) throws {
        let vocabPath: String
        if fileExists(path) {
            vocabPath = path
            vocabulary = try WordPieceVocabulary.read(vocabTxt: path)
        } else if fileExists(path + "/vocab.txt") {
            vocabPath = path + "/vocab.txt"
            vocabulary = try WordPieceVocabulary.read(vocabTxt: vocabPath)
        } else if fileExists(path + "/vocab.json") {
            // An adapted byte-level BPE model: vocab.json of digests, RoBERTa's special tokens.
            vocabPath = path + "/vocab.json"
            vocabulary = try WordPieceVocabulary.fromTokenizerJSON(try readJSON(vocabPath), file: vocabPath, prefix: "")
            var config = ByteLevelBPETokenizer.SpecialConfig()
            for name in ["tokenizer_config.json", "special_tokens_map.json"] where fileExists(path + "/" + name) {
                config.read(try readJSON(path + "/" + name))
            }
            let vocab = vocabulary
            func require(_ token: String) throws -> Int32 {
                guard let id = vocab.id(of: token) else {
                    throw InputError(.missing, file: vocabPath, key: token, "the adapted vocabulary has no \(quoted(token))")
                }
                return id
            }
            (unknownID, clsID, sepID, padID) = (try require(config.unk), try require(config.cls), try require(config.sep), try require(config.pad))
            return
        } else {
            let tokenizer = try BertTokenizer.load(directory: path)
            vocabPath = path + "/tokenizer.json"
            vocabulary = tokenizer.vocabulary
        }
        var special = BertTokenizer.SpecialTokens()
        let directory = fileExists(path) ? String(path[..<(path.lastIndex(of: "/") ?? path.startIndex)]) : path
        if !directory.isEmpty, fileExists(directory + "/special_tokens_map.json") {
            special.read(try readJSON(directory + "/special_tokens_map.json"))
        }
        let vocab = vocabulary
        func require(_ token: String) throws -> Int32 {
            guard let id = vocab.id(of: token) else {
                throw InputError(.missing, file: vocabPath, key: token, "the adapted vocabulary has no \(quoted(token))")
            }
            return id
        }
        unknownID = try require(special.unknown)
        clsID = try require(special.classifier)
        sepID = try require(special.separator)
        padID = try require(special.padding)
    }

    /// The adapted id of an encrypted token (a digest or a special token's text); `[UNK]` when unknown.
    public func id(of encryptedToken: String) -> Int32 {
        vocabulary.id(of: encryptedToken) ?? unknownID
    }

    /// `input_ids` for a sequence of encrypted tokens: `[CLS] … [SEP]` (or bare without special tokens).
    public func inputIDs(_ encryptedTokens: [String], addSpecialTokens: Bool = true) -> [Int32] {
        var ids = encryptedTokens.map(id(of:))
        if addSpecialTokens {
            ids.insert(clsID, at: 0)
            ids.append(sepID)
        }
        return ids
    }

    /// `input_ids` and `token_type_ids` for a pair: `[CLS] A [SEP] B [SEP]`.
    public func inputIDs(_ first: [String], _ second: [String]) -> (inputIDs: [Int32], tokenTypeIDs: [Int32]) {
        let a = inputIDs(first)
        let b = second.map(id(of:)) + [sepID]
        return (a + b, [Int32](repeating: 0, count: a.count) + [Int32](repeating: 1, count: b.count))
    }
}
