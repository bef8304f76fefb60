import ArgumentParser
import Foundation
import SentinelCore
import SentinelEncoder
import SentinelFormats

/// `sentinel bench train`: one training step (forward + backward + AdamW) against PyTorch.
struct BenchTrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Training-step time of the native encoder (MiniLM and a BERT-base geometry).",
        discussion: """
            Times whole training steps of token classification (9 labels): training-mode forward with dropout, backward, clip_grad_norm_ to 1.0, AdamW (lr 5e-5, weight decay 0.01), on a fixed random batch without padding. For each model and dropout rate (hidden, attention and classifier dropout all set to it): 2 warm-up steps, then --repeats timed ones; the median and the best are reported with GFLOP/s (3 × the forward products) and the ratio to PyTorch 2.15's time on this machine (../shared/perf/BASELINE.md: BertForTokenClassification, batch 16, seq 64, 2 threads). Each step is paired with a 2048³ sgemm measured just before it: %paired is the median of each step's GFLOP/s over that sgemm's, and speed-up@peak divides it by PyTorch's fraction of the 207 GFLOP/s peak BASELINE.md measured (the speed-up both would have on the same, equally loaded machine). The 1-minute load average is printed before and after: the machine is shared. BERT-base has random weights.
            """
    )

    @Option(help: "MiniLM model directory (config.json, model.safetensors).")
    var model = "Samples/.cache/all-MiniLM-L6-v2"

    @Option(parsing: .unconditional, help: "Timed training steps per configuration (the median is reported).")
    var repeats = 5

    @Option(parsing: .unconditional, help: "Threads for OpenBLAS and the encoder's vector work.")
    var threads = 2

    @Option(parsing: .unconditional, help: "Batch size.")
    var batch = 16

    @Option(parsing: .unconditional, help: "Sequence length.")
    var seq = 64

    @Flag(help: "Skip the BERT-base geometry.")
    var skipBase = false

    @OptionGroup var report: ReportOptions

    /// PyTorch 2.15 training-step seconds at (16, 64) from ../shared/perf/BASELINE.md, by model and dropout.
    /// The sgemm peak BASELINE.md measured on the quiet machine (OpenBLAS 2048³, 2 threads), GFLOP/s.
    static let baselinePeak = 207.0

    static let pytorch: [String: [Float: Double]] = ["MiniLM": [0.1: 0.655, 0: 0.539], "BERT-base": [0.1: 3.58, 0: 3.22]]

    func validate() throws {
        if repeats < 1 { throw ValidationError("--repeats must be at least 1") }
        if threads < 1 { throw ValidationError("--threads must be at least 1") }
        if batch < 1 || seq < 1 || seq > 512 { throw ValidationError("--batch must be ≥ 1 and --seq in 1...512") }
    }

    func run() throws {
        try reportingErrors(json: report.json) {
            BLAS.configure(threads: threads)
            let progress = Progress(forced: report.progress)
            let loadBefore = TrainingBenchmark.loadAverage()
            var models: [(String, () throws -> BertModel)] = [
                (
                    "MiniLM",
                    {
                        progress.step("loading \(model)")
                        return try BertModel(
                            archive: SafeTensorsFile(path: model + "/model.safetensors"), config: BertConfig.load(path: model + "/config.json"))
                    }
                )
            ]
            if !skipBase {
                models.append(
                    (
                        "BERT-base",
                        {
                            progress.step("building a random BERT-base")
                            let base = BertConfig(vocabSize: 30522, hiddenSize: 768, layerCount: 12, headCount: 12, intermediateSize: 3072)
                            return try BertModel(archive: MemoryArchive.randomBert(base, seed: 1), config: base)
                        }
                    ))
            }
            var rows: [JSONValue] = []
            if !report.json {
                print("model     dropout  batch  seq  median ms  best ms  GFLOP/s  %paired  PyTorch ms  %peak  speed-up  speed-up@peak")
            }
            for (name, make) in models {
                let bert = try make()
                let (input, labels) = try TrainingBenchmark.randomTokenBatch(batch: batch, length: seq, vocab: bert.config.vocabSize, labels: 9)
                let session = try TrainingSession(
                    model: bert, classifier: TrainingBenchmark.randomClassifier(labels: 9, hidden: bert.config.hiddenSize),
                    task: .tokenClassification)
                for rate: Float in [0.1, 0] {
                    progress.step("\(name) dropout \(rate)")
                    session.dropout = DropoutRates(hidden: rate, attentionProbabilities: rate, classifier: rate)
                    let samples = try TrainingBenchmark.measure(session, batch: input, labels: labels, repeats: repeats)
                    let times = samples.map(\.seconds).sorted()
                    let median = times[times.count / 2], best = times[0]
                    let flops = TrainingBenchmark.flops(bert.config, batch: batch, length: seq, labels: 9)
                    let gflops = flops / median / 1e9
                    let paired = samples.map { flops / $0.seconds / 1e9 / $0.pairedPeak }.sorted()[samples.count / 2]
                    let torch = batch == 16 && seq == 64 ? Self.pytorch[name]?[rate] : nil
                    // PyTorch's fraction of the 207 GFLOP/s peak BASELINE.md measured on the quiet machine.
                    let torchFraction = torch.map { flops / $0 / 1e9 / Self.baselinePeak }
                    if report.json {
                        rows.append(
                            .object([
                                ("model", .string(name)), ("dropout", .double(Double(rate), text: nil)), ("batch", .int(Int64(batch))),
                                ("seq", .int(Int64(seq))), ("median_seconds", .double(median, text: nil)), ("best_seconds", .double(best, text: nil)),
                                ("gflops", .double(gflops, text: nil)),
                                ("pytorch_seconds", torch.map { .double($0, text: nil) } ?? .null),
                                ("speedup_vs_pytorch", torch.map { .double($0 / median, text: nil) } ?? .null),
                                ("fraction_of_paired_peak", .double(paired, text: nil)),
                                ("pytorch_fraction_of_peak", torchFraction.map { .double($0, text: nil) } ?? .null),
                                ("speedup_at_equal_peak", torchFraction.map { .double(paired / $0, text: nil) } ?? .null),
                            ]))
                    } else {
                        func cell(_ text: String, _ width: Int) -> String { String(repeating: " ", count: max(0, width - text.count)) + text }
                        func num(_ x: Double, _ digits: Int) -> String { String(format: "%.\(digits)f", x) }
                        let cells = [
                            name.padding(toLength: 10, withPad: " ", startingAt: 0), cell(num(Double(rate), 1), 7), cell("\(batch)", 7),
                            cell("\(seq)", 5), cell(num(median * 1000, 1), 11), cell(num(best * 1000, 1), 9), cell(num(gflops, 1), 9),
                            cell(num(100 * paired, 1), 9), cell(torch.map { num($0 * 1000, 0) } ?? "-", 12),
                            cell(torchFraction.map { num(100 * $0, 1) } ?? "-", 7), cell(torch.map { num($0 / median, 2) + "×" } ?? "-", 10),
                            cell(torchFraction.map { num(paired / $0, 2) + "×" } ?? "-", 15),
                        ]
                        print(cells.joined())
                    }
                }
            }
            let loadAfter = TrainingBenchmark.loadAverage()
            if report.json {
                print(
                    JSONValue.object([
                        ("threads", .int(Int64(BLAS.threads))), ("load_average_before", loadBefore.map { .double($0, text: nil) } ?? .null),
                        ("load_average_after", loadAfter.map { .double($0, text: nil) } ?? .null), ("results", .array(rows)),
                    ]).serialized(.pretty))
            } else {
                print(String(format: "threads %d; 1-minute load average %.2f before, %.2f after", BLAS.threads, loadBefore ?? -1, loadAfter ?? -1))
            }
        }
    }
}
