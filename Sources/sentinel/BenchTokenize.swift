import ArgumentParser
import Dispatch
import SentinelScheme
import SentinelCore
import SentinelTokenizer

/// `sentinel bench-tokenize`: tokenize + encrypt a CoNLL file (default: CoNLL-2003 train) on 1 and 2
/// threads and print wordpieces per second, to compare with HF tokenizers (`../shared/perf/BASELINE.md`).
struct BenchTokenize: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-tokenize",
        abstract: "Benchmark: tokenize + encrypt a CoNLL file, wordpieces per second on 1 and 2 threads.",
        discussion: """
            Each sentence's words are joined with spaces, as the HF baseline does
            (CoNLL-2003 train: 1,079,622 bytes, 252,043 wordpieces with MiniLM);
            the count excludes [CLS]/[SEP] (<s>/</s>), as the baseline's does.
            Any supported family: WordPiece, byte-level BPE (RoBERTa) or unigram (XLM-R). 'tokenize+encrypt' also
            writes every token's digest (32 hex characters, space-separated) into
            an output buffer, as `sentinel encrypt` does. Hashing the vocabulary
            (once per key) is timed separately. Without SENTINEL_KEY or --key-file
            a fixed benchmark key is used. Best of --repeats runs.
            """)

    @Argument(help: "The original model directory.")
    var modelDirectory: String

    @Option(
        help:
            "A word-per-line NER file (default: CoNLL-2003 train from the vendored ground truth, Samples/.cache/shared, which Samples/unpack-fixtures.sh unpacks; or under $SENTINEL_SHARED)."
    )
    var data: String?

    @Option(parsing: .unconditional, help: "Repetitions; the best is reported.")
    var repeats = 5

    @Option(parsing: .upToNextOption, help: "Thread counts to measure.")
    var threads: [Int] = [1, 2]

    @OptionGroup var key: KeyOptions
    @OptionGroup var report: ReportOptions

    func validate() throws {
        if threads.isEmpty { throw ValidationError("--threads needs at least one thread count") }
        if let bad = threads.first(where: { $0 < 1 }) { throw ValidationError("--threads \(bad): thread counts must be at least 1") }
        if repeats < 1 { throw ValidationError("--repeats \(repeats): must be at least 1") }
    }

    func run() throws {
        let data = self.data ?? PackageLocation.shared("data/conll2003/train.txt")
        try reportingErrors(json: report.json) {
            let clock = ContinuousClock()
            func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18 }
            // A given key (file or SENTINEL_KEY, even if bad) is used or refused; only no key at all takes the fixed one.
            let passkey = key.isGiven ? try key.passkey() : "sentinel-benchmark"
            var t0 = clock.now
            let tokenizer = try Tokenizers.load(directory: modelDirectory)
            let loadSeconds = seconds(clock.now - t0)
            t0 = clock.now
            let encryptor: Encryptor
            do { encryptor = try Encryptor(tokenizer: tokenizer, key: passkey) } catch let e as TokenHasher.Error {
                throw ValidationError(e.description)
            }
            let hashSeconds = seconds(clock.now - t0)
            let texts = try NERCorpus.read(path: data).map { $0.words.joined(separator: " ") }
            let bytes = texts.reduce(0) { $0 + $1.utf8.count }

            var outputBytes = 0
            /// Runs `texts` split in `n` contiguous chunks on `n` threads; returns (seconds, wordpieces).
            func measure(_ n: Int, encrypt: Bool) -> (Double, Int) {
                var best = Double.infinity
                var pieceCount = 0
                for _ in 0..<repeats {
                    let counts = UnsafeMutableBufferPointer<Int>.allocate(capacity: n)
                    let written = UnsafeMutableBufferPointer<Int>.allocate(capacity: n)
                    defer {
                        counts.deallocate()
                        written.deallocate()
                    }
                    let start = clock.now
                    Parallel.forEach(n) { part in
                        let lo = texts.count * part / n, hi = texts.count * (part + 1) / n
                        var scratch: AnyObject?
                        var pieces = Pieces()
                        var out: [UInt8] = []
                        out.reserveCapacity(1 << 20)
                        var count = 0
                        var bytes = 0
                        for i in lo..<hi {
                            pieces.removeAll()
                            tokenizer.append(texts[i], to: &pieces, scratch: &scratch)
                            count += pieces.count  // HF's baseline counts pieces without [CLS]/[SEP]
                            if encrypt {
                                if out.count > 1 << 20 {
                                    bytes += out.count
                                    out.removeAll(keepingCapacity: true)
                                }
                                for id in pieces.ids {
                                    encryptor.appendEncryptedToken(id: id, to: &out)
                                    out.append(0x20)
                                }
                                out.append(0x0A)
                            }
                        }
                        counts[part] = count
                        written[part] = bytes + out.count
                    }
                    best = min(best, seconds(clock.now - start))
                    pieceCount = counts.reduce(0, +)
                    outputBytes = written.reduce(0, +)
                }
                return (best, pieceCount)
            }

            var rows: [JSONValue] = []
            var lines: [String] = []
            for n in threads {
                for encrypt in [false, true] {
                    let (s, count) = measure(n, encrypt: encrypt)
                    let rate = Double(count) / s
                    let mode = encrypt ? "tokenize+encrypt" : "tokenize"
                    let written = encrypt ? outputBytes : 0
                    rows.append(
                        .object([
                            ("mode", .string(mode)), ("threads", .int(Int64(n))), ("seconds", .double(s, text: nil)),
                            ("wordpieces", .int(Int64(count))), ("wordpieces_per_second", .double(rate, text: nil)),
                            ("output_bytes", .int(Int64(written))),
                        ]))
                    lines.append(
                        "\(mode) \(n) thread(s): \(count) wordpieces in \(format3(s)) s = \(format3(rate / 1e6)) M wordpieces/s"
                            + (encrypt ? " (\(written) bytes of digests written)" : ""))
                }
            }
            if report.json {
                print(
                    JSONValue.object([
                        ("data", .string(data)), ("sentences", .int(Int64(texts.count))), ("text_bytes", .int(Int64(bytes))),
                        ("load_seconds", .double(loadSeconds, text: nil)), ("vocab_hash_seconds", .double(hashSeconds, text: nil)),
                        ("runs", .array(rows)),
                    ]).serialized(.pretty))
            } else {
                print("\(data): \(texts.count) sentences, \(bytes) bytes of text")
                print("tokenizer load \(format3(loadSeconds)) s; vocabulary hashing (\(tokenizer.vocabularySize) BLAKE2b) \(format3(hashSeconds)) s")
                for l in lines { print(l) }
            }
        }
    }
}

private func format3(_ x: Double) -> String {
    let scaled = (x * 1000).rounded() / 1000
    return String(scaled)
}
