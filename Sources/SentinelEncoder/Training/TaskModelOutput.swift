import SentinelCore
#if canImport(Glibc)
    import Glibc
#endif

/// The HuggingFace model directory a fine-tuning run writes: `model.safetensors` with the task model's parameter
/// names, `config.json`, the input's tokenizer files and `sentinel.json`, `metrics.jsonl` and `curve.svg`.
///
/// Names (transformers' `BertForTokenClassification` / `BertForSequenceClassification`, checked against
/// `Formats/hf-task-models/`): every encoder tensor under `bert.` (`bert.embeddings.word_embeddings.weight`, …,
/// `bert.pooler.dense.*` for sequence classification only: the token model has no pooler), then `classifier.weight`
/// `[labels, hidden]` and `classifier.bias` `[labels]`, all F32.
///
/// `config.json` is the input's with `architectures` = `[BertFor…Classification]`, `id2label` (`{"0": name, …}`),
/// `label2id` (`{name: 0, …}`) and, when the input has one, `num_labels` set to the label count.
public enum TaskModelOutput {
    /// Tokenizer and scheme files carried over from the input directory when present.
    public static let carriedFiles = [
        "vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.json", "merges.txt",
        "sentencepiece.bpe.model", "added_tokens.json", "sentinel.json",
    ]

    /// `BertForTokenClassification` or `BertForSequenceClassification`.
    public static func architecture(_ task: TrainingTask) -> String {
        task == .tokenClassification ? "BertForTokenClassification" : "BertForSequenceClassification"
    }

    /// The HF task model's name of a ``TrainingSession`` parameter name.
    public static func taskModelName(_ name: String) -> String {
        name.hasPrefix("classifier.") ? name : "bert." + name
    }

    /// `config` with the task model's keys set.
    public static func config(_ config: JSONValue, task: TrainingTask, labelNames: [String]) -> JSONValue {
        var c = config.setting("architectures", to: .array([.string(architecture(task))]))
        c = c.setting("id2label", to: .object(labelNames.enumerated().map { (String($0.offset), .string($0.element)) }))
        c = c.setting("label2id", to: .object(labelNames.enumerated().map { ($0.element, .int(Int64($0.offset))) }))
        if c["num_labels"] != nil { c = c.setting("num_labels", to: .int(Int64(labelNames.count))) }
        return c
    }

    /// `history` as `metrics.jsonl`: one compact JSON object per line.
    public static func metricsLines(_ history: [JSONValue]) -> String {
        history.map { $0.serialized(.compact) + "\n" }.joined()
    }

    /// The loss and validation-metric curve of `history` (``Trainer/history``) against the step.
    public static func curve(_ history: [JSONValue], metric: String) -> String {
        var loss: [(Double, Double)] = [], score: [(Double, Double)] = []
        for h in history {
            guard let step = h["step"]?.doubleValue else { continue }
            if let l = h["loss"]?.doubleValue { loss.append((step, l)) }
            if let m = h["eval_" + metric]?.doubleValue { score.append((step, m)) }
        }
        return SVGChart(
            xLabel: "optimizer step",
            panels: [
                .init(title: "training loss", series: [.init(name: "loss", points: loss)]),
                .init(title: "validation " + metric, series: [.init(name: "eval_" + metric, points: score, markers: true)]),
            ]
        ).svg()
    }

    /// Writes the directory atomically (a temporary sibling renamed to `output` at the end; `replace` to replace an
    /// existing one). `extraSubdirectory` (e.g. the trainer's `checkpoint/`) is moved into it when given.
    /// - Parameters:
    ///   - weights: the task model's tensors (``Trainer/parameterArchive(rename:)`` with ``taskModelName(_:)``).
    ///   - inputDirectory: the fine-tuned model's directory, whose ``carriedFiles`` are copied.
    /// - Throws: ``OutputError`` for I/O failures (nothing appears at `output` then).
    public static func write(
        to output: String, replace: Bool, weights: TensorArchive, store: TensorFileStore, config: JSONValue,
        inputDirectory: String, history: [JSONValue], metric: String, moving extraSubdirectory: (from: String, name: String)? = nil
    ) throws {
        let out = try AtomicDirectory(path: output, replace: replace)
        try store.write(weights, to: out.file("model.safetensors"))
        try out.write("config.json", text: config.serialized(.pretty) + "\n")
        for name in carriedFiles where isRegularFile(inputDirectory + "/" + name) {
            let source = try MappedFile(path: inputDirectory + "/" + name)
            try out.write(name) { try $0.write(source.bytes) }
        }
        try out.write("metrics.jsonl", text: metricsLines(history))
        try out.write("curve.svg", text: curve(history, metric: metric))
        if let (from, name) = extraSubdirectory {
            guard rename(from, out.file(name)) == 0 else { throw OutputError(path: from, operation: "move into the output", errno: errno) }
        }
        try out.commit()
    }
}
