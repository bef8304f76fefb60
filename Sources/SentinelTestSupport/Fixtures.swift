import Foundation
import SentinelCore

/// Locations of the ground truth the tests use: the copy of `../shared` vendored into the repository
/// (`Tests/Fixtures`, `Samples/data`; see ``VendoredFixtures``), unpacked into `Samples/.cache/shared`, and the
/// real sample model (fetched into `Samples/.cache` when missing). `../shared` itself (``upstream``) is read
/// only by the test that compares the vendored copy with it.
public enum Fixtures {
    /// The package root, found from this file's path (`Sources/SentinelTestSupport/Fixtures.swift`).
    public static let packageRoot: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()

    /// The vendored copy of `../shared` (`fixtures/…` and `data/…`, the files `Tests/Fixtures/MANIFEST` lists),
    /// unpacked and sha256-checked by `Samples/unpack-fixtures.sh` into `Samples/.cache/shared` on first use.
    /// When unpacking fails, ``unpackError`` says why (and every fixture read fails).
    public static let shared: String = {
        let dest = packageRoot + "/Samples/.cache/shared"
        do {
            let r = try run("/bin/bash", [packageRoot + "/Samples/unpack-fixtures.sh", dest])
            if r.status != 0 { unpackFailure.set("Samples/unpack-fixtures.sh failed (status \(r.status)): \(r.stderr)") }
        } catch {
            unpackFailure.set("Samples/unpack-fixtures.sh could not run: \(error)")
        }
        if let e = unpackFailure.value { FileHandle.standardError.write(Data(("error: " + e + "\n").utf8)) }
        return dest
    }()

    /// Why the vendored fixtures could not be unpacked, or nil (forces ``shared``).
    public static var unpackError: String? {
        _ = shared
        return unpackFailure.value
    }

    private static let unpackFailure = LockedMessage()
    private final class LockedMessage: @unchecked Sendable {
        private let lock = NSLock()
        private var stored: String?
        var value: String? {
            lock.lock()
            defer { lock.unlock() }
            return stored
        }
        func set(_ s: String) {
            lock.lock()
            stored = s
            lock.unlock()
        }
    }

    /// The source of truth, `../shared` beside the checkout (or `$SENTINEL_SHARED`), when it is present
    /// (has a `fixtures/` folder); nil on a bare clone. Only the vendored-copy comparison reads it.
    public static let upstream: String? = {
        let path =
            ProcessInfo.processInfo.environment["SENTINEL_SHARED"]
            ?? URL(fileURLWithPath: packageRoot).deletingLastPathComponent().appendingPathComponent("shared").path
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path + "/fixtures", isDirectory: &isDirectory) && isDirectory.boolValue ? path : nil
    }()

    /// Path of `relative` inside the vendored `fixtures/` (e.g. `bert/f01_forward.safetensors`).
    public static func fixture(_ relative: String) -> String { shared + "/fixtures/" + relative }

    /// Path of `relative` inside the vendored `data/` (e.g. `conll2003/train.txt`).
    public static func data(_ relative: String) -> String { shared + "/data/" + relative }

    /// A JSON fixture, parsed with Sentinel's own JSON reader (exact 64-bit integers).
    public static func json(_ relative: String) throws -> JSONValue {
        try JSONValue.read(file: fixture(relative))
    }

    /// The real all-MiniLM-L6-v2 model directory, fetched by `Samples/fetch-minilm.sh` when missing.
    public static func miniLM() throws -> String {
        let cached = packageRoot + "/Samples/.cache/all-MiniLM-L6-v2"
        if FileManager.default.fileExists(atPath: cached + "/.complete") { return cached }
        let r = try run("/bin/bash", [packageRoot + "/Samples/fetch-minilm.sh"])
        guard r.status == 0 else { throw FixtureError("fetch-minilm.sh failed: \(r.stderr)") }
        return r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The `sentinel` executable built beside the test bundle.
    public static var sentinelBinary: String {
        let bundle = URL(fileURLWithPath: CommandLine.arguments[0])
        var dir = bundle.deletingLastPathComponent()
        if dir.lastPathComponent == "MacOS" { dir = dir.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent() }
        return dir.appendingPathComponent("sentinel").path
    }

    /// Runs `sentinel` with `arguments`; `environment` entries are added to (or, with `nil` values,
    /// removed from) the current environment.
    public static func sentinel(_ arguments: [String], environment: [String: String?] = [:], stdin: Data? = nil) throws -> RunResult {
        try run(sentinelBinary, arguments, environment: environment, stdin: stdin)
    }

    /// Runs a program to completion and captures its output.
    public static func run(_ program: String, _ arguments: [String], environment: [String: String?] = [:], stdin: Data? = nil) throws -> RunResult {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: program)
        p.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        for (k, v) in environment { env[k] = v }
        p.environment = env
        let out = Pipe(), err = Pipe(), input = Pipe()
        p.standardOutput = out
        p.standardError = err
        p.standardInput = input
        try p.run()
        if let stdin { input.fileHandleForWriting.write(stdin) }
        try input.fileHandleForWriting.close()
        // Read both pipes concurrently so a chatty child never blocks.
        final class Box: @unchecked Sendable { var data = Data() }
        let errBox = Box()
        let group = DispatchGroup()
        group.enter()
        DispatchQueue.global().async {
            errBox.data = err.fileHandleForReading.readDataToEndOfFile()
            group.leave()
        }
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        let errData = errBox.data
        p.waitUntilExit()
        return RunResult(
            status: p.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
            stderr: String(decoding: errData, as: UTF8.self))
    }

    /// A fresh temporary directory, removed by the caller (or left in /tmp).
    public static func temporaryDirectory(_ label: String = "sentinel-test") throws -> String {
        let path = NSTemporaryDirectory() + label + "-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// SHA-256 of a file's bytes, lowercase hex.
    public static func sha256(file path: String) throws -> String {
        try SHA256Stream.hex(file: path).0
    }
}

/// Output of a finished process.
public struct RunResult: Sendable {
    public var status: Int32
    public var stdout: String
    public var stderr: String
}

public struct FixtureError: Error, CustomStringConvertible {
    public var description: String
    public init(_ d: String) { description = d }
}
