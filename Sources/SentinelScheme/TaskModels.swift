import SentinelCore

extension SeedConverter {
    /// The name of the word-embedding tensor among `names`: `embeddings.word_embeddings.weight` of a base
    /// `BertModel`, or the same under a task model's prefix (`bert.embeddings.word_embeddings.weight` of
    /// HF `BertForTokenClassification`, `BertForSequenceClassification`, `BertForMaskedLM`).
    /// - Throws: ``InputError`` naming `file`: `.missing` when there is none, `.invalidStructure` when there
    ///   are several.
    public static func wordEmbeddingsName(in names: [String], file: String) throws -> String {
        let found = names.filter { $0 == wordEmbeddingsName || $0.hasSuffix("." + wordEmbeddingsName) }
        guard found.count == 1 else {
            throw InputError(found.isEmpty ? .missing : .invalidStructure, file: file, key: wordEmbeddingsName,
                             found.isEmpty ? "no word-embedding tensor" : "several word-embedding tensors: \(found)")
        }
        return found[0]
    }
}
