import Foundation
import SentinelCore

/// Locations of the ground truth the tests use: `../shared` beside the checkout (override with
/// `SENTINEL_SHARED`) and the real sample model (fetched into `Samples/.cache` when missing).
public enum Fixtures {
    /// The package root, found from this file's path (`Sources/SentinelTestSupport/Fixtures.swift`).
    public static let packageRoot: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()

    /// `../shared` (or `$SENTINEL_SHARED`).
    public static let shared: String = ProcessInfo.processInfo.environment["SENTINEL_SHARED"]
        ?? URL(fileURLWithPath: packageRoot).deletingLastPathComponent().appendingPathComponent("shared").path

    /// Path of `relative` inside `../shared/fixtures`.
    public static func fixture(_ relative: String) -> String { shared + "/fixtures/" + relative }

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
        DispatchQueue.global().async { errBox.data = err.fileHandleForReading.readDataToEndOfFile(); group.leave() }
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        let errData = errBox.data
        p.waitUntilExit()
        return RunResult(status: p.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
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
