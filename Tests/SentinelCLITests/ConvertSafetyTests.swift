import Foundation
import SentinelCore
import SentinelTestSupport
import XCTest

/// Inputs a careless or hostile user gives: the output over the input, odd vocabularies and keys, pipes.
final class ConvertSafetyTests: XCTestCase {
    let env: [String: String?] = ["SENTINEL_KEY": "llm123"]

    private func copyModel(_ model: String, to dir: String) throws {
        try FileManager.default.copyItem(atPath: model, toPath: dir)
    }

    func testOutputNeverReplacesOrContainsTheInput() throws {
        let model = try Fixtures.miniLM()
        let tmp = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        try copyModel(model, to: tmp + "/anc/model")
        try "keep me".write(toFile: tmp + "/anc/thesis.txt", atomically: true, encoding: .utf8)
        let before = try Fixtures.sha256(file: tmp + "/anc/model/model.safetensors")
        for out in [tmp + "/anc/model", tmp + "/anc", tmp + "/anc/model/sub", tmp + "/anc/model/../model"] {
            let r = try Fixtures.sentinel(
                ["convert", "--scheme", "seed", tmp + "/anc/model", "--output", out, "--force", "--json"], environment: env)
            XCTAssertEqual(r.status, 64, "\(out): \(r.stderr)")
            XCTAssertEqual(try JSONValue.parse(r.stdout)["error"]?["code"]?.stringValue, "usage")
        }
        XCTAssertEqual(try Fixtures.sha256(file: tmp + "/anc/model/model.safetensors"), before)
        XCTAssertTrue(FileManager.default.fileExists(atPath: tmp + "/anc/thesis.txt"))
        // --force replaces only a directory sentinel wrote.
        try FileManager.default.createDirectory(atPath: tmp + "/other", withIntermediateDirectories: false)
        try "data".write(toFile: tmp + "/other/notes.txt", atomically: true, encoding: .utf8)
        let r = try Fixtures.sentinel(["convert", "--scheme", "seed", model, "--output", tmp + "/other", "--force"], environment: env)
        XCTAssertEqual(r.status, 64, r.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: tmp + "/other/notes.txt"))
        // export refuses to write over its input.
        let e = try Fixtures.sentinel([
            "export", tmp + "/anc/model/model.safetensors", "--output", tmp + "/anc/model/model.safetensors",
            "--format", "pytorch", "--force",
        ])
        XCTAssertEqual(e.status, 64, e.stderr)
        XCTAssertEqual(try Fixtures.sha256(file: tmp + "/anc/model/model.safetensors"), before)
    }

    func testLineEndingsAndBrokenModelFiles() throws {
        let model = try Fixtures.miniLM()
        let tmp = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        // CRLF vocab.txt reads as Python's universal newlines do: the same adapted vocabulary.
        try copyModel(model, to: tmp + "/crlf")
        let lf = try Data(contentsOf: URL(fileURLWithPath: model + "/vocab.txt"))
        try Data(String(decoding: lf, as: UTF8.self).replacingOccurrences(of: "\n", with: "\r\n").utf8)
            .write(to: URL(fileURLWithPath: tmp + "/crlf/vocab.txt"))
        for (input, out) in [(model, "lf-out"), (tmp + "/crlf", "crlf-out")] {
            let r = try Fixtures.sentinel(["convert", "--scheme", "seed", input, "--output", tmp + "/" + out, "--shuffle"], environment: env)
            XCTAssertEqual(r.status, 0, r.stderr)
        }
        XCTAssertEqual(try Fixtures.sha256(file: tmp + "/crlf-out/vocab.txt"), try Fixtures.sha256(file: tmp + "/lf-out/vocab.txt"))

        // A duplicated token, a config that disagrees with the weights, a config that is not JSON: exit 65, named.
        try copyModel(model, to: tmp + "/dup")
        try FileManager.default.removeItem(atPath: tmp + "/dup/tokenizer.json")
        var lines = String(decoding: lf, as: UTF8.self).components(separatedBy: "\n")
        lines[2000] = lines[1999]
        try lines.joined(separator: "\n").write(toFile: tmp + "/dup/vocab.txt", atomically: true, encoding: .utf8)
        let dup = try Fixtures.sentinel(["convert", "--scheme", "seed", tmp + "/dup", "--output", tmp + "/dup-out", "--json"], environment: env)
        XCTAssertEqual(dup.status, 65, dup.stderr)
        XCTAssertEqual(try JSONValue.parse(dup.stdout)["error"]?["key"]?.stringValue, "line 2001")

        try copyModel(model, to: tmp + "/cfg")
        let config = try String(contentsOfFile: model + "/config.json", encoding: .utf8)
        try config.replacingOccurrences(of: "\"vocab_size\": 30522", with: "\"vocab_size\": 30000")
            .write(toFile: tmp + "/cfg/config.json", atomically: true, encoding: .utf8)
        let cfg = try Fixtures.sentinel(["convert", "--scheme", "seed", tmp + "/cfg", "--output", tmp + "/cfg-out", "--json"], environment: env)
        XCTAssertEqual(cfg.status, 65, cfg.stderr)
        XCTAssertEqual(try JSONValue.parse(cfg.stdout)["error"]?["key"]?.stringValue, "vocab_size")
        try "{\"model_type\": \"bert\", ".write(toFile: tmp + "/cfg/config.json", atomically: true, encoding: .utf8)
        let broken = try Fixtures.sentinel(["convert", "--scheme", "seed", tmp + "/cfg", "--output", tmp + "/cfg-out"], environment: env)
        XCTAssertEqual(broken.status, 65, broken.stderr)
        XCTAssertTrue(broken.stderr.contains("config.json"), broken.stderr)
        for out in ["dup-out", "cfg-out"] { XCTAssertFalse(FileManager.default.fileExists(atPath: tmp + "/" + out)) }
    }

    func testKeysFromPipesAndInvalidKeys() throws {
        let model = try Fixtures.miniLM()
        let tmp = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        // A key from a pipe (the safe way to pass a secret) equals the same key from the environment.
        let piped = try Fixtures.sentinel(
            ["convert", "--scheme", "seed", model, "--output", tmp + "/piped", "--key-file", "/dev/stdin"],
            environment: ["SENTINEL_KEY": nil], stdin: Data("llm123\n".utf8))
        XCTAssertEqual(piped.status, 0, piped.stderr)
        let plain = try Fixtures.sentinel(["convert", "--scheme", "seed", model, "--output", tmp + "/plain"], environment: env)
        XCTAssertEqual(plain.status, 0, plain.stderr)
        XCTAssertEqual(try Fixtures.sha256(file: tmp + "/piped/vocab.txt"), try Fixtures.sha256(file: tmp + "/plain/vocab.txt"))
        // Invalid UTF-8 is refused, not replaced by U+FFFD (two different byte strings would give one model).
        try Data([0xFF, 0xFE, 0x0A]).write(to: URL(fileURLWithPath: tmp + "/bad.key"))
        let bad = try Fixtures.sentinel(["convert", "--scheme", "seed", model, "--output", tmp + "/bad", "--key-file", tmp + "/bad.key"])
        XCTAssertEqual(bad.status, 64, bad.stderr)
        let missing = try Fixtures.sentinel(["convert", "--scheme", "seed", model, "--output", tmp + "/m", "--key-file", tmp + "/none"])
        XCTAssertEqual(missing.status, 74, missing.stderr)
        // A FIFO as input is refused at once rather than waited on.
        XCTAssertEqual(mkfifo(tmp + "/fifo", 0o600), 0)
        let fifo = try Fixtures.sentinel(["inspect", tmp + "/fifo"])
        XCTAssertEqual(fifo.status, 74, fifo.stderr)
    }

    func testStatisticsOfExtremeValuesAreValidJSONAndText() throws {
        let path = Fixtures.fixture("safetensors/s01_all_dtypes.safetensors")
        let text = try Fixtures.sentinel(["inspect", path, "--stats"])
        XCTAssertEqual(text.status, 0, text.stderr)
        let json = try Fixtures.sentinel(["inspect", path, "--stats", "--json"])
        XCTAssertEqual(json.status, 0, json.stderr)
        let doc = try JSONValue.parse(json.stdout)
        let f64 = doc["tensors"]?.arrayValue?.first { $0["name"]?.stringValue == "f64" }
        XCTAssertEqual(f64?["stats"]?["nan"]?.intValue, 1)
        XCTAssertEqual(f64?["stats"]?["inf"]?.intValue, 2)
        XCTAssertEqual(f64?["stats"]?["max"]?.doubleValue, Double.greatestFiniteMagnitude)
    }
}
