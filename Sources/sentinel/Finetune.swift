import ArgumentParser
import SentinelCore
import SentinelEncoder
import SentinelFormats
import SentinelScheme
import SentinelTokenizer
#if canImport(Glibc)
    import Glibc
#endif

/// Options shared by `finetune` and `evaluate`: the task and how dataset files are read.
struct TaskDataOptions: ParsableArguments {
    typealias Task = Predict.Task

    @Option(help: "ner (a label per word: CoNLL files or encrypted token records) or classification (GLUE TSV or encrypted JSON lines).")
    var task: Task

    @Flag(help: "The data files are encrypted (what `sentinel encrypt --format conll|tsv` writes) and the model is the adapted one.")
    var encrypted = false

    @Option(
        help: ArgumentHelp(
            "Format of the data files: conll, tsv or jsonl. Default: jsonl when a file starts with '{', else conll (ner) or tsv (classification).",
            valueName: "format"))
    var format: InputFormatArgument?

    @OptionGroup var unknownTokens: UnknownTokenOptions

    func inputFormat(_ file: TextFile) -> InputFormat {
        if let format { return format.format }
        if JSONLinesDataset.looksLikeJSONLines(file) { return .jsonl }
        return task == .ner ? .conll : .tsv
    }

    /// The records of `path`, cut to `maxLength`, with the mostly-[UNK] check (plain data to an adapted model,
    /// `--encrypted` data to a plain one).
    func records(_ path: String, encoder: InputEncoder, modelDir: String, maxLength: Int) throws -> [InputRecord] {
        let file = try TextFile.read(path)
        let records = try encoder.records(file, format: inputFormat(file), tokens: task == .ner, maxLength: maxLength)
        guard !records.isEmpty else { throw InputError(.invalidStructure, file: path, "no examples") }
        var unknown = UnknownTokenCheck(encoder: encoder, model: modelDir, file: path)
        for r in records { unknown.count(r.encoding) }
        try unknownTokens.enforce(unknown)
        return records
    }

    /// Training examples: the rows and the label ids (`labelIDs`: name → id).
    func examples(_ records: [InputRecord], labelIDs: [String: Int32], source: String) throws -> [TrainingExample] {
        try records.map { r in
            let row = EncoderRow(ids: r.encoding.inputIDs, types: r.encoding.tokenTypeIDs)
            switch task {
            case .ner: return TrainingExample(row: row, labels: try TrainingLabels.tokenLabels(r, ids: labelIDs, source: source))
            case .classification: return TrainingExample(row: row, labels: [try TrainingLabels.sequenceLabel(r, ids: labelIDs, source: source)])
            }
        }
    }
}

extension Predict.Task {
    var training: TrainingTask { self == .ner ? .tokenClassification : .sequenceClassification }
}

/// Refuses models the training session does not implement (RoBERTa position ids and its classification head).
func requireBertForTraining(_ config: BertConfig, file: String) throws {
    if config.positionIDs != .absolute || BertConfig.robertaModelTypes.contains(config.modelType ?? "") {
        throw InputError(
            .unknownFormat, file: file, key: "model_type",
            "fine-tuning supports BERT models (model_type bert); \(config.modelType ?? "this model") is not supported yet")
    }
}

/// The metrics of an evaluation as JSON members and one text line.
func metricsReport(_ report: EvaluationReport) -> (JSONValue, String) {
    let json = JSONValue.object(report.metrics.map { ($0.name, $0.value.isFinite ? .double($0.value, text: nil) : .null) })
    let text = report.metrics.map { "\($0.name) \(fixed($0.value * 100, 2))" }.joined(separator: "  ")
    return (json, text)
}

/// `sentinel finetune` (CLI.md): fine-tunes a BERT model for NER or classification on plain or encrypted data.
struct Finetune: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Fine-tune a BERT model for token (ner) or sequence classification on plain or encrypted data.",
        discussion: """
            HF Trainer's recipe: AdamW (betas 0.9/0.999, eps 1e-8, weight decay 0.01 except biases and LayerNorm), a linear \
            warm-up and decay, gradient clipping at 1.0, shuffled length-bucketed batches padded to their longest row, dropout \
            from config.json, an evaluation on --validation after each epoch; the best weights (entity F1 for ner, accuracy for \
            classification) are written. NER labels the first wordpiece of each word (-100 elsewhere).

            OUT_DIR gets an HF model directory (model.safetensors with BertForTokenClassification or \
            BertForSequenceClassification names, config.json with architectures, id2label and label2id, the tokenizer files \
            and sentinel.json of MODEL_DIR), metrics.jsonl, curve.svg and checkpoint/. While training, OUT_DIR/checkpoint is \
            replaced every --checkpoint-steps steps and at each epoch end: run the same command again after an interruption \
            and it resumes where the checkpoint stands (the result is the same as an uninterrupted run). --force starts over.
            """
    )

    @Argument(help: "The model directory to fine-tune (HF BERT; with --encrypted the adapted one from `sentinel convert`).")
    var modelDir: String

    @OptionGroup var data: TaskDataOptions

    @Option(help: ArgumentHelp("Training data file.", valueName: "file"))
    var train: String

    @Option(help: ArgumentHelp("Validation data file, evaluated after each epoch.", valueName: "file"))
    var validation: String

    @Option(help: ArgumentHelp("Output directory.", valueName: "dir"))
    var output: String

    @Option(help: "Epochs.") var epochs = 3
    @Option(help: "Peak learning rate.") var learningRate = 5e-5
    @Option(help: "Rows per forward pass.") var batchSize = 16
    @Option(help: "Longest row in tokens, special tokens included (at most the model's limit).") var maxLength = 128
    @Option(help: "Seed of the data order, the dropout masks and the classifier's initial weights.") var seed: UInt64 = 42
    @Option(help: "Forward passes per optimizer step.") var gradientAccumulation = 1
    @Option(help: "Fraction of the optimizer steps spent warming the learning rate up from 0.") var warmupRatio = 0.0
    @Option(help: "Weight decay (not biases and LayerNorm weights).") var weightDecay = 0.01
    @Option(help: "A metrics.jsonl line every this many optimizer steps.") var loggingSteps = 50
    @Option(help: "A resumable checkpoint every this many optimizer steps (and at each epoch end).") var checkpointSteps = 500

    @Flag(help: "Replace an existing output directory (and start over instead of resuming).")
    var force = false

    /// Test hook: stop after this optimizer step without a further checkpoint, as a killed run would (exit 75).
    @Option(help: .hidden) var stopAfterStep: Int?

    @OptionGroup var report: ReportOptions

    func validate() throws {
        guard epochs >= 1, batchSize >= 1, gradientAccumulation >= 1, loggingSteps >= 1, checkpointSteps >= 1 else {
            throw ValidationError("--epochs, --batch-size, --gradient-accumulation, --logging-steps and --checkpoint-steps must be at least 1")
        }
        guard maxLength >= 2 else { throw ValidationError("--max-length must be at least 2") }
        guard learningRate > 0, learningRate.isFinite else { throw ValidationError("--learning-rate must be a positive number") }
        guard (0...1).contains(warmupRatio) else { throw ValidationError("--warmup-ratio must be in [0, 1]") }
        guard weightDecay >= 0, weightDecay.isFinite else { throw ValidationError("--weight-decay must be ≥ 0") }
    }

    func run() throws {
        try reportingErrors(json: report.json) {
            let started = monotonicSeconds()
            let log = Progress(forced: report.progress)
            try checkOutput(output, inputs: [modelDir, train, validation], force: force, marker: "metrics.jsonl")
            let checkpointDir = output + "/checkpoint"
            let complete = isRegularFile(output + "/model.safetensors")
            var st = stat()
            let exists = lstat(output, &st) == 0
            let resumable = isRegularFile(checkpointDir + "/trainer_state.json") && !complete
            if exists && !force && !resumable {
                throw OutputExistsError(path: output)
            }

            let dir = try ModelDirectory(path: modelDir)
            let configJSON = try dir.config()
            let config = try BertConfig(json: configJSON, file: dir.file("config.json"))
            try requireBertForTraining(config, file: dir.file("config.json"))
            let limit = min(maxLength, config.maxSequenceLength)
            let encoder = try InputEncoder.load(directory: modelDir, encrypted: data.encrypted)
            log.step("reading \(train) and \(validation)")
            let trainRecords = try data.records(train, encoder: encoder, modelDir: modelDir, maxLength: limit)
            let validationRecords = try data.records(validation, encoder: encoder, modelDir: modelDir, maxLength: limit)
            let labelNames =
                data.task == .ner ? TrainingLabels.nerNames(trainRecords) : TrainingLabels.classificationNames(trainRecords)
            guard labelNames.count >= 2 else {
                throw InputError(.invalidStructure, file: train, "\(labelNames.count) distinct label(s): a classifier needs at least 2")
            }
            let ids = Dictionary(uniqueKeysWithValues: labelNames.enumerated().map { ($0.element, Int32($0.offset)) })
            let trainExamples = try data.examples(trainRecords, labelIDs: ids, source: train)
            let validationExamples = try data.examples(validationRecords, labelIDs: ids, source: validation)

            log.step("loading \(dir.weightsPath)")
            let archive = try openTensorArchive(path: dir.weightsPath)
            let model = try BertModel(archive: archive, config: config)
            let classifier = TrainingBenchmark.randomClassifier(labels: labelNames.count, hidden: config.hiddenSize, seed: seed)
            var options = TrainerOptions()
            options.epochs = epochs
            options.batchSize = batchSize
            options.learningRate = learningRate
            options.warmupRatio = warmupRatio
            options.gradientAccumulation = gradientAccumulation
            options.seed = seed
            options.weightDecay = weightDecay
            options.logEvery = loggingSteps
            options.checkpointEvery = checkpointSteps
            let store = SafeTensorsStore()
            let trainer = try Trainer(
                model: model, classifier: classifier, task: data.task.training,
                dropout: try DropoutRates(json: configJSON, file: dir.file("config.json")),
                paddingIndex: configJSON["pad_token_id"]?.intValue ?? 0, train: trainExamples, validation: validationExamples,
                labelNames: labelNames, options: options, checkpointDirectory: checkpointDir, store: store)
            if resumable && !force {
                try trainer.resume()
                log.step("resuming from \(checkpointDir) at step \(trainer.session.optimizerStep) of \(trainer.totalSteps)")
            } else {
                if force && exists {
                    for stale in [checkpointDir, output + "/best.safetensors"] where access(stale, F_OK) == 0 { try removeOutput(stale) }
                }
                if !exists { guard mkdir(output, 0o755) == 0 else { throw OutputError(path: output, operation: "create directory", errno: errno) } }
            }
            log.step(
                "\(trainExamples.count) training and \(validationExamples.count) validation examples, \(labelNames.count) labels, "
                    + "\(trainer.totalSteps) optimizer steps")
            let bar = TrainingBar(enabled: log.enabled)
            trainer.stopAfterStep = stopAfterStep
            do {
                try trainer.run { bar.update($0) }
            } catch let stop as Trainer.Interrupted {
                bar.finish()
                printError("stopped after step \(stop.step) (--stop-after-step); run the same command again to resume")
                throw ExitCode(75)
            }
            bar.finish()

            // The best weights (by the primary validation metric) are the output.
            var final = trainer.lastEvaluation
            if let best = trainer.best, best.step != trainer.session.optimizerStep, let path = trainer.bestWeightsPath {
                try trainer.loadWeights(from: store.open(path))
                final = try trainer.evaluate(validationExamples, source: validation)
            }
            let metric = data.task == .ner ? "f1" : "accuracy"
            try TaskModelOutput.write(
                to: output, replace: true, weights: trainer.parameterArchive(rename: TaskModelOutput.taskModelName), store: store,
                config: TaskModelOutput.config(configJSON, task: data.task.training, labelNames: labelNames),
                inputDirectory: modelDir, history: trainer.history, metric: metric, moving: (checkpointDir, "checkpoint"))
            let seconds = monotonicSeconds() - started
            let (metricsJSON, metricsText) = final.map(metricsReport) ?? (.object([]), "no validation examples")
            if report.json {
                print(
                    JSONValue.object([
                        ("output", .string(output)), ("task", .string(data.task.rawValue)), ("labels", .array(labelNames.map { .string($0) })),
                        ("train_examples", .int(Int64(trainExamples.count))), ("validation_examples", .int(Int64(validationExamples.count))),
                        ("epochs", .int(Int64(epochs))), ("steps", .int(Int64(trainer.totalSteps))),
                        ("best_step", trainer.best.map { .int(Int64($0.step)) } ?? .null),
                        ("epoch_seconds", .array(trainer.epochSeconds.map { .double($0, text: nil) })),
                        ("seconds", .double(seconds, text: nil)), ("validation", metricsJSON),
                    ]).serialized(.pretty))
            } else {
                print("wrote \(output): \(TaskModelOutput.architecture(data.task.training)), \(labelNames.count) labels, \(trainer.totalSteps) steps")
                print("validation (\(validationExamples.count) examples): \(metricsText)")
            }
        }
    }
}

/// Removes a file or directory tree that a previous run wrote.
func removeOutput(_ path: String) throws {
    var st = stat()
    guard lstat(path, &st) == 0 else { return }
    if (st.st_mode & S_IFMT) == S_IFDIR {
        for n in try directoryEntries(path) { try removeOutput(path + "/" + n) }
        guard rmdir(path) == 0 else { throw OutputError(path: path, operation: "remove", errno: errno) }
    } else {
        guard unlink(path) == 0 else { throw OutputError(path: path, operation: "remove", errno: errno) }
    }
}

/// Training progress on stderr: a bar redrawn in place on a terminal (step, loss, learning rate, steps/s, ETA),
/// plain lines (every 1 % of the steps) otherwise; nothing when disabled.
final class TrainingBar {
    let enabled: Bool, terminal: Bool
    private var lastLine = -1

    init(enabled: Bool) {
        self.enabled = enabled
        terminal = isatty(2) != 0
    }

    static func clock(_ seconds: Double) -> String {
        guard seconds.isFinite else { return "--:--" }
        let s = Int(seconds.rounded())
        let two = { (v: Int) in v < 10 ? "0\(v)" : "\(v)" }
        return s >= 3600 ? "\(s / 3600):\(two(s / 60 % 60)):\(two(s % 60))" : "\(two(s / 60)):\(two(s % 60))"
    }

    func update(_ p: TrainingProgress) {
        guard enabled else { return }
        let text =
            "step \(p.step)/\(p.totalSteps) epoch \(p.epoch)/\(p.epochs) loss \(fixed(p.loss, 4)) lr \(fixed(p.learningRate * 1e6, 2))e-6 "
            + "\(fixed(p.stepsPerSecond, 2)) steps/s ETA \(Self.clock(p.secondsLeft))"
        if terminal {
            let width = 24, done = p.totalSteps == 0 ? width : width * p.step / p.totalSteps
            let bar = String(repeating: "#", count: done) + String(repeating: ".", count: width - done)
            FileHandleStderr.write("\r[\(bar)] " + text + "\u{1B}[K")
        } else {
            let line = p.step * 100 / max(p.totalSteps, 1)
            if line != lastLine || p.step == p.totalSteps {
                lastLine = line
                FileHandleStderr.write("[sentinel] " + text + "\n")
            }
        }
    }

    func finish() {
        if enabled && terminal { FileHandleStderr.write("\n") }
    }
}

/// `sentinel evaluate` (CLI.md): the metrics of a fine-tuned model on a labelled data file.
struct Evaluate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Score a fine-tuned model on labelled data: entity precision/recall/F1 (ner, seqeval) or accuracy and F1 (classification).",
        discussion: """
            MODEL_DIR is a fine-tuned model (e.g. the output of `sentinel finetune`) whose config.json has id2label; the data's \
            labels must be among them. Rows are cut to --max-length tokens; NER is scored on the words whose first wordpiece \
            survived, as HF's recipe does.
            """
    )

    @Argument(help: "Fine-tuned model directory.")
    var modelDir: String

    @OptionGroup var data: TaskDataOptions

    @Option(name: .customLong("data"), help: ArgumentHelp("Labelled data file.", valueName: "file"))
    var dataFile: String

    @Option(help: "Longest row in tokens, special tokens included.") var maxLength = 128
    @Option(help: "Rows per forward pass.") var batchSize = 32

    @OptionGroup var report: ReportOptions

    func validate() throws {
        guard maxLength >= 2 else { throw ValidationError("--max-length must be at least 2") }
        guard batchSize >= 1 else { throw ValidationError("--batch-size must be at least 1") }
    }

    func run() throws {
        try reportingErrors(json: report.json) {
            let log = Progress(forced: report.progress)
            let dir = try ModelDirectory(path: modelDir)
            let config = try BertConfig(json: dir.config(), file: dir.file("config.json"))
            try requireBertForTraining(config, file: dir.file("config.json"))
            guard !config.labelNames.isEmpty else {
                throw InputError(.missing, file: dir.file("config.json"), key: "id2label", "a fine-tuned model names its labels in id2label")
            }
            let encoder = try InputEncoder.load(directory: modelDir, encrypted: data.encrypted)
            let records = try data.records(dataFile, encoder: encoder, modelDir: modelDir, maxLength: min(maxLength, config.maxSequenceLength))
            let ids = Dictionary(config.labelNames.enumerated().map { ($0.element, Int32($0.offset)) }, uniquingKeysWith: { a, _ in a })
            let examples = try data.examples(records, labelIDs: ids, source: dataFile)
            log.step("loading \(dir.weightsPath)")
            let archive = try openTensorArchive(path: dir.weightsPath)
            let model = try BertModel(archive: archive, config: config)
            let head = try ClassificationHead.load(from: archive, hiddenSize: config.hiddenSize)
            if data.task == .classification && model.pooler == nil {
                throw InputError(.missing, file: archive.path, key: "bert.pooler.dense.weight", "sequence classification needs the pooler")
            }
            let labels = (0..<head.labelCount).map { $0 < config.labelNames.count ? config.labelNames[$0] : "LABEL_\($0)" }
            let result = try TaskEvaluation.evaluate(
                model: model, classifier: head, task: data.task.training, examples: examples, labelNames: labels, batchSize: batchSize,
                source: dataFile)
            let (metricsJSON, metricsText) = metricsReport(result)
            if report.json {
                print(
                    JSONValue.object([
                        ("model", .string(modelDir)), ("data", .string(dataFile)), ("task", .string(data.task.rawValue)),
                        ("examples", .int(Int64(result.examples))), ("metrics", metricsJSON),
                    ]).serialized(.pretty))
            } else {
                print("\(dataFile) (\(result.examples) examples): \(metricsText)")
            }
        }
    }
}
