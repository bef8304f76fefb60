import ArgumentParser
import SentinelCore
import SentinelEncoder

/// `sentinel bench …`: speed measurements (never run as tests).
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure Sentinel's speed on this machine.",
        subcommands: [BenchEncoder.self]
    )
}

/// `sentinel bench encoder`: BERT forward throughput against the machine's sgemm peak and PyTorch.
struct BenchEncoder: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "encoder",
        abstract: "Forward-pass throughput of the native encoder (MiniLM and a BERT-base geometry).",
        discussion: """
        Measures a 2048³ cblas_sgemm (best of 5) as the float32 peak, then for each model and (batch, seq)
        runs 2 warm-up forward passes and reports the median of --repeats: tokens/s, GFLOP/s (2 × multiply-adds
        of every matrix product, attention included), the fraction of the sgemm peak, and the ratio to
        PyTorch 2.15's tokens/s on this machine (../shared/perf/BASELINE.md, 2 threads, inference mode).
        Input ids are pseudo-random, no padding. The BERT-base geometry uses random weights.
        """
    )

    @Option(help: "MiniLM model directory (config.json, model.safetensors).")
    var model = "Samples/.cache/all-MiniLM-L6-v2"

    @Option(help: "Timed forward passes per shape (the median is reported).")
    var repeats = 5

    @Option(help: "Threads for OpenBLAS and the encoder's vector work.")
    var threads = 2

    @Flag(help: "Skip the BERT-base geometry.")
    var skipBase = false

    @Option(name: .customLong("shape"), help: ArgumentHelp("A (batch, seq) to measure, as BxL; repeatable.", valueName: "BxL"))
    var shapes: [String] = ["1x16", "8x128", "32x128"]

    @OptionGroup var report: ReportOptions

    /// PyTorch 2.15 CPU tokens/s from ../shared/perf/BASELINE.md (transformers 5.24, sdpa, 2 threads).
    static let pytorch: [String: [Int: Double]] = [
        "MiniLM": [16: 2014, 1024: 7549, 4096: 6206],
        "BERT-base": [16: 334, 1024: 988, 4096: 945],
    ]

    func run() throws {
        try reportingErrors(json: report.json) {
            BLAS.configure(threads: threads)
            let progress = Progress(forced: report.progress)
            progress.step("measuring sgemm peak (2048³)")
            let peak = BLAS.measureSgemmPeak()
            var models: [(String, BertModel)] = []
            progress.step("loading \(model)")
            let config = try BertConfig.load(path: model + "/config.json")
            models.append(("MiniLM", try BertModel(archive: SafeTensorsFile(path: model + "/model.safetensors"), config: config)))
            if !skipBase {
                let base = BertConfig(vocabSize: 30522, hiddenSize: 768, layerCount: 12, headCount: 12, intermediateSize: 3072)
                models.append(("BERT-base", try BertModel(archive: MemoryArchive.randomBert(base, seed: 1), config: base)))
            }
            var rows: [JSONValue] = []
            if !report.json {
                print("sgemm peak (2048³, OpenBLAS on \(BLAS.threads) threads, core \(BLAS.coreName)): \(fmt(peak, 1)) GFLOP/s")
                print("model      batch  seq   median ms    tokens/s   GFLOP/s  % peak   PyTorch tok/s  ratio")
            }
            for (name, m) in models {
                for (b, l) in try parsedShapes() {
                    progress.step("\(name) (\(b), \(l))")
                    let batch = try randomBatch(b, l, vocab: m.config.vocabSize)
                    for _ in 0..<2 { _ = try m.forward(batch) }
                    var times: [Double] = []
                    for _ in 0..<max(1, repeats) {
                        let t0 = monotonicSeconds()
                        _ = try m.forward(batch)
                        times.append(monotonicSeconds() - t0)
                    }
                    times.sort()
                    let median = times[times.count / 2]
                    let tokens = Double(b * l)
                    let gflops = flops(m.config, b, l) / median / 1e9
                    let torch = Self.pytorch[name]?[b * l]
                    let tps = tokens / median
                    if report.json {
                        let torchValue: JSONValue = torch.map { JSONValue.double($0, text: nil) } ?? .null
                        let ratioValue: JSONValue = torch.map { JSONValue.double(tps / $0, text: nil) } ?? .null
                        var fields: [(String, JSONValue)] = [("model", .string(name)), ("batch", .int(Int64(b))), ("seq", .int(Int64(l)))]
                        fields.append(("median_seconds", .double(median, text: nil)))
                        fields.append(("tokens_per_second", .double(tps, text: nil)))
                        fields.append(("gflops", .double(gflops, text: nil)))
                        fields.append(("fraction_of_peak", .double(gflops / peak, text: nil)))
                        fields.append(("pytorch_tokens_per_second", torchValue))
                        fields.append(("ratio_to_pytorch", ratioValue))
                        rows.append(.object(fields))
                    } else {
                        let torchText: String = torch.map { fmt($0, 0) } ?? "-"
                        let ratioText: String = torch.map { fmt(tps / $0, 2) + "×" } ?? "-"
                        let cells: [String] = [
                            pad(name, 10), lpad("\(b)", 6), lpad("\(l)", 5), lpad(fmt(median * 1000, 2), 12),
                            lpad(fmt(tps, 0), 12), lpad(fmt(gflops, 1), 10), lpad(fmt(100 * gflops / peak, 1), 8),
                            lpad(torchText, 16), lpad(ratioText, 7),
                        ]
                        print(cells.joined())
                    }
                }
            }
            if report.json {
                print(JSONValue.object([
                    ("sgemm_peak_gflops", .double(peak, text: nil)), ("threads", .int(Int64(BLAS.threads))),
                    ("openblas_core", .string(BLAS.coreName)), ("results", .array(rows)),
                ]).serialized(.pretty))
            }
        }
    }

    func parsedShapes() throws -> [(Int, Int)] {
        try shapes.map { text in
            let parts = text.split(separator: "x").compactMap { Int($0) }
            guard parts.count == 2, parts[0] >= 1, parts[1] >= 1, parts[0] * parts[1] <= 1 << 20 else {
                throw ValidationError("--shape must be BxL with positive integers, e.g. 8x128 (got '\(text)')")
            }
            return (parts[0], parts[1])
        }
    }

    /// Floating-point operations of one forward pass: 2 × multiply-adds of the Q/K/V/output/FFN products,
    /// Q·Kᵀ and P·V, and the pooler.
    func flops(_ c: BertConfig, _ b: Int, _ l: Int) -> Double {
        let t = Double(b * l), h = Double(c.hiddenSize), f = Double(c.intermediateSize)
        let perLayer = t * (4 * h * h + 2 * h * f) + 2 * Double(b) * Double(l) * Double(l) * h
        return 2 * (Double(c.layerCount) * perLayer + Double(b) * h * h)
    }

    func randomBatch(_ b: Int, _ l: Int, vocab: Int) throws -> EncoderBatch {
        var state: UInt32 = 12345
        var ids: [Int32] = []
        for i in 0..<(b * l) {
            state = state &* 1_664_525 &+ 1_013_904_223
            ids.append(i % l == 0 ? 101 : Int32(1000 + Int(state >> 8) % (vocab - 1000)))
        }
        return try EncoderBatch(batchSize: b, sequenceLength: l, inputIDs: ids)
    }
}

private func fmt(_ x: Double, _ digits: Int) -> String {
    var s = String(Int((x * pow10(digits)).rounded()))
    if digits > 0 {
        while s.count <= digits { s = "0" + s }
        s.insert(".", at: s.index(s.endIndex, offsetBy: -digits))
    }
    return s
}

private func pow10(_ n: Int) -> Double { (0..<n).reduce(1.0) { r, _ in r * 10 } }
private func pad(_ s: String, _ n: Int) -> String { s + String(repeating: " ", count: max(0, n - s.count)) }
private func lpad(_ s: String, _ n: Int) -> String { String(repeating: " ", count: max(0, n - s.count)) + s }
