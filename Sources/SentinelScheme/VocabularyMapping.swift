import SentinelCore
import SentinelTokenizer

/// The vocabulary mapping of an adapted model: token ↔ digest ↔ original id ↔ adapted id
/// (`sentinel vocab`).
///
/// With the original model's ``Encryptor`` (its tokenizer and the key) every original id is linked to its
/// digest and adapted id; from the adapted directory alone only adapted ids, digests and the special tokens
/// (never hashed) are known.
public struct VocabularyMapping {
    /// One row of the mapping; nil fields are unknown from what was given.
    public struct Entry: Equatable, Sendable {
        public var token: String?
        public var digest: String?
        public var originalID: Int?
        public var adaptedID: Int?
        /// Why a looked-up token or digest has no adapted id, in words (single lookups only).
        public var note: String?
        /// A byte-level BPE spelling shown readably (``ByteLevel/readable(_:)``: `Ġthe` → `␣the`, lone bytes as
        /// `<0xNN>`); nil for other families.
        public var readable: String?

        public init(
            token: String? = nil, digest: String? = nil, originalID: Int? = nil, adaptedID: Int? = nil, note: String? = nil,
            readable: String? = nil
        ) {
            self.token = token
            self.digest = digest
            self.originalID = originalID
            self.adaptedID = adaptedID
            self.note = note
            self.readable = readable
        }

        /// `{"token"[, "readable"], "digest", "original_id", "adapted_id"[, "note"]}` (nulls for unknown fields).
        public var json: JSONValue {
            func opt(_ s: String?) -> JSONValue { s.map { .string($0) } ?? .null }
            func opt(_ i: Int?) -> JSONValue { i.map { .int(Int64($0)) } ?? .null }
            var fields: [(String, JSONValue)] = [
                ("token", opt(token)), ("digest", opt(digest)),
                ("original_id", opt(originalID)), ("adapted_id", opt(adaptedID)),
            ]
            if let readable { fields.insert(("readable", .string(readable)), at: 1) }
            if let note { fields.append(("note", .string(note))) }
            return .object(fields)
        }

        /// TAB-separated; `?` is unknown from what was given, `none` is looked up and not there; the readable
        /// spelling, when known, last.
        public var line: String {
            [
                token.map(quoted) ?? "?", digest ?? "?",
                originalID.map(String.init) ?? "?", adaptedID.map(String.init) ?? (digest != nil ? "none" : "?"),
            ]
            .joined(separator: "\t") + (readable.map { "\t" + $0 } ?? "")
        }
    }

    /// How many original tokens the adapted vocabulary holds (with the mapping known).
    public struct Coverage: Equatable, Sendable {
        /// Ids of the original vocabulary.
        public var originalTokens: Int
        /// Original ids whose encrypted token is in the adapted vocabulary.
        public var found: Int
        /// Original ids that are hashed (not special).
        public var hashed: Int
        /// Hashed original ids whose digest is in the adapted vocabulary.
        public var hashedFound: Int
        /// Found ids whose adapted id differs from the original id.
        public var moved: Int
    }

    public let adapted: AdaptedVocabulary
    public let encryptor: Encryptor?
    /// Whether the original tokenizer is byte-level BPE (its entries get ``Entry/readable``).
    public let byteLevel: Bool
    private let reverse: [String: Int]

    /// - Parameters:
    ///   - adapted: the adapted model's vocabulary.
    ///   - encryptor: the original model's tokenizer with the key, when both are known.
    public init(adapted: AdaptedVocabulary, encryptor: Encryptor?) {
        self.adapted = adapted
        self.encryptor = encryptor
        byteLevel = encryptor?.tokenizer is ByteLevelBPETokenizer
        var reverse: [String: Int] = [:]
        if let encryptor {
            for id in 0..<encryptor.tokenizer.vocabularySize { reverse[encryptor.encryptedToken(id: Int32(id))] = id }
        }
        self.reverse = reverse
    }

    /// Adapted ids whose token is not a digest (the special tokens), with their text.
    public var plainAdaptedTokens: [(id: Int, token: String)] {
        adapted.vocabulary.tokens.enumerated().filter { !Digest.isCanonical($0.element) }.map { ($0.offset, $0.element) }
    }

    /// Adapted ids that hold a digest.
    public var digestCount: Int { adapted.vocabulary.tokens.filter(Digest.isCanonical).count }

    /// The coverage of the original vocabulary, or nil without the encryptor.
    public var coverage: Coverage? {
        guard let e = encryptor else { return nil }
        var c = Coverage(originalTokens: e.tokenizer.vocabularySize, found: 0, hashed: 0, hashedFound: 0, moved: 0)
        for id in 0..<c.originalTokens {
            let isHashed = e.isHashed(id: Int32(id))
            if isHashed { c.hashed += 1 }
            if let a = adapted.vocabulary.id(of: e.encryptedToken(id: Int32(id))) {
                c.found += 1
                if isHashed { c.hashedFound += 1 }
                if Int(a) != id { c.moved += 1 }
            }
        }
        return c
    }

    /// The entry of original id `id` (needs the encryptor).
    public func entry(originalID id: Int) -> Entry? {
        guard let e = encryptor, id >= 0, id < e.tokenizer.vocabularySize else { return nil }
        let text = e.encryptedToken(id: Int32(id))
        let token = e.tokenizer.token(of: Int32(id))
        return Entry(
            token: token, digest: e.isHashed(id: Int32(id)) ? text : nil,
            originalID: id, adaptedID: adapted.vocabulary.id(of: text).map(Int.init), readable: readable(token))
    }

    /// The entry of adapted id `id`, with the original side when the encryptor is known.
    public func entry(adaptedID id: Int) -> Entry? {
        guard id >= 0, id < adapted.count else { return nil }
        let text = adapted.vocabulary.tokens[id]
        if let original = reverse[text], let entry = entry(originalID: original) { return entry }
        let digest = Digest.isCanonical(text)
        return Entry(token: digest ? nil : text, digest: digest ? text : nil, adaptedID: id)
    }

    /// The entry of a token of the original vocabulary or, with only the key, of any token text.
    /// - Parameter hasher: the key's hasher, for tokens outside the original vocabulary (or without it).
    public func entry(token: String, hasher: TokenHasher) -> Entry {
        if let e = encryptor, let id = e.tokenizer.id(of: token), var entry = entry(originalID: Int(id)) {
            if entry.adaptedID == nil {
                entry.note = "\(quoted(token)) is original id \(id), but its digest is not in the adapted vocabulary"
            }
            return entry
        }
        let d = hasher.hexDigest(token)
        var entry = Entry(token: token, digest: d, adaptedID: adapted.vocabulary.id(of: d).map(Int.init), readable: readable(token))
        if entry.adaptedID == nil {
            entry.note =
                encryptor != nil
                ? "\(quoted(token)) is not a token of the original vocabulary, and its digest is not in the adapted vocabulary"
                : "the digest of \(quoted(token)) is not in the adapted vocabulary: the key is not this model's key, "
                    + "or \(quoted(token)) is not a token of the original vocabulary (--original tells which)"
        }
        return entry
    }

    /// The entry of an encrypted token: a digest (either case, ``Digest/canonical(_:)-swift.type.method``) or a
    /// special token's text.
    public func entry(encryptedToken text: String) -> Entry {
        let canonical = Digest.canonical(text)
        if let adaptedID = adapted.vocabulary.id(of: canonical), let entry = entry(adaptedID: Int(adaptedID)) { return entry }
        return Entry(
            digest: Digest.isCanonical(canonical) ? canonical : nil, originalID: reverse[canonical],
            note: "\(canonical) is not in the adapted vocabulary")
    }

    private func readable(_ token: String?) -> String? {
        byteLevel ? token.map(ByteLevel.readable) : nil
    }

    /// Every entry: by original id with the encryptor, else by adapted id.
    public func allEntries() -> [Entry] {
        if let e = encryptor { return (0..<e.tokenizer.vocabularySize).compactMap { entry(originalID: $0) } }
        return (0..<adapted.count).compactMap { entry(adaptedID: $0) }
    }
}
