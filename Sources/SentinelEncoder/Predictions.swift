import SentinelCore
#if canImport(Glibc)
    import Glibc
#endif

/// What a fine-tuned model predicts: a label per token (`BertForTokenClassification`, NER) or per
/// sequence (`BertForSequenceClassification`).
public enum TaskKind: String, Sendable, CaseIterable {
    case ner, classification
}

/// Softmax and argmax over label logits.
public enum Logits {
    /// `exp(x - max) / Σ exp(x - max)`, numerically stable.
    public static func softmax(_ x: ArraySlice<Float>) -> [Float] {
        let m = x.max() ?? 0
        let e = x.map { expf($0 - m) }
        let s = e.reduce(0, +)
        return e.map { $0 / s }
    }

    /// The index (0-based, within `x`) of the largest logit; the first one on ties, as `torch.argmax`.
    public static func argmax(_ x: ArraySlice<Float>) -> Int {
        var best = x.startIndex
        for i in x.indices where x[i] > x[best] { best = i }
        return best - x.startIndex
    }
}

/// Logits of a fine-tuned classifier for many rows.
public struct TaskLogits: Sendable {
    public let kind: TaskKind
    public let labelCount: Int
    /// Per row: `[labels]` (classification) or `[seq, labels]` row-major over the row's own positions (ner).
    public var rows: [[Float]]

    /// The predicted label index of each position (ner: one per position of the row; classification: one).
    public func predictedLabels(row r: Int) -> [Int] {
        stride(from: 0, to: rows[r].count, by: labelCount).map { Logits.argmax(rows[r][$0..<($0 + labelCount)]) }
    }
}

extension BertModel {
    /// Runs `head` on the encoder outputs of `rows` (length-bucketed batches, ``run(_:batchSize:source:progress:)``).
    /// - Throws: ``InputError`` (`missing`) for classification without a pooler, (`out_of_range`) when a
    ///   logit is NaN or infinite (broken weights); errors of the forward pass.
    public func logits(
        _ rows: [EncoderRow], head: ClassificationHead, kind: TaskKind, batchSize: Int,
        source: String = "input", progress: (Int, Int) -> Void = { _, _ in }
    ) throws -> TaskLogits {
        if kind == .classification && pooler == nil {
            throw InputError(.missing, file: archive.path, key: "pooler.dense.weight", "sequence classification needs the pooler")
        }
        let outputs = try run(rows, batchSize: batchSize, source: source, progress: progress)
        let n = head.labelCount, l = outputs.length, h = outputs.hidden
        var result = TaskLogits(kind: kind, labelCount: n, rows: [])
        switch kind {
        case .classification:
            let all = head.logits(FloatTensor(shape: [outputs.rows, h], values: outputs.poolerOutput)).values
            result.rows = (0..<outputs.rows).map { Array(all[($0 * n)..<(($0 + 1) * n)]) }
        case .ner:
            let all = head.logits(
                FloatTensor(
                    shape: [outputs.rows, max(l, 1), h],
                    values: l == 0 ? [Float](repeating: 0, count: outputs.rows * h) : outputs.lastHiddenState)
            ).values
            result.rows = rows.enumerated().map { r, row in Array(all[(r * l * n)..<(r * l * n + row.ids.count * n)]) }
        }
        guard result.rows.allSatisfy({ $0.allSatisfy(\.isFinite) }) else {
            throw InputError(
                .outOfRange, file: archive.path, key: "classifier.weight",
                "the model's logits are not finite (NaN or infinite weights?)")
        }
        return result
    }
}
