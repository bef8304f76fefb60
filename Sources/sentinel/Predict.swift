import ArgumentParser
import SentinelCore
import SentinelEncoder
import SentinelTokenizer
import SentinelFormats
import SentinelScheme

/// `sentinel predict`: labels from a fine-tuned token- or sequence-classification model (CLI.md).
struct Predict: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Predict labels with a fine-tuned BERT classifier, on plain or encrypted input.",
        discussion: """
            The model directory holds a HuggingFace BertForTokenClassification (--task ner) or \
            BertForSequenceClassification (--task classification) checkpoint: classifier.weight, classifier.bias and \
            id2label in config.json. One input per line; for classification a TAB separates the two sentences of a pair. \
            --encrypted: lines hold space-separated digests (from `sentinel encrypt`), looked up in the model's vocab.txt.

            ner prints each token with its label (and, for plain text, each word with the label of its first wordpiece); \
            classification prints the label, its probability (softmax of the logits) and the logits.
            """
    )

    enum Task: String, ExpressibleByArgument, CaseIterable {
        case ner, classification
        var kind: TaskKind { self == .ner ? .ner : .classification }
    }

    @Argument(help: "Fine-tuned model directory.")
    var modelDir: String

    @Option(help: "ner (a label per token) or classification (a label per input).")
    var task: Task

    @OptionGroup var inputOptions: EncoderInputOptions
    @OptionGroup var report: ReportOptions

    func run() throws {
        try reportingErrors(json: report.json) {
            let progress = Progress(forced: report.progress)
            let dir = try ModelDirectory(path: modelDir)
            let config = try BertConfig(json: dir.config(), file: dir.file("config.json"))
            // config.json's architectures name the head the checkpoint was fine-tuned with; --task must be that one.
            let architectures = (try dir.config()["architectures"]?.arrayValue ?? []).compactMap(\.stringValue)
            let expected: [Task: String] = [.ner: "ForTokenClassification", .classification: "ForSequenceClassification"]
            if let other = Task.allCases.first(where: { t in t != task && architectures.contains { $0.hasSuffix(expected[t]!) } }),
                !architectures.contains(where: { $0.hasSuffix(expected[task]!) })
            {
                throw ValidationError(
                    "--task \(task.rawValue) does not fit \(dir.file("config.json")): its architectures are \(architectures.joined(separator: ", ")) "
                        + "(use --task \(other.rawValue))")
            }
            progress.step("loading \(dir.weightsPath)")
            let archive = try openTensorArchive(path: dir.weightsPath)
            let model = try BertModel(archive: archive, config: config)
            // RobertaForSequenceClassification: classifier.dense → tanh → classifier.out_proj on <s>, no pooler.
            let robertaHead =
                task == .classification && RobertaClassificationHead.isPresent(in: archive)
                ? try RobertaClassificationHead.load(from: archive, hiddenSize: config.hiddenSize) : nil
            let head =
                try robertaHead.map { ClassificationHead(linear: $0.outProjection) }
                ?? ClassificationHead.load(from: archive, hiddenSize: config.hiddenSize)
            let labels = (0..<head.labelCount).map { $0 < config.labelNames.count ? config.labelNames[$0] : "LABEL_\($0)" }
            let limit = inputOptions.lengthLimit(config)
            let file = try TextFile.read(inputOptions.input)
            let encoder = try inputOptions.inputEncoder(modelDir)
            var unknown = UnknownTokenCheck(encoder: encoder, model: modelDir, file: file.path)

            let records = try inputOptions.records(encoder, file, tokens: task == .ner, limit: limit)
            let encodings = records.map(\.encoding)
            guard !encodings.isEmpty else { throw InputError(.invalidStructure, file: file.path, "no input lines") }
            // Mostly-[UNK] input (a wrong key, plain text to an adapted model, ...) fails before the model runs.
            for e in encodings { unknown.count(e) }
            try inputOptions.unknownTokens.enforce(unknown)
            let rows = encodings.map { EncoderRow(ids: $0.inputIDs, types: $0.tokenTypeIDs) }
            let step = { (done: Int, all: Int) in progress.step("rows \(done + 1)–\(min(done + 32, all)) of \(all)") }
            let logits =
                try robertaHead.map { try model.logits(rows, head: $0, batchSize: 32, source: file.path, progress: step) }
                ?? model.logits(rows, head: head, kind: task.kind, batchSize: 32, source: file.path, progress: step)
            var predictions: [JSONValue] = []
            var lines: [String] = []
            for (r, e) in encodings.enumerated() {
                let predicted = logits.predictedLabels(row: r).map { labels[$0] }
                switch task {
                case .classification:
                    let probs = Logits.softmax(logits.rows[r][...])
                    let best = Logits.argmax(logits.rows[r][...])
                    predictions.append(
                        .object([
                            ("label", .string(labels[best])), ("score", .double(Double(probs[best]), text: nil)),
                            ("logits", .array(logits.rows[r].map { .double(Double($0), text: nil) })),
                        ]))
                    lines.append("\(labels[best])\t\(fixed(Double(probs[best]), 4))")
                case .ner:
                    let tokens = encoder.tokens(e.inputIDs)
                    // Words (plain text, datasets), each labelled by its first piece.
                    let words = records[r].words
                    var fields: [(String, JSONValue)] = [
                        ("tokens", .array(tokens.map { .string($0) })), ("labels", .array(predicted.map { .string($0) })),
                    ]
                    if !words.isEmpty {
                        fields.append(("words", .array(words.map { .string($0.text) })))
                        fields.append(("word_labels", .array(words.map { .string(predicted[$0.position]) })))
                        lines.append(words.map { "\($0.text)/\(predicted[$0.position])" }.joined(separator: " "))
                    } else {
                        lines.append(zip(tokens, predicted).dropFirst().dropLast().map { "\($0)/\($1)" }.joined(separator: " "))
                    }
                    predictions.append(.object(fields))
                }
            }
            if report.json {
                print(
                    JSONValue.object([
                        ("task", .string(task.rawValue)), ("labels", .array(labels.map { .string($0) })),
                        ("predictions", .array(predictions)),
                    ]).serialized(.pretty))
            } else {
                for l in lines { print(l) }
            }
        }
    }
}
