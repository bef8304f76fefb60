import SentinelCore
import SentinelTokenizer

/// The spelling of token digests in encrypted text and adapted vocabularies (SCHEME.md step 3).
public enum Digest {
    /// Characters of a digest: 16 bytes as hex.
    public static let hexLength = 32

    /// The one rule every command applies to a token of encrypted text: 32 hex characters of either case
    /// are a digest, returned in the canonical lowercase spelling the vocabularies hold; anything else
    /// (a special token such as `[CLS]`) is returned as it is.
    public static func canonical(_ token: Substring) -> String {
        let u = token.utf8
        guard u.count == hexLength, u.allSatisfy(isHex) else { return String(token) }
        return u.contains(where: { $0 >= 0x41 && $0 <= 0x46 }) ? token.lowercased() : String(token)
    }

    public static func canonical(_ token: String) -> String { canonical(token[...]) }

    /// Whether `text` is a digest in canonical spelling (32 lowercase hex characters).
    public static func isCanonical(_ text: String) -> Bool {
        text.utf8.count == hexLength && text.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }
    }

    /// Whether `text` is a digest in any case.
    public static func isDigest(_ text: String) -> Bool {
        text.utf8.count == hexLength && text.utf8.allSatisfy(isHex)
    }

    private static func isHex(_ b: UInt8) -> Bool {
        (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x46) || (b >= 0x61 && b <= 0x66)
    }
}

/// The adapted model's side of the scheme: its `vocab.txt` (or, for byte-level BPE, `vocab.json`) lists digests
/// (and the special tokens) in adapted-id order; a sequence of encrypted tokens becomes `input_ids`, an unknown
/// digest `[UNK]` (`<unk>`).
public struct AdaptedVocabulary: Sendable {
    public let vocabulary: WordPieceVocabulary
    public let unknownID: Int32
    public let clsID: Int32
    public let sepID: Int32
    public let padID: Int32
    /// The model family's special-token template: `.roberta` (`<s> A </s></s> B </s>`) for a byte-level BPE
    /// vocabulary (`vocab.json`) or a model whose `cls_token` is `<s>` (XLM-R), else `.bert`.
    public let style: SpecialTokenTemplate.Style

    /// Reads an adapted model directory (`vocab.txt`; `vocab.json` for a byte-level BPE model; else `tokenizer.json`)
    /// or a `vocab.txt` path. The special tokens come from the directory's ``SpecialTokensMap``, with BERT's names
    /// (`[UNK] [CLS] [SEP] [PAD]`) by default, RoBERTa's (`<unk> <s> </s> <pad>`) for `vocab.json`.
    /// - Throws: ``InputError`` (`missing`) when the vocabulary lacks the unknown, classifier, separator or padding
    ///   token; the readers' errors (`not_json`, `invalid_structure` naming the token of a bad `vocab.json`).
    public init(path: String) throws {
        let vocabPath: String
        var roberta = false
        if isRegularFile(path) {
            vocabPath = path
            vocabulary = try WordPieceVocabulary.read(vocabTxt: path)
        } else if isRegularFile(path + "/vocab.txt") {
            vocabPath = path + "/vocab.txt"
            vocabulary = try WordPieceVocabulary.read(vocabTxt: vocabPath)
        } else if isRegularFile(path + "/vocab.json") {
            // An adapted byte-level BPE model: vocab.json of digests (token → adapted id), RoBERTa's special tokens.
            vocabPath = path + "/vocab.json"
            vocabulary = try SourceVocabulary.tokens(ofMap: try JSONValue.read(file: vocabPath), file: vocabPath, key: nil)
            roberta = true
        } else {
            let tokenizer = try BertTokenizer.load(directory: path)
            vocabPath = path + "/tokenizer.json"
            vocabulary = tokenizer.vocabulary
        }
        let directory = isRegularFile(path) ? String(path[..<(path.lastIndex(of: "/") ?? path.startIndex)]) : path
        let map = try SpecialTokensMap.read(directory: directory.isEmpty ? "." : directory)
        var special = BertTokenizer.SpecialTokens(map)
        if roberta {
            special.unknown = map["unk_token"] ?? "<unk>"
            special.classifier = map["cls_token"] ?? "<s>"
            special.separator = map["sep_token"] ?? "</s>"
            special.padding = map["pad_token"] ?? "<pad>"
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
        style = roberta || special.classifier == "<s>" ? .roberta : .bert
    }

    /// The model family's template with the adapted ids of the special tokens: `[CLS] A [SEP]` /
    /// `[CLS] A [SEP] B [SEP]`, or for RoBERTa-style models `<s> A </s>` / `<s> A </s></s> B </s>` (``style``).
    public var template: SpecialTokenTemplate { SpecialTokenTemplate(style: style, start: clsID, end: sepID, pad: padID) }

    /// Number of adapted ids.
    public var count: Int { vocabulary.count }

    /// The adapted id of an encrypted token (a digest in either case, ``Digest/canonical(_:)-swift.type.method``,
    /// or a special token's text), or nil when the vocabulary does not hold it.
    public func lookup(_ encryptedToken: Substring) -> Int32? {
        vocabulary.id(of: Digest.canonical(encryptedToken))
    }

    /// The adapted id of an encrypted token; `[UNK]` when unknown.
    public func id(of encryptedToken: String) -> Int32 {
        lookup(encryptedToken[...]) ?? unknownID
    }

    /// Pieces for one field of encrypted text: space-separated encrypted tokens (the output of
    /// `sentinel encrypt`), each looked up by ``lookup(_:)``; an unknown token becomes `[UNK]`. Word indices
    /// count the tokens; offsets are 0.
    public func pieces(ofEncrypted field: Substring) -> Pieces {
        var p = Pieces()
        for token in field.split(whereSeparator: { $0 == " " || $0 == "\t" }) {
            p.appendPiece(lookup(token) ?? unknownID, start: 0, end: 0, word: Int32(truncatingIfNeeded: p.count))
        }
        return p
    }

    /// The model input of one line of encrypted text (a TAB separates the two texts of a pair), with the
    /// template and longest-first truncation to `maxLength` positions.
    public func encode(_ text: Substring, pair: Substring? = nil, maxLength: Int? = nil) -> Encoding {
        template.assemble(
            pieces(ofEncrypted: text), pair.map { pieces(ofEncrypted: $0) },
            truncation: maxLength.map { .longestFirst(maxLength: $0) })
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

    /// `input_ids` and `token_type_ids` for a pair with ``template``: `[CLS] A [SEP] B [SEP]` (B has type 1), or
    /// `<s> A </s></s> B </s>` (every type 0).
    public func inputIDs(_ first: [String], _ second: [String]) -> (inputIDs: [Int32], tokenTypeIDs: [Int32]) {
        var a = Pieces(), b = Pieces()
        for t in first { a.appendPiece(id(of: t), start: 0, end: 0, word: 0) }
        for t in second { b.appendPiece(id(of: t), start: 0, end: 0, word: 0) }
        let e = template.assemble(a, b)
        return (e.inputIDs, e.tokenTypeIDs)
    }
}
