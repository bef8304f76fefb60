import Foundation
import SentinelCore
import SentinelTestSupport
import XCTest

/// Issue 12, item 4: every output is built beside its destination and renamed into place in one step, so a
/// run killed at any moment leaves the old output or the complete new one (never a mix, never the input
/// touched); a full disk (here a file-size limit, `ulimit -f`) gives a clear error, exit 74 and nothing
/// partial; replacing needs `--force` (exit 64 without); leftovers of killed runs are removed by the next
/// run; two runs racing into one new output never both succeed.
final class FailureSafetyTests: XCTestCase {
    /// The small RoBERTa of the vendored fixtures: a conversion takes well under a second.
    var model: String { Fixtures.fixture("roberta/model") }

    /// sha256 of every regular file of `dir`, by name (sub-directories are listed with "dir").
    private func digests(_ dir: String) throws -> [String: String] {
        var out: [String: String] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: dir) {
            var isDir: ObjCBool = false
            FileManager.default.fileExists(atPath: dir + "/" + name, isDirectory: &isDir)
            out[name] = isDir.boolValue ? "dir" : try Fixtures.sha256(file: dir + "/" + name)
        }
        return out
    }

    private func entries(_ dir: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: dir).sorted()
    }

    /// Starts `sentinel arguments` with `--progress`, waits until a stderr line contains `marker` (or, for an
    /// empty marker, until the partial output directory exists), then kills it with SIGKILL.
    /// - Returns: whether the process was still running when the signal was sent.
    private func killed(_ arguments: [String], key: String, at marker: String, partial: String) throws -> Bool {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Fixtures.sentinelBinary)
        p.arguments = arguments + ["--progress"]
        var env = ProcessInfo.processInfo.environment
        env["SENTINEL_KEY"] = key
        p.environment = env
        let err = Pipe()
        p.standardError = err
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        let deadline = Date().addingTimeInterval(60)
        if marker.isEmpty {
            let dir = partial + String(p.processIdentifier)
            while !FileManager.default.fileExists(atPath: dir) && p.isRunning && Date() < deadline { usleep(200) }
        } else {
            var seen = ""
            let handle = err.fileHandleForReading
            while !seen.contains(marker) && Date() < deadline {
                let chunk = handle.availableData
                if chunk.isEmpty { break }  // end of stderr: the process ended
                seen += String(decoding: chunk, as: UTF8.self)
            }
        }
        let running = p.isRunning
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        try? err.fileHandleForReading.close()
        return running
    }

    func testSIGKILLAtAnyPointLeavesTheOldOutputOrTheNewOneAndTheInputUntouched() throws {
        let tmp = try Fixtures.temporaryDirectory("failure-safety")
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        let input = try digests(model)
        let out = tmp + "/out"
        // The old state and the new one differ (other key): every file is checked to be wholly one of them.
        let oldRun = try Fixtures.sentinel(
            ["convert", "--scheme", "seed", model, "--output", out, "--shuffle"], environment: ["SENTINEL_KEY": "old key"])
        XCTAssertEqual(oldRun.status, 0, oldRun.stderr)
        let old = try digests(out)
        let newRun = try Fixtures.sentinel(
            ["convert", "--scheme", "seed", model, "--output", tmp + "/new", "--shuffle"], environment: ["SENTINEL_KEY": "new key"])
        XCTAssertEqual(newRun.status, 0, newRun.stderr)
        let new = try digests(tmp + "/new")
        XCTAssertNotEqual(old["vocab.json"], new["vocab.json"])
        XCTAssertEqual(Set(old.keys), Set(new.keys))

        var states: [String] = []
        // Points: as soon as the partial directory exists, at each progress step, and at the commit.
        let points = ["", "reading", "writing", "writing vocabulary", "waiting for source digests", "committing"]
        for point in points {
            let wasRunning = try killed(
                ["convert", "--scheme", "seed", model, "--output", out, "--shuffle", "--force"], key: "new key", at: point,
                partial: tmp + "/.out.sentinel-partial.")
            let now = try digests(out)
            XCTAssertTrue(now == old || now == new, "SIGKILL at '\(point)' left a mix: \(now)")
            states.append(now == old ? "old" : "new")
            XCTAssertEqual(try digests(model), input, "the input changed (SIGKILL at '\(point)')")
            _ = wasRunning
            // Back to the old state for the next point.
            if now == new {
                let back = try Fixtures.sentinel(
                    ["convert", "--scheme", "seed", model, "--output", out, "--shuffle", "--force"], environment: ["SENTINEL_KEY": "old key"])
                XCTAssertEqual(back.status, 0, back.stderr)
            }
        }
        XCTAssertTrue(states.contains("old"), "\(states)")
        // The next run removes what the killed ones left (their PIDs are dead) and leaves only its output.
        let again = try Fixtures.sentinel(
            ["convert", "--scheme", "seed", model, "--output", out, "--shuffle", "--force"], environment: ["SENTINEL_KEY": "new key"])
        XCTAssertEqual(again.status, 0, again.stderr)
        XCTAssertEqual(try digests(out), new)
        XCTAssertEqual(try entries(tmp), ["new", "out"])
    }

    /// A PID that no process has: one of a child that has exited and been reaped.
    private func deadPID() throws -> Int32 {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/true")
        try p.run()
        p.waitUntilExit()
        return p.processIdentifier
    }

    func testStalePartialsOfDeadProcessesAreRemovedAndLiveOnesKept() throws {
        let tmp = try Fixtures.temporaryDirectory("failure-safety")
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        let dead = try deadPID()
        let fm = FileManager.default
        for name in [".out.sentinel-partial.\(dead)", ".out.sentinel-partial.\(dead).removing", ".out.sentinel-partial.\(dead).old"] {
            try fm.createDirectory(atPath: tmp + "/" + name, withIntermediateDirectories: false)
            try "half".write(toFile: tmp + "/" + name + "/model.safetensors", atomically: false, encoding: .utf8)
        }
        // A partial of a running process (this test) and names that only look alike stay.
        let live = ".out.sentinel-partial.\(getpid())"
        try fm.createDirectory(atPath: tmp + "/" + live, withIntermediateDirectories: false)
        try "x".write(toFile: tmp + "/.out.sentinel-partial.12x", atomically: false, encoding: .utf8)
        try "x".write(toFile: tmp + "/.other.sentinel-partial.\(dead)", atomically: false, encoding: .utf8)
        let r = try Fixtures.sentinel(["convert", "--scheme", "seed", model, "--output", tmp + "/out"], environment: ["SENTINEL_KEY": "k"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(try entries(tmp), [live, ".other.sentinel-partial.\(dead)", ".out.sentinel-partial.12x", "out"].sorted())
        // The same for a single-file output (export).
        try "half".write(toFile: tmp + "/.w.safetensors.sentinel-partial.\(dead)", atomically: false, encoding: .utf8)
        let e = try Fixtures.sentinel(["export", model + "/model.safetensors", "--output", tmp + "/w.safetensors", "--format", "safetensors"])
        XCTAssertEqual(e.status, 0, e.stderr)
        XCTAssertFalse(fm.fileExists(atPath: tmp + "/.w.safetensors.sentinel-partial.\(dead)"))
    }

    func testTwoConvertsIntoOneNewOutputNeverBothSucceed() throws {
        let tmp = try Fixtures.temporaryDirectory("failure-safety")
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        for key in ["first", "second"] {
            let r = try Fixtures.sentinel(
                ["convert", "--scheme", "seed", model, "--output", tmp + "/ref-" + key, "--shuffle"], environment: ["SENTINEL_KEY": key])
            XCTAssertEqual(r.status, 0, r.stderr)
        }
        let reference = ["first": try digests(tmp + "/ref-first"), "second": try digests(tmp + "/ref-second")]
        for round in 0..<3 {
            let out = tmp + "/race\(round)"
            // Both started before either can finish; their stderr goes to files (no pipe to drain).
            var running: [(key: String, process: Process, stderr: String)] = []
            for key in ["first", "second"] {
                let p = Process()
                p.executableURL = URL(fileURLWithPath: Fixtures.sentinelBinary)
                p.arguments = ["convert", "--scheme", "seed", model, "--output", out, "--shuffle"]
                var env = ProcessInfo.processInfo.environment
                env["SENTINEL_KEY"] = key
                p.environment = env
                let log = tmp + "-\(key).log"
                FileManager.default.createFile(atPath: log, contents: nil)
                p.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
                p.standardOutput = FileHandle.nullDevice
                running.append((key, p, log))
            }
            for r in running { try r.process.run() }
            var results: [String: (status: Int32, stderr: String)] = [:]
            for r in running {
                r.process.waitUntilExit()
                let stderr = (try? String(contentsOfFile: r.stderr, encoding: .utf8)) ?? ""
                try? FileManager.default.removeItem(atPath: r.stderr)
                results[r.key] = (r.process.terminationStatus, stderr)
            }
            XCTAssertEqual(results.count, 2)
            let winners = results.filter { $0.value.status == 0 }
            XCTAssertEqual(winners.count, 1, "round \(round): \(results.mapValues { "\($0.status): \($0.stderr)" })")
            for (_, r) in results where r.status != 0 {
                XCTAssertEqual(r.status, 64, r.stderr)
                XCTAssertTrue(r.stderr.contains("--force"), r.stderr)
            }
            if let winner = winners.first?.key {
                XCTAssertEqual(try digests(out), reference[winner], "round \(round): the output is not the winner's")
            }
            XCTAssertEqual(try entries(tmp).filter { $0.hasPrefix(".") }, [], "round \(round) left partials")
        }
    }

    /// Runs `sentinel arguments` under `ulimit -f blocks` (POSIX sh: 512-byte blocks).
    private func underFileSizeLimit(_ blocks: Int, _ arguments: [String], environment: [String: String?] = [:]) throws -> RunResult {
        let quoted = ([Fixtures.sentinelBinary] + arguments).map { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }
        return try Fixtures.run("/bin/sh", ["-c", "ulimit -f \(blocks) && exec " + quoted.joined(separator: " ")], environment: environment)
    }

    func testFullDiskGivesAnIOErrorAndLeavesNothingPartial() throws {
        let tmp = try Fixtures.temporaryDirectory("failure-safety")
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        // 64 blocks (32 KiB with 512-byte blocks, 64 KiB with 1 KiB ones): the 5.8 MB weights cannot be written.
        let convert = try underFileSizeLimit(
            64, ["convert", "--scheme", "seed", model, "--output", tmp + "/out", "--shuffle"], environment: ["SENTINEL_KEY": "k"])
        XCTAssertEqual(convert.status, 74, convert.stderr)
        XCTAssertTrue(convert.stderr.contains("File too large"), convert.stderr)
        XCTAssertTrue(convert.stderr.contains(tmp + "/out"), convert.stderr)
        XCTAssertEqual(try entries(tmp), [], "a failed convert left something")

        for format in ["safetensors", "pytorch"] {
            let export = try underFileSizeLimit(64, ["export", model + "/model.safetensors", "--output", tmp + "/w", "--format", format])
            XCTAssertEqual(export.status, 74, export.stderr)
            XCTAssertTrue(export.stderr.contains("File too large"), export.stderr)
            XCTAssertEqual(try entries(tmp), [], "a failed export (\(format)) left something")
            let sharded = try underFileSizeLimit(
                64, ["export", model + "/model.safetensors", "--output", tmp + "/shards", "--format", format, "--max-shard-size", "1MB"])
            XCTAssertEqual(sharded.status, 74, sharded.stderr)
            XCTAssertEqual(try entries(tmp), [], "a failed sharded export (\(format)) left something")
        }

        // An old output survives a failed --force replacement whole.
        let ok = try Fixtures.sentinel(["convert", "--scheme", "seed", model, "--output", tmp + "/out"], environment: ["SENTINEL_KEY": "k"])
        XCTAssertEqual(ok.status, 0, ok.stderr)
        let before = try digests(tmp + "/out")
        let failed = try underFileSizeLimit(
            64, ["convert", "--scheme", "seed", model, "--output", tmp + "/out", "--shuffle", "--force"], environment: ["SENTINEL_KEY": "k"])
        XCTAssertEqual(failed.status, 74, failed.stderr)
        XCTAssertEqual(try digests(tmp + "/out"), before)
        XCTAssertEqual(try entries(tmp), ["out"])

        // encrypt: a large input whose digests do not fit.
        let text = String(repeating: "the quick brown fox jumps over the lazy dog\n", count: 2000)
        try text.write(toFile: tmp + "/in.txt", atomically: false, encoding: .utf8)
        let encrypt = try underFileSizeLimit(
            64, ["encrypt", model, "--input", tmp + "/in.txt", "--output", tmp + "/enc.txt"], environment: ["SENTINEL_KEY": "k"])
        XCTAssertEqual(encrypt.status, 74, encrypt.stderr)
        XCTAssertEqual(try entries(tmp), ["in.txt", "out"])
    }

    func testReplacingAnOutputNeedsForceAndIsAUsageError() throws {
        let tmp = try Fixtures.temporaryDirectory("failure-safety")
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        try FileManager.default.createDirectory(atPath: tmp + "/out", withIntermediateDirectories: false)
        try "keep".write(toFile: tmp + "/w.safetensors", atomically: false, encoding: .utf8)
        try "keep".write(toFile: tmp + "/enc.txt", atomically: false, encoding: .utf8)
        try "hello world\n".write(toFile: tmp + "/in.txt", atomically: false, encoding: .utf8)
        let env: [String: String?] = ["SENTINEL_KEY": "k"]
        let cases: [[String]] = [
            ["convert", "--scheme", "seed", model, "--output", tmp + "/out"],
            ["export", model + "/model.safetensors", "--output", tmp + "/w.safetensors", "--format", "safetensors"],
            ["export", model + "/model.safetensors", "--output", tmp + "/out", "--format", "safetensors", "--max-shard-size", "1MB"],
            ["encrypt", model, "--input", tmp + "/in.txt", "--output", tmp + "/enc.txt"],
        ]
        for arguments in cases {
            let r = try Fixtures.sentinel(arguments, environment: env)
            XCTAssertEqual(r.status, 64, "\(arguments): \(r.stderr)")
            XCTAssertTrue(r.stderr.contains("exists: use --force to replace it"), r.stderr)
            let json = try Fixtures.sentinel(arguments + ["--json"], environment: env)
            XCTAssertEqual(json.status, 64, json.stderr)
            XCTAssertEqual(try JSONValue.parse(json.stdout)["error"]?["code"]?.stringValue, "output_exists", json.stdout)
        }
        XCTAssertEqual(try String(contentsOfFile: tmp + "/w.safetensors", encoding: .utf8), "keep")
        XCTAssertEqual(try String(contentsOfFile: tmp + "/enc.txt", encoding: .utf8), "keep")
        XCTAssertEqual(try entries(tmp + "/out"), [])
        for arguments in cases {
            let r = try Fixtures.sentinel(arguments + ["--force"], environment: env)
            XCTAssertEqual(r.status, 0, "\(arguments): \(r.stderr)")
        }
        XCTAssertEqual(try entries(tmp), ["enc.txt", "in.txt", "out", "w.safetensors"])
    }
}
