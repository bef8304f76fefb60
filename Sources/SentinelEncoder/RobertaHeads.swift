import SentinelCore

/// transformers' `RobertaClassificationHead` (`RobertaForSequenceClassification`, also XLM-R): on the `<s>` position,
/// `logits = out_proj(tanh(dense(h[:, 0])))`, with `classifier.dense` `[hidden, hidden]` and `classifier.out_proj`
/// `[labels, hidden]` (dropout is the identity at inference). RoBERTa's sequence classifier has no pooler.
public struct RobertaClassificationHead: Sendable {
    public let dense: Linear
    public let outProjection: Linear
    /// Number of labels.
    public var labelCount: Int { outProjection.outFeatures }

    public init(dense: Linear, outProjection: Linear) {
        precondition(dense.outFeatures == outProjection.inFeatures)
        self.dense = dense
        self.outProjection = outProjection
    }

    /// Whether `archive` holds this head (`classifier.out_proj.weight`).
    public static func isPresent(in archive: TensorArchive) -> Bool {
        archive.entry(named: "classifier.out_proj.weight") != nil
    }

    /// Loads `classifier.dense.{weight,bias}` and `classifier.out_proj.{weight,bias}`.
    /// - Throws: ``InputError`` (`missing`, `size_mismatch`) naming the archive file and tensor.
    public static func load(from archive: TensorArchive, hiddenSize: Int) throws -> RobertaClassificationHead {
        let dense = try ClassificationHead.load(
            from: archive, hiddenSize: hiddenSize,
            weightName: "classifier.dense.weight", biasName: "classifier.dense.bias")
        guard dense.labelCount == hiddenSize else {
            throw InputError(
                .sizeMismatch, file: archive.path, key: "classifier.dense.weight",
                "shape [\(dense.labelCount), \(hiddenSize)], expected [\(hiddenSize), \(hiddenSize)]")
        }
        let out = try ClassificationHead.load(
            from: archive, hiddenSize: hiddenSize,
            weightName: "classifier.out_proj.weight", biasName: "classifier.out_proj.bias")
        return RobertaClassificationHead(dense: dense.linear, outProjection: out.linear)
    }

    /// Logits `[batch, labels]` from `last_hidden_state` `[batch, L, hidden]` (its position 0, `<s>`).
    public func logits(_ lastHiddenState: FloatTensor) -> FloatTensor {
        let h = dense.inFeatures
        precondition(lastHiddenState.shape.count == 3 && lastHiddenState.shape[2] == h, "expected [batch, L, \(h)]")
        let b = lastHiddenState.shape[0], l = lastHiddenState.shape[1]
        var first = [Float](repeating: 0, count: b * h)
        for r in 0..<b { for j in 0..<h { first[r * h + j] = lastHiddenState.values[r * l * h + j] } }
        var x = ClassificationHead(linear: dense).logits(FloatTensor(shape: [b, h], values: first))
        for i in x.values.indices { x.values[i] = tanhf(x.values[i]) }
        return ClassificationHead(linear: outProjection).logits(x)
    }
}

extension BertModel {
    /// Runs a `RobertaForSequenceClassification` head on the encoder outputs of `rows` (length-bucketed batches,
    /// ``run(_:batchSize:source:progress:)``): one `[labels]` row of logits per input, from its `<s>` position.
    /// The BERT-head counterpart is ``logits(_:head:kind:batchSize:source:progress:)``.
    /// - Throws: ``InputError`` (`out_of_range`, key `classifier.out_proj.weight`) when a logit is NaN or infinite;
    ///   errors of the forward pass.
    public func logits(
        _ rows: [EncoderRow], head: RobertaClassificationHead, batchSize: Int, source: String = "input",
        progress: (Int, Int) -> Void = { _, _ in }
    ) throws -> TaskLogits {
        let outputs = try run(rows, batchSize: batchSize, source: source, progress: progress)
        let n = head.labelCount, l = outputs.length, h = outputs.hidden
        var result = TaskLogits(kind: .classification, labelCount: n, rows: [])
        if l > 0 {
            let all = head.logits(FloatTensor(shape: [outputs.rows, l, h], values: outputs.lastHiddenState)).values
            result.rows = (0..<outputs.rows).map { Array(all[($0 * n)..<(($0 + 1) * n)]) }
        } else {
            result.rows = (0..<outputs.rows).map { _ in [Float](repeating: 0, count: n) }
        }
        guard result.rows.allSatisfy({ $0.allSatisfy(\.isFinite) }) else {
            throw InputError(
                .outOfRange, file: archive.path, key: "classifier.out_proj.weight",
                "the model's logits are not finite (NaN or infinite weights?)")
        }
        return result
    }
}

/// `RobertaForSequenceClassification`: `roberta.`-prefixed encoder (no pooler) plus ``RobertaClassificationHead``.
public final class RobertaForSequenceClassification {
    public let roberta: BertModel
    public let classifier: RobertaClassificationHead

    public init(roberta: BertModel, classifier: RobertaClassificationHead) {
        precondition(classifier.dense.inFeatures == roberta.config.hiddenSize)
        self.roberta = roberta
        self.classifier = classifier
    }

    /// Loads a fine-tuned HF checkpoint.
    /// - Throws: ``InputError`` for missing or mis-shaped parameters.
    public convenience init(archive: TensorArchive, config: BertConfig) throws {
        let model = try BertModel(archive: archive, config: config)
        try self.init(roberta: model, classifier: .load(from: archive, hiddenSize: config.hiddenSize))
    }

    /// - Returns: logits, float32 `[batch, labels]`.
    public func forward(_ batch: EncoderBatch) throws -> FloatTensor {
        classifier.logits(try roberta.forward(batch).lastHiddenState)
    }
}

#if canImport(Glibc)
    import Glibc
#endif
