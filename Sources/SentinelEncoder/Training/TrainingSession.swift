import Dispatch
import SentinelCore
#if canImport(Glibc)
    import Glibc
#endif

/// What a ``TrainingSession`` fine-tunes the encoder for.
public enum TrainingTask: Sendable, Equatable {
    /// `BertForTokenClassification`: `logits = classifier(dropout(last_hidden_state))`, `[batch, L, labels]`;
    /// labels `[batch, L]`.
    case tokenClassification
    /// `BertForSequenceClassification` (single-label): `logits = classifier(dropout(pooler_output))`,
    /// `[batch, labels]`; labels `[batch]`.
    case sequenceClassification
}

/// The result of ``TrainingSession/forwardBackward(_:labels:lossScale:)``.
public struct TrainingOutput: Sendable {
    /// HF's `CrossEntropyLoss()`: the mean over the labels that are not `-100` (unscaled by `lossScale`).
    public var loss: Float
    /// float32 `[batch, L, labels]` (token classification) or `[batch, labels]` (sequence classification).
    public var logits: FloatTensor
    /// Number of labels that counted (not `-100`).
    public var labelCount: Int
}

/// The result of ``TrainingSession/step()``.
public struct OptimizerStepReport: Sendable {
    /// The optimizer step just taken, 1-based (torch's `state["step"]`).
    public var step: Int
    /// The learning rate it used (``LearningRateSchedule/learningRate(at:)`` of `step − 1`).
    public var learningRate: Double
    /// Total L2 norm of the gradients before clipping (what `clip_grad_norm_` returns).
    public var gradientNorm: Double
    /// The factor the gradients were multiplied by (1 without clipping).
    public var clipCoefficient: Double
}

/// Fine-tunes a ``BertModel`` plus a classifier on the CPU in float32: training-mode forward pass (dropout),
/// backward pass, gradient accumulation, clipping and AdamW, reproducing `transformers` +
/// `torch` (`BertForTokenClassification` / `BertForSequenceClassification`, eager attention, HF Trainer's
/// optimizer setup; checked against `../shared/fixtures/bert` f02/f03).
///
/// A training loop:
/// ```swift
/// let session = try TrainingSession(model: bert, classifier: head, task: .tokenClassification,
///                                   dropout: .load(path: dir + "/config.json"),
///                                   schedule: .linear(5e-5, warmupSteps: 100, totalSteps: 1000))
/// for batch in batches {                    // accumulation: call forwardBackward N times, lossScale 1/N
///     let out = try session.forwardBackward(batch.inputs, labels: batch.labels)
///     let report = session.step()            // clip to 1.0, AdamW, schedule, zero the gradients
/// }
/// ```
/// The model's parameters are updated in place (copied out of a memory map first), so `session.model.forward`
/// evaluates the trained weights (`BertForTokenClassification(bert: session.model, classifier: session.classifier)`
/// for evaluation without dropout). Matrix products are `cblas_sgemm`; every other loop is vectorised and the
/// work is split over ``BLAS/threads`` cores. Not thread-safe: one call at a time.
///
/// Memory: the parameters, their gradients and the two AdamW moments (4 × the float32 model; the word-embedding
/// gradient is dense storage, written and cleared only in the rows of the ids used), plus per layer the forward
/// values the backward pass reads, ≈ `(10·hidden + 2·intermediate)·T + 2·heads·L²·batch` floats with dropout
/// (`T = batch·L`), and a few `[T, intermediate]` scratch buffers.
public final class TrainingSession {
    public let model: BertModel
    public let classifier: ClassificationHead
    public let task: TrainingTask
    /// Dropout used by the next forward passes.
    public var dropout: DropoutRates
    /// The generator of the dropout masks (its state is part of ``optimizerState()``).
    public internal(set) var generator: DropoutGenerator
    public var optimizer: AdamW
    public var schedule: LearningRateSchedule
    /// `max_grad_norm` (HF Trainer: 1.0); `nil` disables clipping.
    public var maxGradNorm: Double?
    /// The embedding `padding_idx` (`pad_token_id`, 0 for BERT) whose row never receives a gradient; `nil` for none.
    public let paddingIndex: Int?
    /// Every trained parameter in HuggingFace order: embeddings, layers, pooler (sequence classification
    /// only: token classification has none), classifier.
    public let parameters: [TrainableParameter]
    /// Optimizer steps taken so far.
    public internal(set) var optimizerStep = 0

    private var gradients: [ObjectIdentifier: UnsafeMutablePointer<Float>] = [:]
    private let word: TrainableParameter
    /// Rows of the word-embedding gradient written since the gradients were last cleared, in first-use order.
    private var usedRows: [Int32] = []
    private var rowUsed: [Bool]

    // Forward tape.
    private final class LayerTape {
        let q = FloatBuffer(), k = FloatBuffer(), v = FloatBuffer()
        let probabilities = FloatBuffer(), probabilityMask = FloatBuffer()
        let context = FloatBuffer()
        let attentionMask = FloatBuffer(), normalized1 = FloatBuffer(), rstd1 = FloatBuffer(), h1 = FloatBuffer()
        let activationDerivative = FloatBuffer(), activation = FloatBuffer()
        let outputMask = FloatBuffer(), normalized2 = FloatBuffer(), rstd2 = FloatBuffer(), out = FloatBuffer()
        var hasAttentionMask = false, hasProbabilityMask = false, hasOutputMask = false
    }
    private var tapes: [LayerTape] = []
    private let embNormalized = FloatBuffer(), embRstd = FloatBuffer(), embMask = FloatBuffer(), embOut = FloatBuffer()
    private var hasEmbMask = false
    private let keyMask = FloatBuffer(), keyBias = FloatBuffer()
    private let clsInput = FloatBuffer(), pooled = FloatBuffer(), headInput = FloatBuffer(), headMask = FloatBuffer()
    private var hasHeadMask = false
    private let logits = FloatBuffer(), dLogits = FloatBuffer()
    // Backward scratch.
    private let dHidden = FloatBuffer(), dTemp = FloatBuffer(), dMasked = FloatBuffer(), dFFN = FloatBuffer()
    private let dContext = FloatBuffer(), dQ = FloatBuffer(), dK = FloatBuffer(), dV = FloatBuffer()
    private let dHead = FloatBuffer(), dPooled = FloatBuffer(), partials = FloatBuffer()
    private var attentionScratch: [FloatBuffer] = []

    /// - Parameters:
    ///   - model: the encoder; its parameters become owned copies that the optimizer updates.
    ///   - classifier: `classifier.weight` `[labels, hidden]`, `classifier.bias` `[labels]` (updated in place).
    ///   - dropout: the rates (``DropoutRates/load(path:)`` reads them from `config.json`).
    ///   - seed: the dropout generator's seed.
    ///   - optimizer: AdamW hyper-parameters (weight decay for the decaying group; HF Trainer's grouping).
    ///   - schedule: the learning rate per optimizer step.
    ///   - maxGradNorm: gradient clipping (`clip_grad_norm_`), 1.0 as HF Trainer; `nil` for none.
    ///   - paddingIndex: `pad_token_id` (the embedding's `padding_idx`).
    /// - Throws: ``InputError`` `.missing` (file `model`) for sequence classification on a model without a pooler,
    ///   `.sizeMismatch` when the classifier's input width is not the hidden size, `.outOfRange` for a dropout rate
    ///   outside `[0, 1)`, a padding index outside the vocabulary, or fewer than 2 labels (HF's 1-label regression
    ///   is not implemented).
    public init(
        model: BertModel, classifier: ClassificationHead, task: TrainingTask, dropout: DropoutRates = .init(),
        seed: UInt64 = 42, optimizer: AdamW = AdamW(), schedule: LearningRateSchedule = .constant(5e-5),
        maxGradNorm: Double? = 1.0, paddingIndex: Int? = 0
    ) throws {
        let c = model.config
        guard classifier.linear.inFeatures == c.hiddenSize else {
            throw InputError(
                .sizeMismatch, file: "model", key: "classifier.weight",
                "classifier input width \(classifier.linear.inFeatures), hidden size \(c.hiddenSize)")
        }
        if classifier.labelCount < 2 {
            // HF treats one label as regression (MSELoss), which this session does not implement.
            throw InputError(.outOfRange, file: "model", key: "num_labels", "\(classifier.labelCount) label(s): cross-entropy needs at least 2")
        }
        if task == .sequenceClassification && model.pooler == nil {
            throw InputError(.missing, file: model.archive.path, key: "pooler.dense.weight", "sequence classification needs the pooler")
        }
        for (key, r) in [
            ("hidden_dropout_prob", dropout.hidden), ("attention_probs_dropout_prob", dropout.attentionProbabilities),
            ("classifier_dropout", dropout.classifier),
        ] where !(r >= 0 && r < 1) {
            throw InputError(.outOfRange, file: "model", key: key, "dropout rate \(r) is outside [0, 1)")
        }
        if let p = paddingIndex, p < 0 || p >= c.vocabSize {
            throw InputError(.outOfRange, file: "model", key: "pad_token_id", "\(p) is outside the vocabulary 0..<\(c.vocabSize)")
        }
        self.model = model
        self.classifier = classifier
        self.task = task
        self.dropout = dropout
        generator = DropoutGenerator(seed: seed)
        self.optimizer = optimizer
        self.schedule = schedule
        self.maxGradNorm = maxGradNorm
        self.paddingIndex = paddingIndex
        // Names from the structure (the archive may prefix them with `bert.` or call them anything).
        var named: [(String, Parameter)] = []
        let e = model.embeddings
        named += [
            ("embeddings.word_embeddings.weight", e.word), ("embeddings.position_embeddings.weight", e.position),
            ("embeddings.token_type_embeddings.weight", e.tokenType),
            ("embeddings.LayerNorm.weight", e.norm.weight), ("embeddings.LayerNorm.bias", e.norm.bias),
        ]
        let suffixes = [
            "attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense",
            "attention.output.LayerNorm", "intermediate.dense", "output.dense", "output.LayerNorm",
        ]
        for (i, layer) in model.layers.enumerated() {
            let ps = layer.parameters
            for (j, p) in ps.enumerated() {
                named.append(("encoder.layer.\(i).\(suffixes[j / 2]).\(j % 2 == 0 ? "weight" : "bias")", p))
            }
        }
        if task == .sequenceClassification, let pooler = model.pooler {
            named += [("pooler.dense.weight", pooler.weight), ("pooler.dense.bias", pooler.bias)]
        }
        named += [("classifier.weight", classifier.linear.weight), ("classifier.bias", classifier.linear.bias)]
        parameters = named.map { TrainableParameter(name: $0.0, parameter: $0.1, weightDecay: AdamW.decays($0.0) ? optimizer.weightDecay : 0) }
        word = parameters[0]
        rowUsed = Array(repeating: false, count: c.vocabSize)
        for p in parameters { gradients[ObjectIdentifier(p.parameter)] = p.gradient }
        tapes = model.layers.map { _ in LayerTape() }
    }

    /// The trained parameter called `name` (HuggingFace name, see ``TrainableParameter/name``).
    public func parameter(named name: String) -> TrainableParameter? { parameters.first { $0.name == name } }

    /// The word-embedding gradient as sparse rows: every distinct input id since the gradients were last cleared,
    /// ascending, and its gradient row (`[ids.count, hidden]`, row-major). All other rows are exactly 0, and so is
    /// the padding row.
    public func wordEmbeddingGradientRows() -> (ids: [Int], rows: [Float]) {
        let h = model.config.hiddenSize
        let ids = usedRows.map(Int.init).sorted()
        var rows: [Float] = []
        rows.reserveCapacity(ids.count * h)
        for id in ids { rows += UnsafeBufferPointer(start: word.gradient + id * h, count: h) }
        return (ids, rows)
    }

    /// Sets every gradient to zero (`model.zero_grad()`); ``step()`` does it after updating.
    public func zeroGradients() {
        let h = model.config.hiddenSize
        for p in parameters where p !== word { p.gradient.update(repeating: 0, count: p.count) }
        for id in usedRows {
            (word.gradient + Int(id) * h).update(repeating: 0, count: h)
            rowUsed[Int(id)] = false
        }
        usedRows.removeAll(keepingCapacity: true)
    }

    private func grad(_ p: Parameter) -> UnsafeMutablePointer<Float> { gradients[ObjectIdentifier(p)]! }

    // MARK: - Forward + backward

    /// Runs the training-mode forward pass (dropout on) and the backward pass of `lossScale · loss`, adding the
    /// gradients to those already accumulated (so `N` calls with `lossScale = 1/N` accumulate the gradient of the
    /// mean loss, as HF Trainer's gradient accumulation). To weight the micro-batches by their label counts instead (HF
    /// Trainer's `num_items_in_batch`: the summed loss over all counted labels of the accumulated batches divided by their
    /// number), pass `lossScale = labelCount_i / Σ labelCount`.
    ///
    /// - Parameters:
    ///   - batch: `input_ids`, `attention_mask`, `token_type_ids`, each `[batch, L]`.
    ///   - labels: int, `-100` = ignored (HF `ignore_index`), else `0..<labels`: `[batch, L]` row-major for token
    ///     classification, `[batch]` for sequence classification.
    ///   - lossScale: multiplies the loss whose gradient is accumulated.
    /// - Returns: the loss (HF `CrossEntropyLoss()`, mean over counted labels) and the logits.
    /// - Throws: ``InputError`` (file `input`): `.outOfRange` for an id, token type or label out of range or a sequence
    ///   longer than `max_position_embeddings`; `.invalidStructure` for labels of the wrong count or none counted.
    public func forwardBackward(_ batch: EncoderBatch, labels: [Int32], lossScale: Float = 1) throws -> TrainingOutput {
        try model.validate(batch)
        let b = batch.batchSize, l = batch.sequenceLength, t = b * l, labelCount = classifier.labelCount
        let rows = task == .tokenClassification ? t : b
        guard labels.count == rows else {
            throw InputError(
                .invalidStructure, file: "input", key: "labels",
                "\(labels.count) labels; expected \(task == .tokenClassification ? "[\(b), \(l)]" : "[\(b)]")")
        }
        var counted = 0
        for (i, y) in labels.enumerated() where y != -100 {
            guard y >= 0 && Int(y) < labelCount else {
                let key = task == .tokenClassification ? "labels[\(i / l)][\(i % l)]" : "labels[\(i)]"
                throw InputError(.outOfRange, file: "input", key: key, "label \(y) is outside 0..<\(labelCount) (or -100)")
            }
            counted += 1
        }
        guard counted > 0 else {
            throw InputError(.invalidStructure, file: "input", key: "labels", "every label is -100: the loss is undefined")
        }
        let last = forward(batch)
        let (loss, logitsTensor) = lossAndLogitGradient(
            rows: rows, labels: labels, counted: counted, scale: lossScale,
            shape: task == .tokenClassification ? [b, l, labelCount] : [b, labelCount])
        backward(batch, last: last)
        return TrainingOutput(loss: loss, logits: logitsTensor, labelCount: counted)
    }

    /// Draws a dropout mask of `count` values into `buffer` when `rate > 0`.
    private func dropoutMask(_ buffer: FloatBuffer, count: Int, rate: Float) -> UnsafeMutablePointer<Float>? {
        guard rate > 0 else { return nil }
        let m = buffer.reserve(count)
        generator.fill(m, count: count, rate: rate)
        return m
    }

    private static func multiplyParallel(_ x: UnsafeMutablePointer<Float>, by m: UnsafePointer<Float>, count: Int) {
        Parallel.chunks(count, workPerItem: 2) { r in
            TrainingKernels.multiply(x + r.lowerBound, by: m + r.lowerBound, count: r.count)
        }
    }

    /// The training forward pass up to the last hidden state `[T, hidden]`, then the head's logits into `logits`.
    private func forward(_ batch: EncoderBatch) -> UnsafePointer<Float> {
        let c = model.config, b = batch.batchSize, l = batch.sequenceLength, t = b * l, h = c.hiddenSize
        BertModel.prepareMask(batch, keyMask: keyMask, keyBias: keyBias)
        // Embeddings: word + position + token type, LayerNorm, dropout.
        let xe = embNormalized.reserve(t * h), rs = embRstd.reserve(t), out = embOut.reserve(t * h)
        let e = model.embeddings
        let wordV = e.word.values, pos = e.position.values, type = e.tokenType.values
        let gamma = e.norm.weight.values, beta = e.norm.bias.values, eps = e.norm.eps
        batch.inputIDs.withUnsafeBufferPointer { ids in
            batch.tokenTypeIDs.withUnsafeBufferPointer { types in
                Parallel.chunks(t, workPerItem: h * 4) { range in
                    for r in range {
                        let row = xe + r * h
                        let w = wordV + Int(ids[r]) * h, p = pos + (r % l) * h, tt = type + Int(types[r]) * h
                        var j = 0
                        while j + 16 <= h {
                            store(load(w + j) + load(p + j) + load(tt + j), row + j)
                            j += 16
                        }
                        while j < h {
                            row[j] = w[j] + p[j] + tt[j]
                            j += 1
                        }
                        rs[r] = TrainingKernels.normalizeRowKeeping(row, cols: h, gamma: gamma, beta: beta, eps: eps, out: out + r * h)
                    }
                }
            }
        }
        let em = dropoutMask(embMask, count: t * h, rate: dropout.hidden)
        hasEmbMask = em != nil
        if let em { Self.multiplyParallel(out, by: em, count: t * h) }
        var input = UnsafePointer(out)
        for (i, layer) in model.layers.enumerated() {
            forward(layer, input: input, tape: tapes[i], batch: b, length: l)
            input = UnsafePointer(tapes[i].out.pointer)
        }
        // Head.
        let n = classifier.labelCount
        var headIn = input
        let rows: Int
        switch task {
        case .tokenClassification:
            rows = t
        case .sequenceClassification:
            rows = b
            guard let pooler = model.pooler else { preconditionFailure("checked at init") }
            let cls = clsInput.reserve(b * h)
            for r in 0..<b { (cls + r * h).update(from: input + r * l * h, count: h) }
            let y = pooled.reserve(b * h)
            pooler.product(cls, rows: b, into: y)
            let bias = pooler.bias.values
            for r in 0..<b { for j in 0..<h { y[r * h + j] = tanhf(y[r * h + j] + bias[j]) } }
            headIn = UnsafePointer(y)
        }
        if let hm = dropoutMask(headMask, count: rows * h, rate: dropout.classifier) {
            let x = headInput.reserve(rows * h)
            TrainingKernels.multiply(headIn, by: hm, count: rows * h, into: x)
            headIn = UnsafePointer(x)
            hasHeadMask = true
        } else {
            hasHeadMask = false
        }
        let lg = logits.reserve(rows * n)
        classifier.linear.product(headIn, rows: rows, into: lg)
        Kernels.addBias(lg, rows: rows, cols: n, bias: classifier.linear.bias.values)
        currentHeadInput = headIn
        return input
    }

    private var currentHeadInput: UnsafePointer<Float>?

    private func forward(_ layer: BertLayer, input x: UnsafePointer<Float>, tape: LayerTape, batch b: Int, length l: Int) {
        let c = model.config, t = b * l, h = c.hiddenSize, f = c.intermediateSize
        let q = tape.q.reserve(t * h), k = tape.k.reserve(t * h), v = tape.v.reserve(t * h)
        let qb = layer.query.bias.values, kb = layer.key.bias.values, vb = layer.value.bias.values
        BertModel.products([(layer.query, q), (layer.key, k), (layer.value, v)], x, rows: t) { lo, n in
            Kernels.addBias(q + lo * h, rows: n, cols: h, bias: qb)
            Kernels.addBias(k + lo * h, rows: n, cols: h, bias: kb)
            Kernels.addBias(v + lo * h, rows: n, cols: h, bias: vb)
        }
        let pairs = b * c.headCount
        let probs = tape.probabilities.reserve(pairs * l * l)
        let pm = dropoutMask(tape.probabilityMask, count: pairs * l * l, rate: dropout.attentionProbabilities)
        tape.hasProbabilityMask = pm != nil
        let ctx = tape.context.reserve(t * h)
        attentionForward(q: q, k: k, v: v, probabilities: probs, mask: pm, context: ctx, batch: b, length: l)
        // Attention output: dense, dropout, residual, LayerNorm.
        let s1 = tape.normalized1.reserve(t * h), r1 = tape.rstd1.reserve(t), h1 = tape.h1.reserve(t * h)
        let m1 = dropoutMask(tape.attentionMask, count: t * h, rate: dropout.hidden)
        tape.hasAttentionMask = m1 != nil
        let an = layer.attentionNorm, aob = layer.attentionOutput.bias.values
        BertModel.products([(layer.attentionOutput, s1)], ctx, rows: t) { lo, n in
            TrainingKernels.addBiasDropoutResidualLayerNorm(
                s1 + lo * h, rows: n, cols: h, bias: aob, mask: m1.map { UnsafePointer($0 + lo * h) },
                residual: x + lo * h, gamma: an.weight.values, beta: an.bias.values,
                eps: an.eps, out: h1 + lo * h, rstd: r1 + lo)
        }
        // Feed-forward: dense, activation, dense, dropout, residual, LayerNorm.
        let z = tape.activationDerivative.reserve(t * f), g = tape.activation.reserve(t * f)
        let ib = layer.intermediate.bias.values, act = c.activation
        BertModel.products([(layer.intermediate, g)], h1, rows: t) { lo, n in
            TrainingKernels.addBiasActivate(g + lo * f, rows: n, cols: f, bias: ib, activation: act, derivative: z + lo * f)
        }
        let s2 = tape.normalized2.reserve(t * h), r2 = tape.rstd2.reserve(t), out = tape.out.reserve(t * h)
        let m2 = dropoutMask(tape.outputMask, count: t * h, rate: dropout.hidden)
        tape.hasOutputMask = m2 != nil
        let on = layer.outputNorm, ob = layer.output.bias.values
        BertModel.products([(layer.output, s2)], g, rows: t) { lo, n in
            TrainingKernels.addBiasDropoutResidualLayerNorm(
                s2 + lo * h, rows: n, cols: h, bias: ob, mask: m2.map { UnsafePointer($0 + lo * h) },
                residual: h1 + lo * h, gamma: on.weight.values, beta: on.bias.values,
                eps: on.eps, out: out + lo * h, rstd: r2 + lo)
        }
    }

    private func scratch(_ workers: Int, _ n: Int) -> [UnsafeMutablePointer<Float>] {
        while attentionScratch.count < workers { attentionScratch.append(FloatBuffer()) }
        return (0..<workers).map { attentionScratch[$0].reserve(n) }
    }

    /// `P = softmax(Q·Kᵀ/√d + mask)` per (sequence, head) into `probabilities` `[batch, heads, L, L]`, then
    /// `context = dropout(P)·V`; the pairs are split over the cores.
    private func attentionForward(
        q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
        probabilities: UnsafeMutablePointer<Float>, mask: UnsafeMutablePointer<Float>?,
        context: UnsafeMutablePointer<Float>, batch b: Int, length l: Int
    ) {
        let c = model.config, h = c.hiddenSize, heads = c.headCount, d = c.headSize, pairs = b * heads
        // Base-2 scores, as the inference path: log₂e joins the 1/√d scale.
        let alpha = 1.442_695_04 / Float(d).squareRoot()
        let workers = min(BLAS.threads, pairs)
        let tmp = scratch(workers, l * l)
        let km = UnsafePointer(keyMask.pointer), kb = UnsafePointer(keyBias.pointer)
        let run = { (w: Int) in
            for pair in (pairs * w / workers)..<(pairs * (w + 1) / workers) {
                let s = probabilities + pair * l * l
                let seq = pair / heads, offset = seq * l * h + (pair % heads) * d
                BLAS.sgemm(
                    m: l, n: l, k: d, alpha: alpha, a: q + offset, lda: h, b: k + offset, ldb: h,
                    transposeB: true, c: s, ldc: l)
                Kernels.maskedSoftmax(s, rows: l, cols: l, keyMask: km + seq * l, keyBias: kb + seq * l)
                var weights = UnsafePointer(s)
                if let mask {
                    TrainingKernels.multiply(s, by: mask + pair * l * l, count: l * l, into: tmp[w])
                    weights = UnsafePointer(tmp[w])
                }
                BLAS.sgemm(
                    m: l, n: d, k: l, a: weights, lda: l, b: v + offset, ldb: h, transposeB: false,
                    c: context + offset, ldc: h)
            }
        }
        if workers <= 1 { run(0) } else { Parallel.forEach(workers, run) }
    }

    /// The loss and `∂(scale · loss)/∂logits` into `dLogits`: for counted rows `(softmax − onehot(y)) · scale / counted`.
    private func lossAndLogitGradient(rows: Int, labels: [Int32], counted: Int, scale: Float, shape: [Int]) -> (Float, FloatTensor) {
        let n = classifier.labelCount
        let lg = logits.pointer, dl = dLogits.reserve(rows * n)
        var total = 0.0
        let w = Double(scale) / Double(counted)
        for r in 0..<rows {
            let x = lg + r * n, g = dl + r * n
            let y = Int(labels[r])
            guard y != -100 else {
                g.update(repeating: 0, count: n)
                continue
            }
            var m = x[0]
            for j in 1..<n { m = max(m, x[j]) }
            var sum = 0.0
            for j in 0..<n { sum += exp(Double(x[j] - m)) }
            total += Double(m) + log(sum) - Double(x[y])
            for j in 0..<n { g[j] = Float(exp(Double(x[j] - m)) / sum * w - (j == y ? w : 0)) }
        }
        return (Float(total / Double(counted)), FloatTensor(shape: shape, copying: lg))
    }

    private func backward(_ batch: EncoderBatch, last: UnsafePointer<Float>) {
        let c = model.config, b = batch.batchSize, l = batch.sequenceLength, t = b * l, h = c.hiddenSize
        let n = classifier.labelCount
        let rows = task == .tokenClassification ? t : b
        guard let headIn = currentHeadInput else { preconditionFailure("forward first") }
        let dl = UnsafePointer(dLogits.pointer)
        let cw = classifier.linear.weight, cb = classifier.linear.bias
        LinearBackward.weightGradient(dl, headIn, rows: rows, out: n, in: h, into: grad(cw))
        LinearBackward.biasGradient(dl, rows: rows, cols: n, into: grad(cb))
        let dOut = dHidden.reserve(t * h)
        switch task {
        case .tokenClassification:
            LinearBackward.inputGradient([(dl, cw.values, n)], rows: rows, in: h, into: dOut, accumulate: false)
            if hasHeadMask { Self.multiplyParallel(dOut, by: headMask.pointer, count: t * h) }
        case .sequenceClassification:
            guard let pooler = model.pooler else { preconditionFailure("checked at init") }
            let dp = dPooled.reserve(b * h)
            LinearBackward.inputGradient([(dl, cw.values, n)], rows: b, in: h, into: dp, accumulate: false)
            if hasHeadMask { TrainingKernels.multiply(dp, by: headMask.pointer, count: b * h) }
            let y = pooled.pointer
            for i in 0..<(b * h) { dp[i] *= 1 - y[i] * y[i] }
            let cls = UnsafePointer(clsInput.pointer)
            LinearBackward.weightGradient(dp, cls, rows: b, out: h, in: h, into: grad(pooler.weight))
            LinearBackward.biasGradient(dp, rows: b, cols: h, into: grad(pooler.bias))
            let dc = dHead.reserve(b * h)
            LinearBackward.inputGradient([(UnsafePointer(dp), pooler.weight.values, h)], rows: b, in: h, into: dc, accumulate: false)
            dOut.update(repeating: 0, count: t * h)
            for r in 0..<b { (dOut + r * l * h).update(from: dc + r * h, count: h) }
        }
        for i in stride(from: model.layers.count - 1, through: 0, by: -1) {
            let input = i == 0 ? UnsafePointer(embOut.pointer) : UnsafePointer(tapes[i - 1].out.pointer)
            backward(model.layers[i], input: input, tape: tapes[i], dOut: dOut, batch: b, length: l)
        }
        embeddingBackward(batch, dOut: dOut)
    }

    /// LayerNorm backward over all `rows`, split over the cores with per-core partial sums for the weight and
    /// bias gradients.
    private func layerNormBackward(
        dy: UnsafePointer<Float>, normalized: UnsafePointer<Float>, rstd: UnsafePointer<Float>,
        rows: Int, norm: LayerNorm, dx: UnsafeMutablePointer<Float>
    ) {
        let h = norm.weight.count
        let parts = rows * h >= Parallel.minimumWork ? BLAS.threads : 1
        let partial = partials.reserve(parts * 2 * h)
        partial.update(repeating: 0, count: parts * 2 * h)
        let run = { (w: Int) in
            let lo = rows * w / parts, hi = rows * (w + 1) / parts
            TrainingKernels.layerNormBackward(
                dy: dy, normalized: normalized, rstd: rstd, rows: lo..<hi, cols: h,
                gamma: norm.weight.values, gradGamma: partial + w * 2 * h,
                gradBeta: partial + w * 2 * h + h, dx: dx)
        }
        if parts <= 1 { run(0) } else { Parallel.forEach(parts, run) }
        let gg = grad(norm.weight), gb = grad(norm.bias)
        for w in 0..<parts {
            TrainingKernels.add(partial + w * 2 * h, into: gg, count: h)
            TrainingKernels.add(partial + w * 2 * h + h, into: gb, count: h)
        }
    }

    /// The gradient before a dropout whose output gradient is `d` (kept: residual branches still need `d`): `d · mask`
    /// in the `dMasked` scratch buffer, or `d` itself without dropout.
    private func throughDropout(_ d: UnsafeMutablePointer<Float>, count: Int, mask: FloatBuffer?) -> UnsafePointer<Float> {
        guard let mask else { return UnsafePointer(d) }
        let m = dMasked.reserve(count), keep = UnsafePointer(mask.pointer)
        Parallel.chunks(count, workPerItem: 2) { r in
            TrainingKernels.multiply(d + r.lowerBound, by: keep + r.lowerBound, count: r.count, into: m + r.lowerBound)
        }
        return UnsafePointer(m)
    }

    /// One layer's backward pass: `dOut` (`[T, hidden]`, ∂loss/∂layer output) is replaced by ∂loss/∂layer input.
    private func backward(
        _ layer: BertLayer, input x: UnsafePointer<Float>, tape: LayerTape, dOut: UnsafeMutablePointer<Float>,
        batch b: Int, length l: Int
    ) {
        let c = model.config, t = b * l, h = c.hiddenSize, f = c.intermediateSize
        // Output LayerNorm: ∂s2 (s2 = dropout(o) + h1).
        let ds2 = dTemp.reserve(t * h)
        layerNormBackward(dy: dOut, normalized: tape.normalized2.pointer, rstd: tape.rstd2.pointer, rows: t, norm: layer.outputNorm, dx: ds2)
        let dO = throughDropout(ds2, count: t * h, mask: tape.hasOutputMask ? tape.outputMask : nil)
        // output.dense [hidden, intermediate].
        let g = UnsafePointer(tape.activation.pointer)
        LinearBackward.weightGradient(dO, g, rows: t, out: h, in: f, into: grad(layer.output.weight))
        LinearBackward.biasGradient(dO, rows: t, cols: h, into: grad(layer.output.bias))
        let dg = dFFN.reserve(t * f)
        LinearBackward.inputGradient([(dO, layer.output.weight.values, h)], rows: t, in: f, into: dg, accumulate: false)
        let derivative = UnsafePointer(tape.activationDerivative.pointer)
        Parallel.chunks(t * f, workPerItem: 2) { r in
            TrainingKernels.multiply(dg + r.lowerBound, by: derivative + r.lowerBound, count: r.count)
        }
        // intermediate.dense [intermediate, hidden]; ∂h1 = ∂s2 (residual) + dz · W.
        let h1 = UnsafePointer(tape.h1.pointer)
        LinearBackward.weightGradient(dg, h1, rows: t, out: f, in: h, into: grad(layer.intermediate.weight))
        LinearBackward.biasGradient(dg, rows: t, cols: f, into: grad(layer.intermediate.bias))
        LinearBackward.inputGradient([(UnsafePointer(dg), layer.intermediate.weight.values, f)], rows: t, in: h, into: ds2, accumulate: true)
        // Attention LayerNorm: ∂s1 into dOut (s1 = dropout(a) + x).
        layerNormBackward(dy: ds2, normalized: tape.normalized1.pointer, rstd: tape.rstd1.pointer, rows: t, norm: layer.attentionNorm, dx: dOut)
        let da = throughDropout(dOut, count: t * h, mask: tape.hasAttentionMask ? tape.attentionMask : nil)
        // attention.output.dense [hidden, hidden].
        let ctx = UnsafePointer(tape.context.pointer)
        LinearBackward.weightGradient(da, ctx, rows: t, out: h, in: h, into: grad(layer.attentionOutput.weight))
        LinearBackward.biasGradient(da, rows: t, cols: h, into: grad(layer.attentionOutput.bias))
        let dctx = dContext.reserve(t * h)
        LinearBackward.inputGradient([(da, layer.attentionOutput.weight.values, h)], rows: t, in: h, into: dctx, accumulate: false)
        // Attention core.
        let dq = dQ.reserve(t * h), dk = dK.reserve(t * h), dv = dV.reserve(t * h)
        attentionBackward(tape: tape, dContext: dctx, dq: dq, dk: dk, dv: dv, batch: b, length: l)
        // query / key / value [hidden, hidden]; ∂x = ∂s1 (residual) + Σ dQ·Wq + dK·Wk + dV·Wv.
        for (lin, d) in [(layer.query, dq), (layer.key, dk), (layer.value, dv)] {
            LinearBackward.weightGradient(d, x, rows: t, out: h, in: h, into: grad(lin.weight))
            LinearBackward.biasGradient(d, rows: t, cols: h, into: grad(lin.bias))
        }
        LinearBackward.inputGradient(
            [
                (UnsafePointer(dq), layer.query.weight.values, h), (UnsafePointer(dk), layer.key.weight.values, h),
                (UnsafePointer(dv), layer.value.weight.values, h),
            ],
            rows: t, in: h, into: dOut, accumulate: true)
    }

    /// ∂Q, ∂K, ∂V `[T, hidden]` from ∂context, per (sequence, head) pair, the pairs split over the cores:
    /// `∂V = dropout(P)ᵀ·∂C`, `∂P = dropout′(∂C·Vᵀ)`, `∂S = P·(∂P − rowsum(∂P·P))`, `∂Q = ∂S·K/√d`, `∂K = ∂Sᵀ·Q/√d`.
    private func attentionBackward(
        tape: LayerTape, dContext dc: UnsafePointer<Float>, dq: UnsafeMutablePointer<Float>,
        dk: UnsafeMutablePointer<Float>, dv: UnsafeMutablePointer<Float>, batch b: Int, length l: Int
    ) {
        let c = model.config, h = c.hiddenSize, heads = c.headCount, d = c.headSize, pairs = b * heads
        let scale = 1 / Float(d).squareRoot()
        let workers = min(BLAS.threads, pairs)
        let tmp = scratch(workers, 2 * l * l)
        let probs = UnsafePointer(tape.probabilities.pointer)
        let mask: UnsafePointer<Float>? = tape.hasProbabilityMask ? UnsafePointer(tape.probabilityMask.pointer) : nil
        let q = UnsafePointer(tape.q.pointer), k = UnsafePointer(tape.k.pointer), v = UnsafePointer(tape.v.pointer)
        let run = { (w: Int) in
            let dropped = tmp[w], ds = tmp[w] + l * l
            for pair in (pairs * w / workers)..<(pairs * (w + 1) / workers) {
                let p = probs + pair * l * l
                let offset = (pair / heads) * l * h + (pair % heads) * d
                var weights = p
                if let mask {
                    TrainingKernels.multiply(p, by: mask + pair * l * l, count: l * l, into: dropped)
                    weights = UnsafePointer(dropped)
                }
                BLAS.gemm(
                    transposeA: true, transposeB: false, m: l, n: d, k: l, a: weights, lda: l, b: dc + offset, ldb: h,
                    beta: 0, c: dv + offset, ldc: h)
                BLAS.gemm(
                    transposeA: false, transposeB: true, m: l, n: l, k: d, a: dc + offset, lda: h, b: v + offset, ldb: h,
                    beta: 0, c: ds, ldc: l)
                if let mask { TrainingKernels.multiply(ds, by: mask + pair * l * l, count: l * l) }
                TrainingKernels.softmaxBackward(ds, probabilities: p, rows: l, cols: l)
                BLAS.gemm(
                    transposeA: false, transposeB: false, m: l, n: d, k: l, alpha: scale, a: ds, lda: l, b: k + offset, ldb: h,
                    beta: 0, c: dq + offset, ldc: h)
                BLAS.gemm(
                    transposeA: true, transposeB: false, m: l, n: d, k: l, alpha: scale, a: ds, lda: l, b: q + offset, ldb: h,
                    beta: 0, c: dk + offset, ldc: h)
            }
        }
        if workers <= 1 { run(0) } else { Parallel.forEach(workers, run) }
    }

    /// Embedding backward: dropout, LayerNorm, then the rows of the three tables (the padding row of the word
    /// embeddings is skipped, as `padding_idx`).
    private func embeddingBackward(_ batch: EncoderBatch, dOut: UnsafeMutablePointer<Float>) {
        let l = batch.sequenceLength, t = batch.batchSize * l, h = model.config.hiddenSize
        if hasEmbMask { Self.multiplyParallel(dOut, by: embMask.pointer, count: t * h) }
        let ds = dTemp.reserve(t * h)
        let e = model.embeddings
        layerNormBackward(dy: dOut, normalized: embNormalized.pointer, rstd: embRstd.pointer, rows: t, norm: e.norm, dx: ds)
        let gw = word.gradient, gp = grad(e.position), gt = grad(e.tokenType)
        let pad = paddingIndex ?? -1
        for r in 0..<t {
            let id = Int(batch.inputIDs[r]), src = UnsafePointer(ds + r * h)
            if !rowUsed[id] {
                rowUsed[id] = true
                usedRows.append(Int32(id))
            }
            if id != pad { TrainingKernels.add(src, into: gw + id * h, count: h) }
            TrainingKernels.add(src, into: gp + (r % l) * h, count: h)
            TrainingKernels.add(src, into: gt + Int(batch.tokenTypeIDs[r]) * h, count: h)
        }
    }

    // MARK: - Optimizer

    /// Per-parameter L2 norms of the accumulated gradients (float64), in ``parameters`` order.
    public func gradientNorms() -> [Double] {
        let h = model.config.hiddenSize
        return parameters.map { p in
            if p === word {
                return usedRows.reduce(0.0) { $0 + TrainingKernels.sumOfSquares(word.gradient + Int($1) * h, count: h) }.squareRoot()
            }
            return TrainingKernels.sumOfSquares(p.gradient, count: p.count).squareRoot()
        }
    }

    /// Multiplies every accumulated gradient by `factor`.
    public func scaleGradients(by factor: Float) {
        let h = model.config.hiddenSize
        for p in parameters where p !== word { TrainingKernels.scale(p.gradient, count: p.count, by: factor) }
        for id in usedRows { TrainingKernels.scale(word.gradient + Int(id) * h, count: h, by: factor) }
    }

    /// HF Trainer's optimizer step: clip the gradients to ``maxGradNorm`` (`clip_grad_norm_`), one AdamW step
    /// at the schedule's rate, advance the schedule, clear the gradients.
    @discardableResult
    public func step() -> OptimizerStepReport {
        let total = GradientClipping.totalNorm(gradientNorms())
        var coefficient = 1.0
        if let maxGradNorm {
            coefficient = GradientClipping.coefficient(totalNorm: total, maxNorm: maxGradNorm)
            if coefficient < 1 { scaleGradients(by: Float(coefficient)) }
        }
        let lr = schedule.learningRate(at: optimizerStep)
        optimizerStep += 1
        applyAdamW(learningRate: lr, step: optimizerStep)
        zeroGradients()
        return OptimizerStepReport(step: optimizerStep, learningRate: lr, gradientNorm: total, clipCoefficient: coefficient)
    }

    /// AdamW on every parameter (dense: rows of the word embeddings that no input used still decay and move
    /// with their moments, as torch's dense embedding gradient does), in blocks shared between the cores.
    private func applyAdamW(learningRate lr: Double, step t: Int) {
        var blocks: [(TrainableParameter, Int, Int)] = []
        let size = 1 << 16
        for p in parameters {
            p.ensureMoments()
            var lo = 0
            while lo < p.count {
                blocks.append((p, lo, min(size, p.count - lo)))
                lo += size
            }
        }
        let opt = optimizer
        let workers = min(BLAS.threads, blocks.count)
        let run = { (w: Int) in
            for i in stride(from: w, to: blocks.count, by: workers) {
                let (p, lo, n) = blocks[i]
                opt.update(
                    parameter: p.parameter.mutableValues() + lo, gradient: p.gradient + lo, expAvg: p.expAvg! + lo,
                    expAvgSq: p.expAvgSq! + lo, count: n, step: t, learningRate: lr, weightDecay: p.weightDecay)
            }
        }
        if workers <= 1 { run(0) } else { Parallel.forEach(workers, run) }
    }
}
