import SentinelCore

/// A linear classifier on top of the encoder, HuggingFace `classifier.weight` `[labels, hidden]` and
/// `classifier.bias` `[labels]` (`BertForTokenClassification`, `BertForSequenceClassification`).
public struct ClassificationHead: Sendable {
    public let linear: Linear
    /// Number of labels.
    public var labelCount: Int { linear.outFeatures }

    public init(linear: Linear) { self.linear = linear }

    /// Loads the classifier of a fine-tuned HF model (or any pair of tensors, e.g. the fixtures'
    /// `init.classifier.weight`).
    /// - Throws: ``InputError`` listing missing or mis-shaped tensors (the weight must be `[labels, hiddenSize]`).
    public static func load(
        from archive: TensorArchive, hiddenSize: Int, weightName: String = "classifier.weight",
        biasName: String = "classifier.bias"
    ) throws -> ClassificationHead {
        guard let w = archive.entry(named: weightName) else {
            throw InputError(.missing, file: archive.path, key: weightName, "classifier weight missing")
        }
        let labels = w.shape.first ?? 0
        guard w.shape.count == 2, w.shape[1] == hiddenSize, labels >= 1 else {
            throw InputError(.sizeMismatch, file: archive.path, key: weightName, "shape \(w.shape), expected [labels, \(hiddenSize)]")
        }
        guard let bEntry = archive.entry(named: biasName) else {
            throw InputError(.missing, file: archive.path, key: biasName, "classifier bias missing")
        }
        guard bEntry.shape == [labels] else {
            throw InputError(.sizeMismatch, file: archive.path, key: biasName, "shape \(bEntry.shape), expected [\(labels)]")
        }
        return ClassificationHead(linear: Linear(weight: try Parameter.load(w, from: archive), bias: try Parameter.load(bEntry, from: archive)))
    }

    /// `logits[rows, labels] = x · Wᵀ + b` for `x` `[..., hidden]`; the result keeps the leading dimensions.
    public func logits(_ x: FloatTensor) -> FloatTensor {
        let hidden = linear.inFeatures, n = labelCount
        precondition(x.shape.last == hidden, "classifier input shape \(x.shape) does not end in \(hidden)")
        let rows = x.values.count / hidden
        var out = [Float](repeating: 0, count: rows * n)
        x.values.withUnsafeBufferPointer { xp in
            out.withUnsafeMutableBufferPointer { op in
                linear.product(xp.baseAddress!, rows: rows, into: op.baseAddress!)
                Kernels.addBias(op.baseAddress!, rows: rows, cols: n, bias: linear.bias.values)
            }
        }
        return FloatTensor(shape: Array(x.shape.dropLast()) + [n], values: out)
    }
}

/// `BertForTokenClassification`: a label per token, `logits = classifier(last_hidden_state)`
/// (dropout is the identity at inference).
public final class BertForTokenClassification {
    public let bert: BertModel
    public let classifier: ClassificationHead

    public init(bert: BertModel, classifier: ClassificationHead) {
        precondition(classifier.linear.inFeatures == bert.config.hiddenSize)
        self.bert = bert
        self.classifier = classifier
    }

    /// Loads a fine-tuned HF checkpoint (`bert.`-prefixed encoder plus `classifier.*`).
    public convenience init(archive: TensorArchive, config: BertConfig) throws {
        let bert = try BertModel(archive: archive, config: config)
        try self.init(bert: bert, classifier: .load(from: archive, hiddenSize: config.hiddenSize))
    }

    /// - Returns: logits, float32 `[batch, L, labels]`.
    public func forward(_ batch: EncoderBatch) throws -> FloatTensor {
        classifier.logits(try bert.forward(batch).lastHiddenState)
    }
}

/// `BertForSequenceClassification`: a label per sequence, `logits = classifier(pooler_output)`.
public final class BertForSequenceClassification {
    public let bert: BertModel
    public let classifier: ClassificationHead

    /// - Precondition: `bert` has a pooler (the initializer from an archive throws instead).
    public init(bert: BertModel, classifier: ClassificationHead) {
        precondition(bert.pooler != nil && classifier.linear.inFeatures == bert.config.hiddenSize)
        self.bert = bert
        self.classifier = classifier
    }

    /// Loads a fine-tuned HF checkpoint (`bert.`-prefixed encoder with pooler, plus `classifier.*`).
    /// - Throws: ``InputError`` `.missing` when the checkpoint has no pooler.
    public convenience init(archive: TensorArchive, config: BertConfig) throws {
        let bert = try BertModel(archive: archive, config: config)
        guard bert.pooler != nil else {
            throw InputError(.missing, file: archive.path, key: "pooler.dense.weight", "sequence classification needs the pooler")
        }
        try self.init(bert: bert, classifier: .load(from: archive, hiddenSize: config.hiddenSize))
    }

    /// - Returns: logits, float32 `[batch, labels]`.
    public func forward(_ batch: EncoderBatch) throws -> FloatTensor {
        let out = try bert.forward(batch)
        guard let pooled = out.poolerOutput else { preconditionFailure("checked at init") }
        return classifier.logits(pooled)
    }
}
