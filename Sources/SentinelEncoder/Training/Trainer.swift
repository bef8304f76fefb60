import SentinelCore

/// One training or evaluation example: the encoder row and its labels.
public struct TrainingExample: Sendable, Equatable {
    /// `input_ids` and `token_type_ids` with the special tokens, already cut to the maximum length.
    public var row: EncoderRow
    /// Token classification: one label per position of `row` (`-100` where the loss ignores it: special tokens and
    /// every sub-token but the first of a word, HF's token-classification recipe). Sequence classification: one label.
    public var labels: [Int32]

    public init(row: EncoderRow, labels: [Int32]) {
        self.row = row
        self.labels = labels
    }

    /// Labels that count (not `-100`).
    public var countedLabels: Int { labels.reduce(0) { $0 + ($1 == -100 ? 0 : 1) } }
}

/// The hyper-parameters of a ``Trainer`` run (HF `TrainingArguments` names in the docs).
public struct TrainerOptions: Sendable, Equatable {
    /// `num_train_epochs`.
    public var epochs = 3
    /// `per_device_train_batch_size`: rows per forward pass.
    public var batchSize = 16
    /// `learning_rate`: the peak of the linear schedule.
    public var learningRate = 5e-5
    /// `warmup_ratio`: warm-up steps = ⌈ratio · total optimizer steps⌉.
    public var warmupRatio = 0.0
    /// `gradient_accumulation_steps`: forward passes per optimizer step.
    public var gradientAccumulation = 1
    /// `seed`: the data order, the dropout masks and (by the caller) the classifier's initial weights.
    public var seed: UInt64 = 42
    /// `weight_decay` of the decaying parameters (HF Trainer's grouping: not biases and LayerNorm).
    public var weightDecay = 0.01
    /// `max_grad_norm`.
    public var maxGradNorm = 1.0
    /// `logging_steps`: a `metrics.jsonl` line (mean loss since the last one) every this many optimizer steps.
    public var logEvery = 50
    /// `save_steps`: a resumable checkpoint every this many optimizer steps (and at each epoch end).
    public var checkpointEvery = 500
    /// Rows per forward pass when evaluating.
    public var evaluationBatchSize = 32

    public init() {}
}

/// What ``Trainer/run(progress:)`` reports after each optimizer step.
public struct TrainingProgress: Sendable {
    /// Optimizer steps done (1-based) and in all.
    public var step: Int, totalSteps: Int
    /// Epoch of the step (1-based) and the number of epochs.
    public var epoch: Int, epochs: Int
    /// Mean training loss of this step's forward passes.
    public var loss: Double
    /// The learning rate the step used.
    public var learningRate: Double
    /// Optimizer steps per second of wall time since this run (or resumed run) started.
    public var stepsPerSecond: Double
    /// Seconds left at that rate.
    public var secondsLeft: Double { stepsPerSecond > 0 ? Double(totalSteps - step) / stepsPerSecond : .infinity }
}

/// Metrics of a model on labelled examples (``TaskEvaluation``).
public struct EvaluationReport: Sendable {
    /// Named metrics in report order: token classification `precision`, `recall`, `f1` (seqeval entity level, micro
    /// averaged), `accuracy` (over the labelled positions); sequence classification `accuracy`, `f1` (binary F1 of label 1 for two labels, as GLUE reports it; macro F1 otherwise).
    public var metrics: [(name: String, value: Double)]
    /// The one that picks the best checkpoint: entity F1, or accuracy.
    public var primaryName: String
    public var primary: Double { metrics.first { $0.name == primaryName }?.value ?? .nan }
    /// Per example, the predicted label index at each counted position (token classification) or the one label.
    public var predictions: [[Int]]
    /// Examples evaluated.
    public var examples: Int

    public func value(_ name: String) -> Double? { metrics.first { $0.name == name }?.value }
}

/// Evaluation of a fine-tuned classifier (no dropout), shared by the trainer and `sentinel evaluate`.
public enum TaskEvaluation {
    /// Rows run through the encoder at once (each chunk in length-bucketed batches of `batchSize`).
    public static let chunkRows = 256

    /// Runs `classifier` on `examples` (length-bucketed batches) and scores the argmax predictions against the labels.
    /// - Parameter labelNames: IOB2 names of the label ids (token classification: the entity metrics read them).
    /// - Throws: ``InputError`` from the forward pass (ids out of range, non-finite logits), `.outOfRange` (file
    ///   `input`) for a label id outside `labelNames`.
    public static func evaluate(
        model: BertModel, classifier: ClassificationHead, task: TrainingTask, examples: [TrainingExample],
        labelNames: [String], batchSize: Int = 32, source: String = "validation"
    ) throws -> EvaluationReport {
        let kind: TaskKind = task == .tokenClassification ? .ner : .classification
        // In chunks of `chunkRows` rows: the encoder's outputs for a whole validation set, padded, would dominate the
        // memory of a run (3,250 CoNLL rows × 128 × 384 floats = 640 MB for MiniLM).
        let rows = examples.map(\.row)
        var logits = TaskLogits(kind: kind, labelCount: classifier.labelCount, rows: [])
        logits.rows.reserveCapacity(rows.count)
        for lo in stride(from: 0, to: rows.count, by: chunkRows) {
            let part = try model.logits(
                Array(rows[lo..<min(lo + chunkRows, rows.count)]), head: classifier, kind: kind, batchSize: batchSize, source: source)
            logits.rows += part.rows
        }
        var predictions: [[Int]] = []
        predictions.reserveCapacity(examples.count)
        func name(_ i: Int, _ where_: Int) throws -> String {
            guard i >= 0 && i < labelNames.count else {
                throw InputError(.outOfRange, file: source, key: "labels[\(where_)]", "label \(i) is outside the \(labelNames.count) labels")
            }
            return labelNames[i]
        }
        switch task {
        case .tokenClassification:
            var gold: [[String]] = [], predicted: [[String]] = []
            var correct = 0, total = 0
            for (r, example) in examples.enumerated() {
                let all = logits.predictedLabels(row: r)
                var g: [String] = [], p: [String] = [], ids: [Int] = []
                for (i, y) in example.labels.enumerated() where y != -100 {
                    g.append(try name(Int(y), r))
                    p.append(try name(all[i], r))
                    ids.append(all[i])
                    total += 1
                    if all[i] == Int(y) { correct += 1 }
                }
                gold.append(g)
                predicted.append(p)
                predictions.append(ids)
            }
            let scores = SequenceLabeling.entityScores(gold: gold, predicted: predicted)
            return EvaluationReport(
                metrics: [
                    ("precision", scores.precision), ("recall", scores.recall), ("f1", scores.f1),
                    ("accuracy", total == 0 ? 0 : Double(correct) / Double(total)),
                ], primaryName: "f1", predictions: predictions, examples: examples.count)
        case .sequenceClassification:
            var gold: [Int] = [], predicted: [Int] = []
            for (r, example) in examples.enumerated() {
                let p = logits.predictedLabels(row: r)[0]
                _ = try name(Int(example.labels[0]), r)
                gold.append(Int(example.labels[0]))
                predicted.append(p)
                predictions.append([p])
            }
            let scores = ClassificationScores.compute(gold: gold, predicted: predicted, labelCount: labelNames.count)
            return EvaluationReport(
                metrics: [("accuracy", scores.accuracy), ("f1", scores.binaryF1 ?? scores.macroF1)], primaryName: "accuracy",
                predictions: predictions, examples: examples.count)
        }
    }
}

/// The fine-tuning loop of HF `Trainer` on a ``TrainingSession``: epochs of shuffled, length-bucketed,
/// dynamically padded batches, gradient accumulation, AdamW with a linear warm-up and decay over all optimizer
/// steps, clipping, an evaluation on the validation set at each epoch end, the best weights kept, and resumable
/// checkpoints.
///
/// **Data order.** Each epoch `e` permutes the training rows with a SplitMix64 stream seeded by `(seed, e)`, sorts
/// them by length (stable, so rows of one length are grouped at random), cuts them into batches of ``TrainerOptions/batchSize``
/// (``LengthBuckets``) and shuffles the batch order with the same stream: little padding, and a different grouping
/// every epoch. Each batch is padded to its own longest row (``EncoderBatch/init(rows:members:)``).
///
/// **Accumulation.** ``TrainerOptions/gradientAccumulation`` forward passes per optimizer step (the last group of an
/// epoch may be shorter, as in HF); each pass's loss is weighted by its share of the group's counted labels, so the
/// step follows the mean loss over every counted label of the group (HF Trainer's `num_items_in_batch`).
///
/// **Checkpoints.** Every ``TrainerOptions/checkpointEvery`` steps and at each epoch end, `checkpointDirectory` is
/// replaced atomically (``AtomicDirectory``) by: `weights.safetensors` (every trained parameter, F32, the session's
/// names), `optimizer.safetensors` (``TrainingSession/optimizerState()``: moments, step, dropout generator, plus
/// `trainer.data_order` I64 — this epoch's batches, row indices, −1-padded `[batches, batchSize]`),
/// `trainer_state.json` (epoch, batches done in it, best metric, the log history so far). The best weights (by the
/// primary validation metric) go to `best.safetensors` beside the checkpoint directory. A new `Trainer` on the same
/// model, data and options whose checkpoint directory holds a checkpoint resumes from it (``resume()``) and ends with
/// the same weights, bit for bit, as an uninterrupted run (same thread count).
public final class Trainer {
    public let session: TrainingSession
    public let train: [TrainingExample]
    public let validation: [TrainingExample]
    public let labelNames: [String]
    public let options: TrainerOptions
    /// Directory of the resumable checkpoint (replaced as a whole), or `nil` for none.
    public let checkpointDirectory: String?
    public let store: TensorFileStore?
    /// Test hook, the equivalent of killing the process: ``run(progress:)`` returns (throws ``Interrupted``) after this
    /// many optimizer steps of the whole run, without any further checkpoint.
    public var stopAfterStep: Int?

    /// Optimizer steps per epoch and in all.
    public let stepsPerEpoch: Int, totalSteps: Int
    /// `metrics.jsonl` lines so far: logging steps (`step`, `epoch`, `loss`, `learning_rate`, `grad_norm`) and
    /// evaluations (`step`, `epoch`, `eval_<metric>`…).
    public private(set) var history: [JSONValue] = []
    /// The best evaluation so far (primary metric) and its step.
    public private(set) var best: (value: Double, step: Int)?
    /// The last evaluation.
    public private(set) var lastEvaluation: EvaluationReport?
    /// Epoch (0-based) and batches of it done: where the next ``run(progress:)`` starts.
    public private(set) var epoch = 0, batchesDone = 0
    /// Seconds of training wall time per finished epoch of this process (for the report).
    public private(set) var epochSeconds: [Double] = []

    private var order: [[Int]] = []
    private let rows: [EncoderRow]
    private var loggedLoss = 0.0, loggedSteps = 0

    /// Thrown by ``run(progress:)`` when ``stopAfterStep`` is reached.
    public struct Interrupted: Error, Sendable {
        public var step: Int
    }

    /// - Parameters:
    ///   - model: the encoder (its parameters become owned copies updated in place).
    ///   - classifier: the initial classifier (`[labels, hidden]`).
    ///   - task: token or sequence classification.
    ///   - dropout: the model's rates (``DropoutRates/load(path:)``).
    ///   - paddingIndex: `pad_token_id`.
    ///   - train, validation: the examples (``TrainingExample``); the validation set is evaluated at each epoch end.
    ///   - labelNames: the names of the label ids (`id2label`).
    /// - Throws: ``InputError`` from ``TrainingSession/init(model:classifier:task:dropout:seed:optimizer:schedule:maxGradNorm:paddingIndex:)``,
    ///   `.invalidStructure` (file `train`) for an empty training set, `.outOfRange` for options out of range.
    public init(
        model: BertModel, classifier: ClassificationHead, task: TrainingTask, dropout: DropoutRates, paddingIndex: Int? = 0,
        train: [TrainingExample], validation: [TrainingExample], labelNames: [String], options: TrainerOptions,
        checkpointDirectory: String? = nil, store: TensorFileStore? = nil
    ) throws {
        guard !train.isEmpty else { throw InputError(.invalidStructure, file: "train", "no training examples") }
        guard options.batchSize >= 1, options.gradientAccumulation >= 1, options.epochs >= 1, options.logEvery >= 1,
            options.checkpointEvery >= 1, options.learningRate > 0, options.learningRate.isFinite,
            (0...1).contains(options.warmupRatio)
        else {
            throw InputError(
                .outOfRange, file: "options",
                "epochs, batch size, accumulation, logging and checkpoint steps must be ≥ 1, the learning rate > 0, the warm-up ratio in [0, 1]")
        }
        let batches = (train.count + options.batchSize - 1) / options.batchSize
        stepsPerEpoch = (batches + options.gradientAccumulation - 1) / options.gradientAccumulation
        totalSteps = stepsPerEpoch * options.epochs
        let warmup = Int((options.warmupRatio * Double(totalSteps)).rounded(.up))
        session = try TrainingSession(
            model: model, classifier: classifier, task: task, dropout: dropout, seed: options.seed,
            optimizer: AdamW(weightDecay: options.weightDecay),
            schedule: .linear(options.learningRate, warmupSteps: warmup, totalSteps: totalSteps),
            maxGradNorm: options.maxGradNorm, paddingIndex: paddingIndex)
        self.train = train
        rows = train.map(\.row)
        self.validation = validation
        self.labelNames = labelNames
        self.options = options
        self.checkpointDirectory = checkpointDirectory
        self.store = store
        order = Self.epochOrder(train, batchSize: options.batchSize, seed: options.seed, epoch: 0)
    }

    // MARK: - Data order

    /// SplitMix64.
    struct Stream {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        /// Uniform in `0..<n` (Lemire's multiply-shift with rejection).
        mutating func below(_ n: Int) -> Int {
            let bound = UInt64(n)
            while true {
                let m = next().multipliedFullWidth(by: bound)
                if m.low >= (0 &- bound) % bound { return Int(m.high) }
            }
        }
        mutating func shuffle<T>(_ a: inout [T]) {
            guard a.count > 1 else { return }
            for i in stride(from: a.count - 1, to: 0, by: -1) { a.swapAt(i, below(i + 1)) }
        }
    }

    /// The batches of epoch `epoch` (0-based): row indices (see the data order above).
    public static func epochOrder(_ train: [TrainingExample], batchSize: Int, seed: UInt64, epoch: Int) -> [[Int]] {
        var stream = Stream(state: seed ^ (UInt64(epoch + 1) &* 0xD1B5_4A32_D192_ED03))
        var perm = Array(train.indices)
        stream.shuffle(&perm)
        var batches = LengthBuckets.batches(lengths: perm.map { train[$0].row.ids.count }, batchSize: batchSize).map { $0.map { perm[$0] } }
        stream.shuffle(&batches)
        return batches
    }

    // MARK: - Running

    /// Trains to the end (or to ``stopAfterStep``), from where the trainer stands (a fresh start or ``resume()``).
    /// - Parameter progress: called after each optimizer step.
    /// - Returns: the last evaluation (the validation set after the last epoch).
    /// - Throws: ``Interrupted`` at ``stopAfterStep``; ``InputError`` from the forward passes; ``OutputError`` when a
    ///   checkpoint cannot be written.
    @discardableResult
    public func run(progress: (TrainingProgress) -> Void = { _ in }) throws -> EvaluationReport? {
        let start = monotonicSeconds(), startStep = session.optimizerStep
        var epochStart = start
        while epoch < options.epochs {
            let batches = order
            let acc = options.gradientAccumulation
            while batchesDone < batches.count {
                let group = Array(batches[batchesDone..<min(batchesDone + acc, batches.count)])
                let counts = group.map { $0.reduce(0) { $0 + train[$1].countedLabels } }
                let all = counts.reduce(0, +)
                var loss = 0.0
                for (members, count) in zip(group, counts) where count > 0 {
                    let batch = try EncoderBatch(rows: rows, members: members)
                    let labels = labelsOf(members, length: batch.sequenceLength)
                    let out = try session.forwardBackward(batch, labels: labels, lossScale: Float(count) / Float(all))
                    loss += Double(out.loss) * Double(count) / Double(all)
                }
                let report = session.step()
                batchesDone += group.count
                let step = session.optimizerStep
                loggedLoss += loss
                loggedSteps += 1
                if step % options.logEvery == 0 {
                    history.append(
                        .object([
                            ("step", .int(Int64(step))), ("epoch", number(Double(epoch) + Double(batchesDone) / Double(batches.count))),
                            ("loss", number(loggedLoss / Double(loggedSteps))), ("learning_rate", number(report.learningRate)),
                            ("grad_norm", number(report.gradientNorm)),
                        ]))
                    loggedLoss = 0
                    loggedSteps = 0
                }
                let elapsed = monotonicSeconds() - start
                progress(
                    TrainingProgress(
                        step: step, totalSteps: totalSteps, epoch: epoch + 1, epochs: options.epochs, loss: loss,
                        learningRate: report.learningRate, stepsPerSecond: elapsed > 0 ? Double(step - startStep) / elapsed : 0))
                if let stop = stopAfterStep, step >= stop { throw Interrupted(step: step) }
                if step % options.checkpointEvery == 0 && batchesDone < batches.count { try saveCheckpoint() }
            }
            epochSeconds.append(monotonicSeconds() - epochStart)
            // Epoch end: evaluate, keep the best, move to the next epoch's order, checkpoint.
            if !validation.isEmpty {
                let report = try evaluate(validation, source: "validation")
                lastEvaluation = report
                var fields: [(String, JSONValue)] = [("step", .int(Int64(session.optimizerStep))), ("epoch", .int(Int64(epoch + 1)))]
                for (name, value) in report.metrics { fields.append(("eval_" + name, number(value))) }
                history.append(.object(fields))
                // The first evaluation, then only a strictly better one (a NaN score is never better).
                if best == nil || report.primary > best!.value || (best!.value.isNaN && !report.primary.isNaN) {
                    best = (report.primary, session.optimizerStep)
                    if let path = bestWeightsPath, let store { try store.write(parameterArchive(), to: path) }
                }
            }
            epoch += 1
            batchesDone = 0
            if epoch < options.epochs { order = Self.epochOrder(train, batchSize: options.batchSize, seed: options.seed, epoch: epoch) }
            try saveCheckpoint()
            epochStart = monotonicSeconds()
        }
        return lastEvaluation
    }

    /// Evaluates the current weights (no dropout) on `examples`.
    public func evaluate(_ examples: [TrainingExample], source: String) throws -> EvaluationReport {
        try TaskEvaluation.evaluate(
            model: session.model, classifier: session.classifier, task: session.task, examples: examples,
            labelNames: labelNames, batchSize: options.evaluationBatchSize, source: source)
    }

    private func labelsOf(_ members: [Int], length l: Int) -> [Int32] {
        switch session.task {
        case .sequenceClassification: return members.map { train[$0].labels[0] }
        case .tokenClassification:
            var out = [Int32](repeating: -100, count: members.count * l)
            for (k, r) in members.enumerated() {
                for (j, y) in train[r].labels.enumerated() { out[k * l + j] = y }
            }
            return out
        }
    }

    private func number(_ x: Double) -> JSONValue { x.isFinite ? .double(x, text: nil) : .null }

    // MARK: - Weights

    /// Every trained parameter (the session's names, e.g. `encoder.layer.0.output.dense.weight`, `classifier.bias`)
    /// as a no-copy archive view of the live values; `rename` maps each name (e.g. to the HF task model's names).
    public func parameterArchive(rename: (String) -> String = { $0 }) -> TensorArchive {
        ParameterArchive(session.parameters.map { (rename($0.name), $0.parameter) })
    }

    /// Copies the values of every trained parameter from `archive` (names as ``parameterArchive(rename:)`` wrote them).
    /// - Throws: ``InputError`` naming the archive and tensor (`.missing`, `.sizeMismatch`); nothing changes then.
    public func loadWeights(from archive: TensorArchive, rename: (String) -> String = { $0 }) throws {
        for p in session.parameters {
            let name = rename(p.name)
            guard let e = archive.entry(named: name) else { throw InputError(.missing, file: archive.path, key: name, "weights tensor missing") }
            guard e.dtype == .F32, e.shape == p.shape else {
                throw InputError(.sizeMismatch, file: archive.path, key: name, "\(e.dtype) \(e.shape), expected F32 \(p.shape)")
            }
        }
        for p in session.parameters {
            try archive.withBytes(of: rename(p.name)) { raw in
                UnsafeMutableRawPointer(p.parameter.mutableValues()).copyMemory(from: raw.baseAddress!, byteCount: p.count * 4)
            }
        }
    }

    // MARK: - Checkpoints

    /// `best.safetensors` beside the checkpoint directory.
    public var bestWeightsPath: String? {
        checkpointDirectory.map { dir in
            var d = dir
            while d.count > 1 && d.hasSuffix("/") { d.removeLast() }
            guard let slash = d.lastIndex(of: "/") else { return "best.safetensors" }
            return String(d[...slash]) + "best.safetensors"
        }
    }

    /// Writes the checkpoint now (atomically replacing the directory).
    public func saveCheckpoint() throws {
        guard let dir = checkpointDirectory, let store else { return }
        let out = try AtomicDirectory(path: dir, replace: true)
        try store.write(parameterArchive(), to: out.file("weights.safetensors"))
        let state = CombinedArchive(session.optimizerState(), extra: dataOrderArchive())
        try store.write(state, to: out.file("optimizer.safetensors"))
        var fields: [(String, JSONValue)] = [
            ("epoch", .int(Int64(epoch))), ("batches_done", .int(Int64(batchesDone))),
            ("global_step", .int(Int64(session.optimizerStep))), ("total_steps", .int(Int64(totalSteps))),
            ("train_rows", .int(Int64(train.count))), ("batch_size", .int(Int64(options.batchSize))),
            ("gradient_accumulation", .int(Int64(options.gradientAccumulation))), ("seed", .int(Int64(bitPattern: options.seed))),
            ("logged_loss", .double(loggedLoss, text: nil)), ("logged_steps", .int(Int64(loggedSteps))),
        ]
        if let best { fields += [("best_metric", number(best.value)), ("best_step", .int(Int64(best.step)))] }
        fields.append(("log_history", .array(history)))
        try out.write("trainer_state.json", text: JSONValue.object(fields).serialized(.pretty) + "\n")
        try out.commit()
    }

    /// Whether the checkpoint directory holds a checkpoint.
    public var hasCheckpoint: Bool {
        guard let dir = checkpointDirectory else { return false }
        return isRegularFile(dir + "/trainer_state.json")
    }

    /// Restores the state of the checkpoint in ``checkpointDirectory``: weights, optimizer, dropout generator, epoch,
    /// position in the epoch and its batch order, the log history and the best metric.
    /// - Throws: ``InputError`` naming the file and key when the checkpoint does not belong to this run (another
    ///   training set size, batch size, accumulation or seed) or is damaged.
    public func resume() throws {
        guard let dir = checkpointDirectory, let store else { return }
        let statePath = dir + "/trainer_state.json"
        let json = try JSONValue.read(file: statePath)
        func int(_ key: String) throws -> Int {
            guard let v = json[key]?.intValue else { throw InputError(.missing, file: statePath, key: key, "integer missing") }
            return v
        }
        for (key, expected) in [
            ("train_rows", train.count), ("batch_size", options.batchSize), ("gradient_accumulation", options.gradientAccumulation),
            ("total_steps", totalSteps), ("seed", Int(Int64(bitPattern: options.seed))),
        ] where try int(key) != expected {
            throw InputError(
                .invalidStructure, file: statePath, key: key,
                "the checkpoint was made with \(key) \(try int(key)), this run has \(expected): use the same command, or --force to start over")
        }
        let weights = try store.open(dir + "/weights.safetensors")
        let state = try store.open(dir + "/optimizer.safetensors")
        let savedOrder = try Self.readDataOrder(state)
        try loadWeights(from: weights)
        try session.restoreOptimizerState(from: state)
        epoch = try int("epoch")
        batchesDone = try int("batches_done")
        guard session.optimizerStep == (try int("global_step")) else {
            throw InputError(
                .invalidStructure, file: statePath, key: "global_step", "does not match the optimizer state's step \(session.optimizerStep)")
        }
        order = savedOrder
        loggedLoss = json["logged_loss"]?.doubleValue ?? 0
        loggedSteps = json["logged_steps"]?.intValue ?? 0
        history = json["log_history"]?.arrayValue ?? []
        if let s = json["best_step"]?.intValue { best = (json["best_metric"]?.doubleValue ?? .nan, s) }
    }

    private func dataOrderArchive() -> MemoryArchive {
        let a = MemoryArchive(path: "<data order>")
        let width = options.batchSize
        var bytes = [UInt8]()
        bytes.reserveCapacity(order.count * width * 8)
        for batch in order {
            for k in 0..<width {
                let v = Int64(k < batch.count ? batch[k] : -1)
                withUnsafeBytes(of: v.littleEndian) { bytes += $0 }
            }
        }
        a.add(TensorEntry(name: "trainer.data_order", dtype: .I64, shape: [order.count, width]), bytes: bytes)
        return a
    }

    private static func readDataOrder(_ archive: TensorArchive) throws -> [[Int]] {
        let name = "trainer.data_order"
        guard let e = archive.entry(named: name), e.dtype == .I64, e.shape.count == 2 else {
            throw InputError(.missing, file: archive.path, key: name, "I64 [batches, batch size] tensor missing")
        }
        return try archive.withBytes(of: name) { raw in
            (0..<e.shape[0]).map { b in
                (0..<e.shape[1]).compactMap { k in
                    let v = Int64(littleEndian: raw.loadUnaligned(fromByteOffset: (b * e.shape[1] + k) * 8, as: Int64.self))
                    return v < 0 ? nil : Int(v)
                }
            }
        }
    }
}

/// F32 parameters as a ``TensorArchive`` view (no copy).
final class ParameterArchive: TensorArchive {
    let path = "<parameters>"
    var formatName: String { "memory" }
    let entries: [TensorEntry]
    private let byName: [String: Parameter]

    init(_ named: [(String, Parameter)]) {
        entries = named.map { TensorEntry(name: $0.0, dtype: .F32, shape: $0.1.shape) }
        byName = Dictionary(named, uniquingKeysWith: { a, _ in a })
    }

    func withBytes<R>(of name: String, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        guard let p = byName[name] else { throw InputError(.missing, file: path, key: name, "no parameter of that name") }
        return try body(UnsafeRawBufferPointer(start: p.values, count: p.count * 4))
    }
}

/// Two archives as one (the first's tensors, then the second's).
final class CombinedArchive: TensorArchive {
    let first: TensorArchive, second: TensorArchive
    var path: String { first.path }
    var formatName: String { "memory" }
    let entries: [TensorEntry]

    init(_ first: TensorArchive, extra second: TensorArchive) {
        self.first = first
        self.second = second
        entries = first.entries + second.entries
    }

    func withBytes<R>(of name: String, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        if first.entry(named: name) != nil { return try first.withBytes(of: name, body) }
        return try second.withBytes(of: name, body)
    }
}
