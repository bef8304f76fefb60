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
            throw InputError(
                found.isEmpty ? .missing : .invalidStructure, file: file, key: wordEmbeddingsName,
                found.isEmpty ? "no word-embedding tensor" : "several word-embedding tensors: \(found)")
        }
        return found[0]
    }
}

/// What the seed scheme does to each tensor of a checkpoint whose vocabulary ids it moves (SCHEME.md steps
/// 4–5): the word embeddings are permuted and glide-transformed; the output side of a masked-LM head
/// (`BertForMaskedLM`/`BertForPreTraining`: `cls.predictions.decoder.weight` `[vocab, hidden]`,
/// `cls.predictions.bias` and `cls.predictions.decoder.bias` `[vocab]`) is indexed by the same ids, so its
/// rows move with them; every other tensor is unchanged.
///
/// A decoder tied to the embeddings (one tensor, or one view of one storage: ``TorchCheckpoint/ties``) stays
/// tied: it is the adapted embedding matrix. An untied decoder and the biases are permuted only, row `old`
/// becoming row `mapping[old]`, so that logit `mapping[old]` of the adapted model is logit `old` of the original.
public enum VocabularyRows {
    public enum Change: Equatable, Sendable {
        /// The word embeddings, or a tensor tied to them: the adapted embedding matrix.
        case embedding
        /// Rows permuted by the id mapping, values unchanged.
        case permuteRows
        case unchanged
    }

    /// Names (after a task model's prefix-free `cls.`) of the masked-LM head's vocabulary-indexed tensors.
    public static let maskedLMOutputNames = ["cls.predictions.decoder.weight", "cls.predictions.bias", "cls.predictions.decoder.bias"]

    /// The change for every entry: `embeddingName` and its tie group are `.embedding`; masked-LM output tensors
    /// with `vocabSize` rows are `.permuteRows`.
    /// - Parameter ties: tied name → the earlier name it is tied to (``TorchCheckpoint/ties``; `[:]` otherwise).
    public static func changes(
        of entries: [TensorEntry], embeddingName: String, vocabSize: Int,
        ties: [String: String]
    ) -> [String: Change] {
        let root = ties[embeddingName] ?? embeddingName
        var out: [String: Change] = [:]
        for e in entries {
            if e.name == embeddingName || e.name == root || ties[e.name] == root {
                out[e.name] = .embedding
            } else if e.shape.first == vocabSize, e.shape.count <= 2,
                maskedLMOutputNames.contains(where: { e.name == $0 || e.name.hasSuffix("." + $0) })
            {
                out[e.name] = .permuteRows
            } else {
                out[e.name] = .unchanged
            }
        }
        return out
    }

    /// Writes the rows of `source` (`mapping.count` rows of `rowBytes` bytes) to `sink` in adapted order:
    /// adapted row `mapping[old]` is source row `old`. Streams in chunks of about 8 MiB.
    public static func permutedRows(
        _ source: UnsafeRawBufferPointer, rowBytes: Int, mapping: [Int],
        to sink: (UnsafeRawBufferPointer) throws -> Void
    ) throws {
        let rows = mapping.count
        precondition(source.count == rows * rowBytes, "source is not \(rows) rows of \(rowBytes) bytes")
        var inverse = [Int](repeating: 0, count: rows)
        for (old, new) in mapping.enumerated() { inverse[new] = old }
        let chunkRows = max(1, (8 << 20) / max(rowBytes, 1))
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: min(chunkRows, rows) * rowBytes, alignment: 64)
        defer { buffer.deallocate() }
        for lo in stride(from: 0, to: rows, by: chunkRows) {
            let hi = min(lo + chunkRows, rows)
            for new in lo..<hi {
                (buffer.baseAddress! + (new - lo) * rowBytes).copyMemory(from: source.baseAddress! + inverse[new] * rowBytes, byteCount: rowBytes)
            }
            try sink(UnsafeRawBufferPointer(rebasing: buffer[0..<((hi - lo) * rowBytes)]))
        }
    }
}
