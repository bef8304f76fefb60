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

            For scheme hardened (read from sentinel.json) the keys are derived with Argon2id as convert did: the \
            permutation and digests are checked for this key, and every embedding row is recomputed exactly (noise and \
            re-initialised rows included). Forward parity is required only when the transform is function-preserving \
            (scale 1, dim-scale 1, noise-std 0, reinit-fraction 0); otherwise the differences are reported, not checked.

            With --audit, the irreversibility audit (sentinel audit, embedding attacks) runs after the checks and fails \
            when an attack recovers more than --max-recovered of the hidden ids.

            Exit 0 when every check passes, 1 when one fails (the report says which and why).
            """
    )

    @Argument(help: "The adapted model directory.")
    var adaptedDir: String

    @Option(help: "The original model directory it was converted from.")
    var original: String

    @Option(help: "Text file with one sentence per line, or - for standard input (default: built-in English sentences).")
    var sentences: String?

    @Option(parsing: .unconditional, help: "Largest accepted max |Δ| of last_hidden_state and pooler_output (float32).")
    var tolerance: Float = 1e-4

    @Flag(help: "Also run the irreversibility audit and fail when an attack recovers more than --max-recovered.")
    var audit = false

    @OptionGroup var auditOptions: AuditOptions

    @OptionGroup var key: KeyOptions
    @OptionGroup var report: ReportOptions

    func validate() throws {
        guard tolerance >= 0, tolerance.isFinite else { throw ValidationError("--tolerance must be a non-negative number") }
        try auditOptions.validate()
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
            let r = try AdaptedModelVerifier.verify(
                adapted: adaptedDir, original: original, passkey: passkey, sentences: texts,
                tolerance: tolerance, progress: progress.step)
            // The audit scores its attacks with the key's mapping: only when the vocabulary check found it.
            let vocabularyOK = r.checks.first { $0.name == "vocabulary" }?.passed == true
            let audited =
                audit && vocabularyOK
                ? try auditOptions.runAudit(
                    adaptedDir: adaptedDir, original: original, passkey: passkey,
                    attacks: AttackName.embeddingAttacks, ciphertext: nil, corpus: nil,
                    progress: progress.step) : nil
            let passed = r.passed && audited?.passed != false
            failed = !passed
            if report.json {
                print(
                    JSONValue.object(
                        [
                            ("adapted", .string(adaptedDir)), ("original", .string(original)), ("passed", .bool(passed)),
                            ("checks", .array(r.checks.map(\.json))),
                        ] + (audit ? [("audit", audited?.json ?? .null)] : [])
                    ).serialized(.pretty))
            } else {
                for c in r.checks { print("\(c.passed ? "PASS" : "FAIL")  \(c.name): \(c.detail)") }
                print(r.passed ? "verified: \(adaptedDir) matches \(original)" : "verification failed")
                if let audited { audited.textLines.forEach { print($0) } }
                if audit && audited == nil { print("audit not run: the vocabulary check failed, so the key's mapping is unknown") }
            }
        }
        if failed { throw Exit.checkFailed }
    }
}
