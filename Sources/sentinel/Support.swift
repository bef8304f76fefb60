import ArgumentParser
import SentinelAdapt
import SentinelCore
#if canImport(Glibc)
import Glibc
#endif

/// Exit codes of the CLI contract (`../shared/docs/CLI.md`), sysexits values.
enum Exit {
    /// The check or verification failed (verify, audit).
    static let checkFailed = ExitCode(1)
    /// Bad or unsafe input file (`EX_DATAERR`).
    static let badInput = ExitCode(65)
    /// I/O error (`EX_IOERR`).
    static let ioError = ExitCode(74)
}

/// Runs a command body and turns Sentinel's typed errors into a message on stderr and the contract's exit
/// code. With `json`, the error is also printed on stdout as `{"error": {...}}`.
func reportingErrors(json: Bool = false, _ body: () throws -> Void) throws {
    do {
        try body()
    } catch let e as InputError {
        printError(e.description)
        if json {
            var fields: [(String, JSONValue)] = [("code", .string(e.code.rawValue)), ("file", .string(e.file))]
            if let k = e.key { fields.append(("key", .string(k))) }
            if let o = e.offset { fields.append(("offset", .int(Int64(o)))) }
            fields.append(("message", .string(e.message)))
            print(JSONValue.object([("error", .object(fields))]).serialized(.pretty))
        }
        throw Exit.badInput
    } catch let e as OutputError {
        printError(e.description)
        if json {
            print(JSONValue.object([("error", .object([("code", .string("io")), ("file", .string(e.path)),
                                                        ("message", .string(e.description))]))]).serialized(.pretty))
        }
        throw Exit.ioError
    }
}

/// Writes `message` to stderr with an `error:` prefix.
func printError(_ message: String) {
    FileHandleStderr.write("error: " + message + "\n")
}

enum FileHandleStderr {
    static func write(_ s: String) {
        var copy = s
        copy.withUTF8 { _ = Glibc.write(2, $0.baseAddress, $0.count) }
    }
}

/// Progress lines on stderr: shown when stderr is a terminal, or always with `--progress`.
struct Progress {
    let enabled: Bool
    let start = monotonicSeconds()

    init(forced: Bool) {
        enabled = forced || isatty(2) != 0
    }

    /// Prints `text` with the seconds elapsed since the command started.
    func step(_ text: String) {
        if enabled { FileHandleStderr.write("[sentinel \(fixed(monotonicSeconds() - start, 3)) s] " + text + "\n") }
    }
}

/// Options shared by commands that need the passkey.
struct KeyOptions: ParsableArguments {
    @Option(name: .customLong("key-file"), help: ArgumentHelp(
        "Read the passkey from the first line of this file (trailing newline stripped).",
        discussion: "Without it the passkey comes from the SENTINEL_KEY environment variable. It is never printed.",
        valueName: "path"))
    var keyFile: String?

    /// The passkey from `--key-file` or `SENTINEL_KEY`.
    /// - Throws: `ValidationError` (exit 64) when neither gives one; ``OutputError`` when the file can't be read.
    func passkey() throws -> String {
        if let keyFile {
            let f = try MappedFile(path: keyFile)
            var text = String(decoding: f.bytes, as: UTF8.self)
            if let nl = text.firstIndex(where: { $0 == "\n" || $0 == "\r\n" }) { text = String(text[..<nl]) }
            if text.hasSuffix("\r") { text.removeLast() }
            guard !text.isEmpty else { throw ValidationError("the key file \(keyFile) has an empty first line") }
            return text
        }
        if let env = getenv("SENTINEL_KEY") {
            let s = String(cString: env)
            if !s.isEmpty { return s }
        }
        throw ValidationError("no passkey: set SENTINEL_KEY or pass --key-file PATH")
    }
}

/// Options shared by commands that print a report.
struct ReportOptions: ParsableArguments {
    @Flag(help: "Print one JSON document on stdout instead of text.")
    var json = false

    @Flag(help: "Show progress on stderr even when it is not a terminal.")
    var progress = false
}

/// `x` with `digits` decimals (no Foundation).
func fixed(_ x: Double, _ digits: Int) -> String {
    guard x.isFinite else { return "\(x)" }
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let v = (abs(x) * scale).rounded()
    var s = String(Int64(v))
    while s.count <= digits { s = "0" + s }
    if digits > 0 { s.insert(".", at: s.index(s.endIndex, offsetBy: -digits)) }
    return (x < 0 && v != 0 ? "-" : "") + s
}
