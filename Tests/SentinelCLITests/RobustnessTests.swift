import Foundation
import SentinelCore
import SentinelTestSupport
import XCTest

/// Findings of the second QA round, kept fixed: outputs never replace device nodes or FIFOs, a hostile
/// sentinel.json is refused, long sentences verify, a key read from stdin leaves the input alone.
final class RobustnessTests: XCTestCase {
    let env: [String: String?] = ["SENTINEL_KEY": "llm123"]

    func testOutputsNeverReplaceNonRegularFiles() throws {
        let model = try Fixtures.miniLM()
        let tmp = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        XCTAssertEqual(mkfifo(tmp + "/fifo", 0o600), 0)
        try "hello world\n".write(toFile: tmp + "/in.txt", atomically: true, encoding: .utf8)
        let e = try Fixtures.sentinel(["embed", model, "--input", tmp + "/in.txt", "--output", tmp + "/fifo", "--force"])
        XCTAssertEqual(e.status, 74, e.stderr)
        let x = try Fixtures.sentinel(["encrypt", model, "--input", tmp + "/in.txt", "--output", tmp + "/fifo"], environment: env)
        XCTAssertEqual(x.status, 74, x.stderr)
        var st = stat()
        XCTAssertEqual(lstat(tmp + "/fifo", &st), 0)
        XCTAssertEqual(st.st_mode & S_IFMT, S_IFIFO, "the FIFO is still a FIFO")
        // An existing regular file is replaced only with --force.
        try "precious\n".write(toFile: tmp + "/out.txt", atomically: true, encoding: .utf8)
        let kept = try Fixtures.sentinel(["encrypt", model, "--input", tmp + "/in.txt", "--output", tmp + "/out.txt"], environment: env)
        XCTAssertEqual(kept.status, 64, kept.stderr)  // an output that exists without --force is a usage error
        XCTAssertEqual(try String(contentsOfFile: tmp + "/out.txt", encoding: .utf8), "precious\n")
        let replaced = try Fixtures.sentinel(
            ["encrypt", model, "--input", tmp + "/in.txt", "--output", tmp + "/out.txt", "--force"], environment: env)
        XCTAssertEqual(replaced.status, 0, replaced.stderr)
        XCTAssertEqual(try String(contentsOfFile: tmp + "/out.txt", encoding: .utf8).split(separator: " ").count, 2)
        // A FIFO as input is read as a stream.
        let reader = try Fixtures.sentinel(["encrypt", model, "--input", "/dev/stdin"], environment: env, stdin: Data("hello world\n".utf8))
        XCTAssertEqual(reader.status, 0, reader.stderr)
        XCTAssertEqual(reader.stdout.split(separator: " ").count, 2)
    }

    func testKeyFromStdinLeavesTheInputOnStdin() throws {
        let model = try Fixtures.miniLM()
        let both = try Fixtures.sentinel(
            ["encrypt", model, "--key-file", "/dev/stdin", "--input", "-"],
            environment: ["SENTINEL_KEY": nil], stdin: Data("llm123\nhello world\n".utf8))
        let plain = try Fixtures.sentinel(["encrypt", model, "--input", "-"], environment: env, stdin: Data("hello world\n".utf8))
        XCTAssertEqual(both.status, 0, both.stderr)
        XCTAssertEqual(both.stdout, plain.stdout)
        XCTAssertEqual(both.stdout.split(separator: " ").count, 2)
    }

    func testVerifyRefusesAHostileManifestAndHandlesLongSentences() throws {
        let model = try Fixtures.miniLM()
        let tmp = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        let c = try Fixtures.sentinel(["convert", "--scheme", "seed", model, "--output", tmp + "/ad", "--shuffle"], environment: env)
        XCTAssertEqual(c.status, 0, c.stderr)
        // A sentence of 600 words (over max_position_embeddings) is cut the same way on both sides.
        try (String(repeating: "word ", count: 600) + "\nA short one.\n").write(toFile: tmp + "/long.txt", atomically: true, encoding: .utf8)
        let long = try Fixtures.sentinel(["verify", tmp + "/ad", "--original", model, "--sentences", tmp + "/long.txt", "--json"], environment: env)
        XCTAssertEqual(long.status, 0, long.stderr + long.stdout)
        // Upper-case digests are the same digests.
        let enc = try Fixtures.sentinel(["encrypt", model, "--input", tmp + "/long.txt"], environment: env)
        let lower = try Fixtures.sentinel(["embed", tmp + "/ad", "--encrypted", "--json"], stdin: Data(enc.stdout.utf8))
        let upper = try Fixtures.sentinel(["embed", tmp + "/ad", "--encrypted", "--json"], stdin: Data(enc.stdout.uppercased().utf8))
        XCTAssertEqual(lower.status, 0, lower.stderr)
        XCTAssertEqual(try JSONValue.parse(lower.stdout)["rows"], try JSONValue.parse(upper.stdout)["rows"])
        // glide_steps of 10^8 would allocate hundreds of GB: refused as bad input, naming the key.
        try #"{"scheme":"seed","glide_steps":100000000,"shuffle":true}"#.write(toFile: tmp + "/ad/sentinel.json", atomically: true, encoding: .utf8)
        let hostile = try Fixtures.sentinel(["verify", tmp + "/ad", "--original", model, "--json"], environment: env)
        XCTAssertEqual(hostile.status, 65, hostile.stderr)
        XCTAssertEqual(try JSONValue.parse(hostile.stdout)["error"]?["key"]?.stringValue, "glide_steps")
        // Verifying a model against itself: the digests are unknown, the forward check says so.
        try #"{"scheme":"seed","glide_steps":2,"shuffle":true}"#.write(toFile: tmp + "/ad/sentinel.json", atomically: true, encoding: .utf8)
        let itself = try Fixtures.sentinel(["verify", tmp + "/ad", "--original", tmp + "/ad", "--json"], environment: env)
        XCTAssertEqual(itself.status, 1)
        let forward = try JSONValue.parse(itself.stdout)["checks"]?.arrayValue?.first { $0["name"]?.stringValue == "forward" }
        XCTAssertEqual(forward?["passed"]?.boolValue, false)
        XCTAssertGreaterThan(forward?["unknown_digests"]?.intValue ?? 0, 0)
    }
}
