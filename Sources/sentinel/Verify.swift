import ArgumentParser
import SentinelAudit
import SentinelCore

/// `sentinel verify`: check an adapted model against its original (CLI.md).
struct Verify: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check that an adapted model matches its original where the scheme promises it.",
        discussion: """
        Checks: the vocabulary (every original token's digest present once, specials in place, the scheme's id mapping \
        for this key); every tensor but the word embeddings byte-identical; each embedding row the glide transform of \
        its source row; and the adapted encoder on encrypted input against the original on plain input \
        (max |Δ| of last_hidden_state and pooler_output within --tolerance).

        Exit 0 when every check passes, 1 when one fails (the report says which and why).
        """
    )

    @Argument(help: "The adapted model directory.")
    var adaptedDir: String

    @Option(help: "The original model directory it was converted from.")
    var original: String

    @Option(help: "Text file with one sentence per line, or - for standard input (default: built-in English sentences).")
    var sentences: String?

    @Option(help: "Largest accepted max |Δ| of last_hidden_state and pooler_output (float32).")
    var tolerance: Float = 1e-4

    @OptionGroup var key: KeyOptions
    @OptionGroup var report: ReportOptions

    func validate() throws {
        guard tolerance >= 0, tolerance.isFinite else { throw ValidationError("--tolerance must be a non-negative number") }
    }

    func run() throws {
        let progress = Progress(forced: report.progress)
        var failed = false
        try reportingErrors(json: report.json) {
            let passkey = try key.passkey()
            var texts = AdaptedModelVerifier.defaultSentences
            if let sentences {
                let bytes = try FileIO.readSmallFile(sentences == "-" ? "/dev/stdin" : sentences, limit: 16 << 20)
                guard let text = String(validating: bytes, as: UTF8.self) else {
                    throw InputError(.notText, file: sentences, "not valid UTF-8")
                }
                texts = text.split(whereSeparator: \.isNewline).map(String.init).filter { !$0.allSatisfy(\.isWhitespace) }
                guard !texts.isEmpty else { throw InputError(.missing, file: sentences, "no sentences in the file") }
            }
            let r = try AdaptedModelVerifier.verify(adapted: adaptedDir, original: original, passkey: passkey, sentences: texts,
                                                    tolerance: tolerance, progress: progress.step)
            failed = !r.passed
            if report.json {
                print(JSONValue.object([
                    ("adapted", .string(adaptedDir)), ("original", .string(original)), ("passed", .bool(r.passed)),
                    ("checks", .array(r.checks.map(\.json))),
                ]).serialized(.pretty))
            } else {
                for c in r.checks { print("\(c.passed ? "PASS" : "FAIL")  \(c.name): \(c.detail)") }
                print(r.passed ? "verified: \(adaptedDir) matches \(original)" : "verification failed")
            }
        }
        if failed { throw Exit.checkFailed }
    }
}
