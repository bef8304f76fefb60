import ArgumentParser
import SentinelScheme
import SentinelAudit
import SentinelCore
import SentinelFormats
#if canImport(Glibc)
    import Glibc
#endif

/// `sentinel audit`: the irreversibility audit of an adapted model (CLI.md).
struct Audit: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Attack an adapted model's id permutation and report how much of the vocabulary is recovered.",
        discussion: """
            Attacks (--attacks all, or a comma-separated list): \(AttackName.allCases.map(\.rawValue).joined(separator: ", ")). \
            Each reports the fraction of the hidden (hashed) vocabulary ids it recovers, top-1 and top-10 where it applies, \
            the time it took, and a verdict: FAIL when top-1 exceeds --max-recovered. ciphertext_frequency runs with \
            --ciphertext (output of sentinel encrypt), against the wordpiece frequencies of --corpus (default: the CoNLL-2003 \
            training set of the shared data). The passkey (SENTINEL_KEY or --key-file) is used only to score the attacks; \
            neither it nor the seed is ever printed. Report format: Formats/audit.md.

            Exit 0 when every attack passes, 1 when one fails.
            """
    )

    @Argument(help: "The adapted model directory.")
    var adaptedDir: String

    @Option(help: "The original model directory it was converted from.")
    var original: String

    @OptionGroup var options: AuditOptions

    @Option(help: "Attacks to run: all, or a comma-separated list of names.")
    var attacks = "all"

    @Option(help: "Encrypted text (sentinel encrypt output) for the frequency attack.")
    var ciphertext: String?

    @Option(help: "Public text or CoNLL file whose wordpiece frequencies the frequency attack expects.")
    var corpus: String?

    @Option(help: "Also write audit.json and audit.txt into this directory (atomically).")
    var report: String?

    @Flag(help: "Replace an existing --report directory written by sentinel.")
    var force = false

    @OptionGroup var key: KeyOptions
    @OptionGroup var output: ReportOptions

    func validate() throws {
        try options.validate()
        _ = try selectedAttacks()
        if corpus != nil && ciphertext == nil { throw ValidationError("--corpus is used by the frequency attack: give --ciphertext FILE too") }
    }

    func selectedAttacks() throws -> [AttackName] {
        if attacks == "all" { return AttackName.allCases }
        var out: [AttackName] = []
        for part in attacks.split(separator: ",") {
            let name = part.trimmingCharacters(in: " ")
            guard let a = AttackName(rawValue: name) else {
                throw ValidationError("unknown attack '\(name)'; known: all, \(AttackName.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            if !out.contains(a) { out.append(a) }
        }
        guard !out.isEmpty else { throw ValidationError("--attacks is empty") }
        return out
    }

    func run() throws {
        let progress = Progress(forced: output.progress)
        var failed = false
        try reportingErrors(json: output.json) {
            let passkey = try key.passkey()
            let names = try selectedAttacks()
            if names.contains(.ciphertextFrequency) && ciphertext == nil && attacks != "all" {
                throw ValidationError("ciphertext_frequency needs --ciphertext FILE")
            }
            if let report {
                try checkOutput(
                    report, inputs: [adaptedDir, original] + [ciphertext, corpus].compactMap { $0 },
                    force: force, marker: "audit.json")
            }
            let r = try options.runAudit(
                adaptedDir: adaptedDir, original: original, passkey: passkey, attacks: names,
                ciphertext: ciphertext, corpus: corpus, progress: progress.step)
            failed = !r.passed
            let json = JSONValue.object(
                [("adapted", .string(adaptedDir)), ("original", .string(original))]
                    + (r.json.objectValue ?? []))
            let text = r.textLines.joined(separator: "\n") + "\n"
            if let report {
                let dir = try AtomicDirectory(path: report, replace: force)
                try dir.write("audit.json", text: json.serialized(.pretty) + "\n")
                try dir.write("audit.txt", text: text)
                try dir.commit()
            }
            if output.json { print(json.serialized(.pretty)) } else { print(text, terminator: "") }
        }
        if failed { throw Exit.checkFailed }
    }
}

/// Options shared by `audit` and `verify --audit`.
struct AuditOptions: ParsableArguments {
    @Option(
        name: .customLong("max-recovered"), parsing: .unconditional, help: "Largest fraction of hidden ids an attack may recover (top-1) and pass.")
    var maxRecovered: Double = IrreversibilityAudit.defaultMaxRecovered

    @Option(parsing: .unconditional, help: "Cores the matchers and the brute force use.")
    var threads = 2

    func validate() throws {
        guard maxRecovered >= 0, maxRecovered <= 1 else { throw ValidationError("--max-recovered must be a fraction from 0 to 1") }
        guard threads >= 1, threads <= 256 else { throw ValidationError("--threads must be from 1 to 256") }
    }

    /// Loads both models and runs the audit; `corpus` defaults to ``FrequencyEvidence/defaultCorpus(searching:environment:)``.
    func runAudit(
        adaptedDir: String, original: String, passkey: String, attacks: [AttackName], ciphertext: String?, corpus: String?,
        progress: @escaping (String) -> Void
    ) throws -> AuditReport {
        // An audit against another model than the one converted scores nothing: refuse it as a failed check.
        let source = try SourceModelCheck.check(adapted: ModelDirectory(path: adaptedDir), original: ModelDirectory(path: original))
        guard source.passed else {
            printError(source.detail)
            throw Exit.checkFailed
        }
        progress("loading both models")
        let input: AuditInput
        do {
            input = try AuditInput.load(adapted: adaptedDir, original: original, passkey: passkey)
        } catch let e as TokenHasher.Error {
            throw ValidationError(e.description)  // a key over 64 bytes: usage, as in vocab and encrypt
        }
        var evidence: FrequencyEvidence?
        if let ciphertext, attacks.contains(.ciphertextFrequency) {
            let executable = splitDirectory(resolvedPath(CommandLine.arguments[0]))
            guard
                let corpusPath = corpus
                    ?? FrequencyEvidence.defaultCorpus(
                        searching: [".", executable], environment: getenv("SENTINEL_SHARED").map { String(cString: $0) })
            else {
                throw ValidationError("no default corpus (shared/data/conll2003/train.txt) found: give --corpus FILE")
            }
            progress("counting digests in \(ciphertext) and wordpieces in \(corpusPath)")
            evidence = try FrequencyEvidence.load(ciphertext: ciphertext, corpus: corpusPath, adapted: adaptedDir, original: original)
        }
        return IrreversibilityAudit.run(
            input, attacks: attacks, ciphertext: evidence, maxRecovered: maxRecovered,
            threads: threads, progress: progress)
    }
}

private extension Substring {
    func trimmingCharacters(in set: Character) -> String {
        String(drop { $0 == set }.reversed().drop { $0 == set }.reversed())
    }
}
