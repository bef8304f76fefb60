import ArgumentParser
import SentinelScheme
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
    } catch let e as ValidationError {
        // Found while running (no key, output over input, …): the message alone, exit 64 like a parse error.
        printError(e.message)
        if json {
            print(JSONValue.object([("error", .object([("code", .string("usage")), ("message", .string(e.message))]))]).serialized(.pretty))
        }
        throw ExitCode.validationFailure
    } catch let e as OutputExistsError {
        // An output that exists without --force (or appeared meanwhile): a usage error, exit 64.
        printError(e.description)
        if json {
            print(
                JSONValue.object([
                    ("error", .object([("code", .string("output_exists")), ("file", .string(e.path)), ("message", .string(e.description))]))
                ]).serialized(.pretty))
        }
        throw ExitCode.validationFailure
    } catch let e as UnknownTokenError {
        // Mostly-[UNK] input: a failed check (exit 1), not a bad file.
        let message = e.description + "; pass --allow-unknown to run anyway"
        printError(message)
        if json {
            print(
                JSONValue.object([
                    (
                        "error",
                        .object([
                            ("code", .string("mostly_unknown")), ("file", .string(e.file)),
                            ("unknown_tokens", .int(Int64(e.unknown))), ("tokens", .int(Int64(e.tokens))),
                            ("unknown_fraction", .double(e.fraction, text: nil)),
                            ("message", .string(message)),
                        ])
                    )
                ]).serialized(.pretty))
        }
        throw Exit.checkFailed
    } catch let e as OutputError where e.errno == EPIPE && e.path == standardOutputName {
        // The reader of stdout went away (`sentinel vocab … --all | head -1`): stop quietly, as `cat` would.
        throw ExitCode.success
    } catch let e as OutputError {
        printError(e.description)
        if json {
            print(
                JSONValue.object([
                    (
                        "error",
                        .object([
                            ("code", .string("io")), ("file", .string(e.path)),
                            ("message", .string(e.description)),
                        ])
                    )
                ]).serialized(.pretty))
        }
        throw Exit.ioError
    }
}

/// Writes `message` to stderr with an `Error:` prefix (as swift-argument-parser does for usage errors).
func printError(_ message: String) {
    FileHandleStderr.write("Error: " + message + "\n")
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
///
/// Sources, in this order of precedence (README "The passkey"): `--key` (accepted with a warning: the
/// command line is visible to other users), `--key-file`, then `SENTINEL_KEY`. When more than one is given,
/// a note on stderr says which one is used and which are ignored. A key file that the group or others may
/// read or write (mode wider than 0600) gets a warning. The key itself is never printed.
struct KeyOptions: ParsableArguments {
    @Option(
        name: .customLong("key-file"),
        help: ArgumentHelp(
            "Read the passkey from the first line of this file (trailing newline stripped; mode 0600 recommended).",
            discussion:
                "Without it the passkey comes from the SENTINEL_KEY environment variable. Precedence: --key, --key-file, SENTINEL_KEY; it is never printed.",
            valueName: "path"))
    var keyFile: String?

    @Option(
        name: .customLong("key"),
        help: ArgumentHelp(
            "The passkey itself (discouraged: other users see command lines; prefer SENTINEL_KEY or --key-file).",
            valueName: "passkey"))
    var keyArgument: String?

    /// Whether a passkey was given: `--key`, `--key-file`, or `SENTINEL_KEY` set (even empty, which
    /// ``passkey()`` then refuses, rather than a command silently running without the key).
    var isGiven: Bool { keyArgument != nil || keyFile != nil || getenv("SENTINEL_KEY") != nil }

    /// The sources given, in precedence order.
    var givenSources: [String] {
        (keyArgument != nil ? ["--key"] : []) + (keyFile != nil ? ["--key-file"] : []) + (getenv("SENTINEL_KEY") != nil ? ["SENTINEL_KEY"] : [])
    }

    /// The passkey from `--key`, `--key-file` or `SENTINEL_KEY` (that precedence), with the warnings above on
    /// stderr.
    /// - Throws: `ValidationError` (exit 64) when none gives one; ``OutputError`` when the file can't be read.
    func passkey() throws -> String {
        let sources = givenSources
        if sources.count > 1 {
            FileHandleStderr.write(
                "note: the passkey is taken from \(sources[0]); \(sources.dropFirst().joined(separator: " and ")) "
                    + (sources.count > 2 ? "are" : "is") + " also given and ignored\n")
        }
        if let keyArgument {
            FileHandleStderr.write(
                "warning: a passkey given with --key is visible to other users of this machine (ps, /proc/PID/cmdline) "
                    + "and stays in the shell history: prefer SENTINEL_KEY or --key-file\n")
            guard !keyArgument.isEmpty else { throw ValidationError("--key is empty: give a passkey") }
            return keyArgument
        }
        if let keyFile {
            warnAboutPermissions(of: keyFile)
            let bytes = try FileIO.readSmallFile(keyFile, limit: 64 * 1024, firstLineOnly: true)
            var line = bytes.prefix { $0 != 0x0A }
            if line.last == 0x0D { line = line.dropLast() }
            guard !line.isEmpty else { throw ValidationError("the key file \(keyFile) has an empty first line") }
            guard let text = String(validating: line, as: UTF8.self) else {
                throw ValidationError("the key file \(keyFile) is not valid UTF-8 text")
            }
            return text
        }
        if let env = getenv("SENTINEL_KEY") {
            let bytes = UnsafeRawBufferPointer(start: env, count: strlen(env))
            guard !bytes.isEmpty else { throw ValidationError("SENTINEL_KEY is set but empty: set a passkey or pass --key-file PATH") }
            guard let text = String(validating: bytes, as: UTF8.self) else {
                throw ValidationError("SENTINEL_KEY is not valid UTF-8 text")
            }
            return text
        }
        throw ValidationError("no passkey: set SENTINEL_KEY or pass --key-file PATH")
    }

    /// Warns on stderr when the regular file `path` may be read or written by its group or others (mode & 077).
    private func warnAboutPermissions(of path: String) {
        var st = stat()
        guard stat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG, st.st_mode & 0o077 != 0 else { return }
        let mode = String(st.st_mode & 0o777, radix: 8)
        FileHandleStderr.write(
            "warning: the key file \(path) has mode 0\(mode): other users may read it; run chmod 600 \(path)\n")
    }
}

/// The name under which standard output appears in ``OutputError``s.
let standardOutputName = OutputFile.standardOutputName

/// Refuses to replace an existing `output` without `--force`. Standard output (`-`) and an existing character
/// device (`/dev/null`) are written in place, never replaced, so they need no `--force`.
/// - Throws: ``OutputExistsError`` (a usage error, exit 64, as every conflict between the arguments and what
///   exists: README "Exit codes").
///   A FIFO, socket or symbolic link is never replaced, even with `--force`: ``OutputError`` (exit 74).
func refuseExistingOutput(_ output: String, force: Bool) throws {
    var st = stat()
    guard !OutputFile.isStream(output), lstat(output, &st) == 0 else { return }
    let type = st.st_mode & S_IFMT
    if type != S_IFREG && type != S_IFDIR {
        throw OutputError(path: output, operation: "replace (it exists and is not a regular file)", errno: EEXIST)
    }
    guard !force else { return }
    throw OutputExistsError(path: output)
}

/// Options shared by commands that turn text into ids (`embed`, `predict`, `encrypt`): how much `[UNK]` is
/// accepted before the command stops (``UnknownTokenCheck``).
struct UnknownTokenOptions: ParsableArguments {
    @Option(
        parsing: .unconditional,
        help: ArgumentHelp(
            "Largest accepted fraction of [UNK] among the tokens of the input (0 to 1).",
            discussion:
                "Above it the command stops with exit 1, naming the fraction and the likely cause (a wrong key, plain text to an adapted model, --encrypted to a plain model, encrypt given the adapted directory).",
            valueName: "fraction"))
    var maxUnknown = UnknownTokenCheck.defaultMaxFraction

    @Flag(help: "Run even when the input is mostly [UNK] (a warning is printed instead).")
    var allowUnknown = false

    func validate() throws {
        guard maxUnknown.isFinite, (0...1).contains(maxUnknown) else { throw ValidationError("--max-unknown must be a fraction from 0 to 1") }
    }

    /// Throws ``UnknownTokenError`` (exit 1) when `check` counted more unknown tokens than accepted; with
    /// `--allow-unknown` prints the same finding as a warning on stderr and returns.
    func enforce(_ check: UnknownTokenCheck) throws {
        guard let failure = check.failure(maxFraction: maxUnknown) else { return }
        if allowUnknown {
            FileHandleStderr.write("Warning: " + failure.description + "\n")
            return
        }
        throw failure
    }
}

/// Paths of the source checkout the executable was built from, for the defaults of the benchmark commands
/// (so that `sentinel bench encoder` finds `Samples/.cache/all-MiniLM-L6-v2` from any current directory).
enum PackageLocation {
    /// The package root: the first directory above the executable (`.build/<triple>/<config>/sentinel`) that
    /// holds `Package.swift` and `Sources/sentinel`; else the checkout this file was compiled in; else `.`.
    static let root: String = {
        func isPackage(_ dir: String) -> Bool {
            isRegularFile(dir + "/Package.swift") && isDirectory(dir + "/Sources/sentinel")
        }
        if let exe = realpath("/proc/self/exe", nil) {
            var dir = String(cString: exe)
            free(exe)
            while let slash = dir.lastIndex(of: "/"), slash != dir.startIndex {
                dir = String(dir[..<slash])
                if isPackage(dir) { return dir }
            }
        }
        var source = #filePath
        for _ in 0..<3 { if let slash = source.lastIndex(of: "/") { source = String(source[..<slash]) } }
        return isPackage(source) ? source : "."
    }()

    /// `relative` inside the package root.
    static func path(_ relative: String) -> String { root + "/" + relative }

    /// `relative` inside the ground truth: `$SENTINEL_SHARED`, else the vendored copy unpacked in the package
    /// (`Samples/.cache/shared`, by `Samples/unpack-fixtures.sh`).
    static func shared(_ relative: String) -> String {
        if let env = getenv("SENTINEL_SHARED"), env.pointee != 0 { return String(cString: env) + "/" + relative }
        return root + "/Samples/.cache/shared/" + relative
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
    guard x.isFinite, abs(x) < 1e12 else { return "\(x)" }
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let v = (abs(x) * scale).rounded()
    var s = String(Int64(v))
    while s.count <= digits { s = "0" + s }
    if digits > 0 { s.insert(".", at: s.index(s.endIndex, offsetBy: -digits)) }
    return (x < 0 && v != 0 ? "-" : "") + s
}

/// Parses a size: `5GB` (10^9), `2GiB` (2^30), `500MB`, `100KB`, or a byte count. `nil` if it is not one.
func parseByteSize(_ s: String) -> Int? {
    let units: [(String, Int)] = [
        ("KIB", 1 << 10), ("MIB", 1 << 20), ("GIB", 1 << 30), ("TIB", 1 << 40),
        ("KB", 1_000), ("MB", 1_000_000), ("GB", 1_000_000_000), ("TB", 1_000_000_000_000), ("B", 1),
    ]
    let u = s.uppercased().filter { $0 != " " }
    for (suffix, factor) in units where u.hasSuffix(suffix) {
        guard let v = Double(u.dropLast(suffix.count)), v.isFinite, v > 0 else { return nil }
        let bytes = (v * Double(factor)).rounded(.down)
        guard bytes >= 1, bytes < 9e18 else { return nil }
        return Int(bytes)
    }
    guard let v = Int(u), v > 0 else { return nil }
    return v
}

/// `path` with symlinks resolved and made absolute, also when its last components do not exist yet.
func resolvedPath(_ path: String) -> String {
    var head = path.isEmpty ? "." : path
    var tail: [String] = []
    while true {
        if let r = realpath(head, nil) {
            defer { free(r) }
            return ([String(cString: r)] + tail.reversed()).joined(separator: "/").replacingSlashes()
        }
        guard let slash = head.lastIndex(of: "/") else {
            tail.append(head)
            head = "."
            continue
        }
        tail.append(String(head[head.index(after: slash)...]))
        head = slash == head.startIndex ? "/" : String(head[..<slash])
    }
}

private extension String {
    func replacingSlashes() -> String {
        var out = ""
        for c in self where !(c == "/" && out.hasSuffix("/")) { out.append(c) }
        return out
    }
}

/// Refuses an output that would overwrite or sit inside an input (or contain it), and, with `force`, an existing
/// output that is not one Sentinel wrote (`marker` names the file a Sentinel output always has).
/// - Throws: `ValidationError` (exit 64).
func checkOutput(_ output: String, inputs: [String], force: Bool, marker: String?) throws {
    if OutputFile.isStream(output) { return }  // standard output, /dev/null: written in place, never replaced
    let out = resolvedPath(output)
    for input in inputs {
        let inp = resolvedPath(input)
        if out == inp || out.hasPrefix(inp + "/") || inp.hasPrefix(out + "/") {
            throw ValidationError("the output \(output) would overwrite or contain the input \(input): choose another path")
        }
    }
    var st = stat()
    guard force, lstat(output, &st) == 0 else { return }
    if let marker, !marker.isEmpty, (st.st_mode & S_IFMT) == S_IFDIR, access(output + "/" + marker, F_OK) != 0 {
        if !((try? directoryEntries(output)) ?? []).isEmpty {
            throw ValidationError("refusing to replace \(output): it is not empty and has no \(marker), so it was not written by sentinel")
        }
    } else if marker != nil, (st.st_mode & S_IFMT) == S_IFREG {
        throw ValidationError("refusing to replace the file \(output) with a directory")
    }
}

/// The directory part of `path` (`.` when it has none).
func splitDirectory(_ path: String) -> String {
    guard let slash = path.lastIndex(of: "/") else { return "." }
    return slash == path.startIndex ? "/" : String(path[..<slash])
}
