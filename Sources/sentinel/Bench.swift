import ArgumentParser
import SentinelCore
import SentinelEncoder
import SentinelFormats

/// `sentinel bench …`: speed measurements (never run as tests).
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure Sentinel's speed on this machine.",
        subcommands: [BenchEncoder.self, BenchTrain.self]
    )
}

/// `sentinel bench encoder`: BERT forward throughput against the machine's sgemm peak and PyTorch.
struct BenchEncoder: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "encoder",
        abstract: "Forward-pass throughput of the native encoder (MiniLM and a BERT-base geometry).",
        discussion: """
            Measures a 2048³ cblas_sgemm (best of 5; OpenBLAS on --threads threads, and as --threads single-threaded calls on row blocks) as the float32 peak, before and after the forward passes; the highest is used.

            For each model and (batch, seq): 2 warm-up forward passes, then --repeats timed ones. Reported: median and best time, tokens/s and GFLOP/s at the median (2 × the multiply-adds of every matrix product, attention included), the fraction of the sgemm peak (%peak), and %paired: the median over passes of each pass's GFLOP/s divided by a 2048³ sgemm measured just before it (robust to a machine whose load changes).

            PyTorch 2.15's median tokens/s on this machine (../shared/perf/BASELINE.md, 2 threads, inference mode) is printed with its fraction of that file's 207 GFLOP/s peak; "ratio" divides tokens/s, "ratio@peak" divides %paired by PyTorch's %peak (the ratio both would have on the same, equally loaded machine). Input ids are pseudo-random, no padding; BERT-base has random weights.
            """
    )

    @Option(help: "MiniLM model directory (config.json, model.safetensors; default: Samples/.cache/all-MiniLM-L6-v2 of the package).")
    var model: String?

    @Option(parsing: .unconditional, help: "Timed forward passes per shape (the median is reported).")
    var repeats = 5

    @Option(parsing: .unconditional, help: "Threads for OpenBLAS and the encoder's vector work.")
    var threads = 2

    @Flag(help: "Skip the BERT-base geometry.")
    var skipBase = false

    @Option(name: .customLong("shape"), help: ArgumentHelp("A (batch, seq) to measure, as BxL; repeatable.", valueName: "BxL"))
    var shapes: [String] = ["1x16", "8x128", "32x128"]

    @OptionGroup var report: ReportOptions

    /// The sgemm peak BASELINE.md measured on the quiet machine (OpenBLAS 2048³, 2 threads), GFLOP/s.
    static let baselinePeak = 207.0

    /// PyTorch 2.15 CPU tokens/s from ../shared/perf/BASELINE.md (transformers 5.24, sdpa, 2 threads).
    static let pytorch: [String: [Int: Double]] = [
        "MiniLM": [16: 2014, 1024: 7549, 4096: 6206],
        "BERT-base": [16: 334, 1024: 988, 4096: 945],
    ]

    func validate() throws {
        if repeats < 1 { throw ValidationError("--repeats must be at least 1") }
        if threads < 1 { throw ValidationError("--threads must be at least 1") }
        _ = try parsedShapes()
    }

    func run() throws {
        let model = self.model ?? PackageLocation.path("Samples/.cache/all-MiniLM-L6-v2")
        try reportingErrors(json: report.json) {
            BLAS.configure(threads: threads)
            let progress = Progress(forced: report.progress)
            progress.step("measuring sgemm peak (2048³)")
            let peakBefore = max(BLAS.measureSgemmPeak(), BLAS.measureSgemmPeak(mode: .rowBlocks))
            // Each model is built just before its passes and released after them (the random BERT-base
            // weights are ~0.9 GB while they exist).
            var models: [(String, () throws -> BertModel)] = []
            models.append(
                (
                    "MiniLM",
                    {
                        progress.step("loading \(model)")
                        let config = try BertConfig.load(path: model + "/config.json")
                        return try BertModel(archive: SafeTensorsFile(path: model + "/model.safetensors"), config: config)
                    }
                ))
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
            struct Row {
                var name: String
                var b: Int
                var l: Int
                var median: Double
                var best: Double
                var flops: Double
                var paired: Double
            }
            var measured: [Row] = []
            for (name, make) in models {
                let m = try make()
                for (b, l) in try parsedShapes() {
                    progress.step("\(name) (\(b), \(l))")
                    let batch = try randomBatch(b, l, vocab: m.config.vocabSize)
                    m.reserveWorkspace(batchSize: b, sequenceLength: l)
                    for _ in 0..<2 { _ = try m.forward(batch) }
                    var times: [Double] = [], fractions: [Double] = []
                    let f = flops(m.config, b, l)
                    for _ in 0..<max(1, repeats) {
                        // Each pass is paired with an sgemm measured just before it, so that the fraction of
                        // peak compares like with like on a machine whose load changes from second to second.
                        let local = BLAS.measureSgemmPeak(repeats: 0, mode: .rowBlocks)
                        let t0 = monotonicSeconds()
                        _ = try m.forward(batch)
                        let t = monotonicSeconds() - t0
                        times.append(t)
                        fractions.append(f / t / 1e9 / local)
                    }
                    times.sort()
                    fractions.sort()
                    measured.append(
                        Row(
                            name: name, b: b, l: l, median: times[times.count / 2], best: times[0], flops: f,
                            paired: fractions[fractions.count / 2]))
                }
            }
            progress.step("measuring sgemm peak again")
            let peak = max(peakBefore, BLAS.measureSgemmPeak(), BLAS.measureSgemmPeak(mode: .rowBlocks))
            var rows: [JSONValue] = []
            if !report.json {
                print("sgemm peak (2048³ on \(BLAS.threads) threads, OpenBLAS core \(BLAS.coreName)): \(fmt(peak, 1)) GFLOP/s")
                print("model      batch  seq  median ms  best ms  tokens/s  GFLOP/s  %peak  %paired  PyTorch tok/s %peak  ratio  ratio@peak")
            }
            for r in measured {
                let tps = Double(r.b * r.l) / r.median
                let gflops = r.flops / r.median / 1e9
                let torch = Self.pytorch[r.name]?[r.b * r.l]
                // PyTorch's fraction of the 207 GFLOP/s sgemm peak BASELINE.md measured on the quiet machine.
                let torchFraction = torch.map { r.flops / (Double(r.b * r.l) / $0) / 1e9 / Self.baselinePeak }
                if report.json {
                    let torchValue: JSONValue = torch.map { JSONValue.double($0, text: nil) } ?? .null
                    let ratioValue: JSONValue = torch.map { JSONValue.double(tps / $0, text: nil) } ?? .null
                    var fields: [(String, JSONValue)] = [("model", .string(r.name)), ("batch", .int(Int64(r.b))), ("seq", .int(Int64(r.l)))]
                    fields.append(("median_seconds", .double(r.median, text: nil)))
                    fields.append(("best_seconds", .double(r.best, text: nil)))
                    fields.append(("tokens_per_second", .double(tps, text: nil)))
                    fields.append(("gflops", .double(gflops, text: nil)))
                    fields.append(("fraction_of_peak", .double(gflops / peak, text: nil)))
                    fields.append(("fraction_of_paired_peak", .double(r.paired, text: nil)))
                    fields.append(("pytorch_fraction_of_peak", torchFraction.map { JSONValue.double($0, text: nil) } ?? .null))
                    fields.append(("ratio_to_pytorch_at_equal_peak", torchFraction.map { JSONValue.double(r.paired / $0, text: nil) } ?? .null))
                    fields.append(("pytorch_tokens_per_second", torchValue))
                    fields.append(("ratio_to_pytorch", ratioValue))
                    rows.append(.object(fields))
                } else {
                    let torchText: String = torch.map { fmt($0, 0) } ?? "-"
                    let ratioText: String = torch.map { fmt(tps / $0, 2) + "×" } ?? "-"
                    let torchPeak: String = torchFraction.map { fmt(100 * $0, 1) } ?? "-"
                    let equalText: String = torchFraction.map { fmt(r.paired / $0, 2) + "×" } ?? "-"
                    let cells: [String] = [
                        pad(r.name, 10), lpad("\(r.b)", 6), lpad("\(r.l)", 5), lpad(fmt(r.median * 1000, 2), 11),
                        lpad(fmt(r.best * 1000, 2), 9), lpad(fmt(tps, 0), 10), lpad(fmt(gflops, 1), 9),
                        lpad(fmt(100 * gflops / peak, 1), 7), lpad(fmt(100 * r.paired, 1), 9),
                        lpad(torchText, 15), lpad(torchPeak, 6), lpad(ratioText, 7), lpad(equalText, 12),
                    ]
                    print(cells.joined())
                }
            }
            if report.json {
                print(
                    JSONValue.object([
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
