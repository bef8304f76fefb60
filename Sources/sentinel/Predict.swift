import ArgumentParser
import SentinelCore
import SentinelEncoder
import SentinelTokenizer
import SentinelTorch

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

    enum Task: String, ExpressibleByArgument, CaseIterable { case ner, classification }

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
            progress.step("loading \(dir.weightsPath)")
            let archive = try openTensorArchive(path: dir.weightsPath)
            let model = try BertModel(archive: archive, config: config)
            // RobertaForSequenceClassification: classifier.dense → tanh → classifier.out_proj on <s>, no pooler.
            let robertaHead = task == .classification && RobertaClassificationHead.isPresent(in: archive)
                ? try RobertaClassificationHead.load(from: archive, hiddenSize: config.hiddenSize) : nil
            let head = try robertaHead.map { ClassificationHead(linear: $0.outProjection) }
                ?? ClassificationHead.load(from: archive, hiddenSize: config.hiddenSize)
            if task == .classification && model.pooler == nil && robertaHead == nil {
                throw InputError(.missing, file: archive.path, key: "pooler.dense.weight", "sequence classification needs the pooler")
            }
            let labels = (0..<head.labelCount).map { $0 < config.labelNames.count ? config.labelNames[$0] : "LABEL_\($0)" }
            let limit = inputOptions.lengthLimit(config)
            let file = try readInput(inputOptions.input)
            // Plain text: the model's tokenizer (any family). Encrypted text: digests are the adapted model's own
            // vocabulary, assembled with the same template and truncation (as `embed --encrypted` does).
            let tokenizer = try loadSubwordTokenizer(directory: modelDir)

            var predictions: [JSONValue] = []
            var lines: [String] = []
            var rowsSeen = 0
            try file.forEachLine { line in
                rowsSeen += 1
                let fields = line.text.split(separator: "\t", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
                let pair = task == .classification && fields.count > 1 ? fields[1] : nil
                let text = task == .classification ? fields[0] : line.text
                let e = inputOptions.encode(tokenizer, text, pair: pair, limit: limit)
                let tokens = tokenizer.tokens(e.inputIDs)
                // Plain text: the words of the first text, each labelled by its first wordpiece.
                var words: [(text: String, firstToken: Int)] = []
                if !inputOptions.encrypted {
                    let utf8 = Array(text.utf8)
                    var ranges: [Int: Range<Int>] = [:], first: [Int: Int] = [:]
                    for (i, w) in e.wordIDs.enumerated() where e.sequenceIDs[i] == 0 {
                        guard let w else { continue }
                        let r = e.offsets[i]
                        ranges[w] = ranges[w].map { min($0.lowerBound, r.lowerBound)..<max($0.upperBound, r.upperBound) } ?? r
                        if first[w] == nil { first[w] = i }
                    }
                    words = ranges.keys.sorted().map { w in
                        (String(decoding: utf8[ranges[w]!.clamped(to: 0..<utf8.count)], as: UTF8.self), first[w]!)
                    }
                }
                let row = (ids: e.inputIDs, types: e.tokenTypeIDs)
                let out = try model.forward(EncoderBatch(batchSize: 1, sequenceLength: row.ids.count, inputIDs: row.ids,
                                                         tokenTypeIDs: row.types))
                func checkFinite(_ values: [Float]) throws {
                    guard values.allSatisfy(\.isFinite) else {
                        throw InputError(.outOfRange, file: archive.path, key: "classifier.weight",
                                         "the model's logits are not finite (NaN or infinite weights?)")
                    }
                }
                switch task {
                case .classification:
                    let logits = (robertaHead?.logits(out.lastHiddenState) ?? head.logits(out.poolerOutput!)).values
                    try checkFinite(logits)
                    let probs = softmax(logits)
                    let best = probs.indices.max { probs[$0] < probs[$1] } ?? 0
                    predictions.append(.object([
                        ("label", .string(labels[best])), ("score", .double(Double(probs[best]), text: nil)),
                        ("logits", .array(logits.map { .double(Double($0), text: nil) })),
                    ]))
                    lines.append("\(labels[best])\t\(fixed(Double(probs[best]), 4))")
                case .ner:
                    let logits = head.logits(out.lastHiddenState).values
                    try checkFinite(logits)
                    let n = head.labelCount
                    let tokenLabels = (0..<row.ids.count).map { t -> String in
                        let slice = logits[(t * n)..<((t + 1) * n)]
                        return labels[(slice.indices.max { slice[$0] < slice[$1] } ?? t * n) - t * n]
                    }
                    var fields: [(String, JSONValue)] = [
                        ("tokens", .array(tokens.map { .string($0) })), ("labels", .array(tokenLabels.map { .string($0) })),
                    ]
                    if !words.isEmpty {
                        fields.append(("words", .array(words.map { .string($0.text) })))
                        fields.append(("word_labels", .array(words.map { .string(tokenLabels[$0.firstToken]) })))
                        lines.append(words.map { "\($0.text)/\(tokenLabels[$0.firstToken])" }.joined(separator: " "))
                    } else {
                        lines.append(zip(tokens, tokenLabels).dropFirst().dropLast().map { "\($0)/\($1)" }.joined(separator: " "))
                    }
                    predictions.append(.object(fields))
                }
            }
            guard rowsSeen > 0 else { throw InputError(.invalidStructure, file: file.path, "no input lines") }
            if report.json {
                print(JSONValue.object([("task", .string(task.rawValue)), ("labels", .array(labels.map { .string($0) })),
                                        ("predictions", .array(predictions))]).serialized(.pretty))
            } else {
                for l in lines { print(l) }
            }
        }
    }

    private func softmax(_ x: [Float]) -> [Float] {
        let m = x.max() ?? 0
        let e = x.map { expf($0 - m) }
        let s = e.reduce(0, +)
        return e.map { $0 / s }
    }
}

#if canImport(Glibc)
import Glibc
#endif
