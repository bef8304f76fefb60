import ArgumentParser
import Dispatch
import Foundation
import SentinelCore
import SentinelTokenizer

/// `sentinel bench-spm`: SentencePiece unigram (XLM-R) tokenization speed, pieces per second on 1 and 2
/// threads, on CoNLL-2003 train (words joined by spaces, as the HF baseline does) and on a JSON-lines file of
/// strings (the 110 multilingual strings of the real 128k model by default), to compare with HF tokenizers.
struct BenchSentencePiece: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-spm",
        abstract: "Benchmark: SentencePiece unigram tokenization, pieces per second on 1 and 2 threads.",
        discussion: """
            MODEL_DIR holds tokenizer.json or sentencepiece.bpe.model (XLM-R layout). The
            count excludes <s>/</s>. The JSON-lines strings are repeated --string-repeats
            times so that a run lasts long enough to time. Best of --repeats runs.
            """)

    @Argument(help: "The model directory (tokenizer.json or sentencepiece.bpe.model).")
    var modelDirectory: String

    @Option(help: "A word-per-line NER file (CoNLL-2003 train by default).")
    var data = "Samples/.cache/shared/data/conll2003/train.txt"

    @Option(help: "A JSON-lines file with a \"text\" member per line.")
    var strings = "Samples/.cache/shared/fixtures/xlmr/real_spm_strings.jsonl"

    @Option(parsing: .unconditional, help: "How many times the strings are repeated per run.")
    var stringRepeats = 200

    @Option(parsing: .unconditional, help: "Repetitions; the best is reported.")
    var repeats = 5

    @Option(parsing: .upToNextOption, help: "Thread counts to measure.")
    var threads: [Int] = [1, 2]

    @OptionGroup var report: ReportOptions

    func validate() throws {
        if threads.isEmpty { throw ValidationError("--threads needs at least one thread count") }
        if let bad = threads.first(where: { $0 < 1 }) { throw ValidationError("--threads \(bad): thread counts must be at least 1") }
        if repeats < 1 { throw ValidationError("--repeats \(repeats): must be at least 1") }
        if stringRepeats < 1 { throw ValidationError("--string-repeats \(stringRepeats): must be at least 1") }
    }

    func run() throws {
        try reportingErrors(json: report.json) {
            let clock = ContinuousClock()
            func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18 }
            let t0 = clock.now
            let tokenizer = try UnigramTokenizer.load(directory: modelDirectory)
            let loadSeconds = seconds(clock.now - t0)
            let conll = try NERCorpus.read(path: data).map { $0.words.joined(separator: " ") }
            let lines = try readJSONLineTexts(strings)
            let multilingual = Array(repeating: lines, count: stringRepeats).flatMap { $0 }
            let results = [("conll", conll), ("strings", multilingual)].map { name, texts in
                (name, texts, threads.map { n in (n, measure(tokenizer, texts, threads: n, clock: clock)) })
            }
            if report.json {
                print(
                    JSONValue.object([
                        ("model", .string(modelDirectory)), ("load_seconds", .double(loadSeconds, text: nil)),
                        (
                            "inputs",
                            .array(
                                results.map { name, texts, runs in
                                    .object([
                                        ("name", .string(name)), ("texts", .int(Int64(texts.count))),
                                        ("bytes", .int(Int64(texts.reduce(0) { $0 + $1.utf8.count }))),
                                        (
                                            "runs",
                                            .array(
                                                runs.map { n, r in
                                                    .object([
                                                        ("threads", .int(Int64(n))), ("seconds", .double(r.0, text: nil)),
                                                        ("pieces", .int(Int64(r.1))),
                                                        ("pieces_per_second", .double(Double(r.1) / r.0, text: nil)),
                                                    ])
                                                })
                                        ),
                                    ])
                                })
                        ),
                    ]).serialized(.pretty))
            } else {
                print("tokenizer load \(String(format: "%.3f", loadSeconds)) s (\(tokenizer.vocabularySize) ids)")
                for (name, texts, runs) in results {
                    let bytes = texts.reduce(0) { $0 + $1.utf8.count }
                    for (n, r) in runs {
                        print(
                            "\(name) (\(texts.count) texts, \(bytes) bytes) \(n) thread(s): \(r.1) pieces in "
                                + "\(String(format: "%.3f", r.0)) s = \(String(format: "%.3f", Double(r.1) / r.0 / 1e6)) M pieces/s")
                    }
                }
            }
        }
    }

    /// Best time over `repeats` for `texts` split in `n` contiguous parts on `n` threads, and the piece count.
    func measure(_ tokenizer: UnigramTokenizer, _ texts: [String], threads n: Int, clock: ContinuousClock) -> (Double, Int) {
        var best = Double.infinity
        var total = 0
        for _ in 0..<repeats {
            let counts = UnsafeMutableBufferPointer<Int>.allocate(capacity: n)
            defer { counts.deallocate() }
            let start = clock.now
            Parallel.forEach(n) { part in
                let lo = texts.count * part / n, hi = texts.count * (part + 1) / n
                let workspace = UnigramWorkspace()
                var pieces = Pieces()
                var count = 0
                for i in lo..<hi {
                    pieces.removeAll()
                    tokenizer.append(texts[i], to: &pieces, workspace: workspace)
                    count += pieces.count
                }
                counts[part] = count
            }
            let d = clock.now - start
            best = min(best, Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18)
            total = counts.reduce(0, +)
        }
        return (best, total)
    }
}

/// The `text` member of every line of a JSON-lines file.
/// - Throws: ``InputError`` (`not_json`, `invalid_structure`) naming the line; ``OutputError`` for I/O.
private func readJSONLineTexts(_ path: String) throws -> [String] {
    let file = try MappedFile(path: path)
    let text = withExtendedLifetime(file) { String(decoding: file.bytes, as: UTF8.self) }
    var out: [String] = []
    var offset = 0
    for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
        defer { offset += line.utf8.count + 1 }
        guard !line.isEmpty else { continue }
        let value: JSONValue
        do { value = try JSONValue.parse(String(line)) } catch let e as JSONValue.ParseError {
            throw InputError(.notJSON, file: path, offset: offset + e.offset, key: "line \(index + 1)", e.reason)
        }
        guard let s = value["text"]?.stringValue else {
            throw InputError(.invalidStructure, file: path, offset: offset, key: "line \(index + 1)", "no string member \"text\"")
        }
        out.append(s)
    }
    return out
}
