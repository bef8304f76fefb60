import SentinelScheme

/// Whether a passkey is the one an adapted model was made with, judged from its vocabulary: with the
/// right key every hashed token of the original vocabulary has its digest in the adapted vocabulary; with
/// a wrong key (almost) none has — only the special tokens, which are never hashed, match. Used by
/// `verify` and `vocab`.
public enum KeyCheck {
    /// The least fraction of hashed tokens whose digest must be found for the key to count as matching.
    public static let minimumFoundFraction = 0.01

    /// The verdict for `hashedFound` of `hashed` tokens found.
    public static func keyMatches(hashed: Int, hashedFound: Int) -> Bool {
        hashed == 0 || Double(hashedFound) >= minimumFoundFraction * Double(hashed)
    }

    /// The verdict for a vocabulary mapping made with the key; nil when the mapping has no encryptor.
    public static func keyMatches(_ mapping: VocabularyMapping) -> Bool? {
        mapping.coverage.map { keyMatches(hashed: $0.hashed, hashedFound: $0.hashedFound) }
    }

    /// The explanation of a mismatch, naming the directories (never the key).
    public static func mismatchMessage(hashed: Int, hashedFound: Int, original: String, adapted: String) -> String {
        "the key does not match this adapted model: \(hashedFound) of the \(hashed) hashed tokens of \(original) "
            + "have their digest in the vocabulary of \(adapted) (a wrong key, or the original is not the model it was adapted from)"
    }

    /// Tokens nearly every vocabulary holds in one of its spellings (WordPiece `the`, byte-level `Ġthe`, SentencePiece
    /// `▁the`), for checking a key without the original model (``probe(_:hasher:)``).
    public static let commonTokens: [String] = {
        let words = ["the", "a", "and", "of", "to", "in", "is", ",", ".", "s", "de", "la", "i", "\u{7684}"]
        return words.flatMap { [$0, "\u{0120}" + $0, "\u{2581}" + $0] }
    }()

    /// How many of ``commonTokens`` have their digest (by `hasher`) in `adapted`: 0 when the key is not the model's.
    /// (With the right key a WordPiece, byte-level BPE or SentencePiece vocabulary holds several of them.)
    public static func probe(_ adapted: AdaptedVocabulary, hasher: TokenHasher) -> (probed: Int, found: Int) {
        (commonTokens.count, commonTokens.filter { adapted.vocabulary.id(of: hasher.hexDigest($0)) != nil }.count)
    }
}
