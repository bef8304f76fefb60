import ArgumentParser
import SentinelCore
#if canImport(Glibc)
    import Glibc
#endif

/// The `sentinel` command: adapt BERT checkpoints for encrypted input, inspect and convert weights,
/// encrypt text, run the adapted encoder. Contract: `../shared/docs/CLI.md`.
struct SentinelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sentinel",
        abstract: "Adapt HuggingFace BERT models to encrypted input (SentinelLMs) and run them on a CPU.",
        discussion: """
            The passkey is read from SENTINEL_KEY or --key-file (--key on the command line only with a warning: others \
            can see it; precedence --key, --key-file, SENTINEL_KEY) and is never printed.
            Exit codes: 0 success, 1 check failed, 64 usage error (including an output that exists without --force), \
            65 bad or unsafe input file, 74 I/O error (a full disk, a file over ulimit -f).
            """,
        version: sentinelVersion,
        subcommands: [
            // Each subcommand registers itself here, one line each.
            Convert.self,
            Inspect.self,
            Export.self,
            Encrypt.self,
            Vocab.self,
            BenchTokenize.self,
            BenchSentencePiece.self,
            Bench.self,
            Embed.self,
            Verify.self,
            Audit.self,
            Predict.self,
            BenchKDF.self,
            Finetune.self,
            Evaluate.self,
        ]
    )
}

// A closed pipe must not kill a conversion half way: writes to it fail with EPIPE instead.
signal(SIGPIPE, SIG_IGN)
// Over `ulimit -f` a write must fail with EFBIG (reported, exit 74, partial output removed), not kill the process.
signal(SIGXFSZ, SIG_IGN)
PartialOutputs.installSignalHandlers()
// Like ParsableCommand.main(), but with --json a usage error found while parsing is also reported as one
// JSON document on stdout (errors found while running are printed by reportingErrors).
do {
    var command = try SentinelCommand.parseAsRoot()
    try command.run()
} catch {
    if CommandLine.arguments.contains("--json"), !(error is ExitCode), SentinelCommand.exitCode(for: error) != .success {
        let message = SentinelCommand.message(for: error)
        print(JSONValue.object([("error", .object([("code", .string("usage")), ("message", .string(message))]))]).serialized(.pretty))
    }
    SentinelCommand.exit(withError: error)
}
