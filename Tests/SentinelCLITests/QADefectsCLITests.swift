import Foundation
import SentinelCore
import SentinelEncoder
import SentinelFormats
import SentinelTestSupport
import XCTest

/// The defects a tester found (each fixed with its test), on the synthetic RoBERTa of `../shared/fixtures/roberta`.
final class QADefectsCLITests: XCTestCase {
    static let model = Fixtures.fixture("roberta/model")
    static let key: [String: String?] = ["SENTINEL_KEY": "llm123"]
    static let files = ["config.json", "tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt"]

    func convert(_ out: String, shuffle: Bool = true) throws -> RunResult {
        let r = try Fixtures.sentinel(
            ["convert", "--scheme", "seed", Self.model, "--output", out] + (shuffle ? ["--shuffle"] : []), environment: Self.key)
        XCTAssertEqual(r.status, 0, r.stderr)
        return r
    }

    /// Converting an adapted model again would hash digests: refused (exit 65), naming its sentinel.json; nothing written.
    func testConvertRefusesAnAdaptedModel() throws {
        let dir = try Fixtures.temporaryDirectory("qa-twice")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        _ = try convert(dir + "/adapted")
        let r = try Fixtures.sentinel(
            ["convert", "--scheme", "seed", dir + "/adapted", "--output", dir + "/twice", "--shuffle"], environment: Self.key)
        XCTAssertEqual(r.status, 65, r.stderr)
        XCTAssertTrue(r.stderr.contains("already an adapted model"), r.stderr)
        XCTAssertTrue(r.stderr.contains(dir + "/adapted/sentinel.json"), r.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/twice"))
    }

    /// A seed conversion without --shuffle says that the ids do not move; with --shuffle it does not.
    func testUnshuffledConversionWarns() throws {
        let dir = try Fixtures.temporaryDirectory("qa-noshuffle")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        XCTAssertTrue(try convert(dir + "/a", shuffle: false).stdout.contains("warning: no --shuffle: every token keeps its id"))
        XCTAssertFalse(try convert(dir + "/b").stdout.contains("no --shuffle"))
    }

    /// `encrypt --format conll` given a TSV of sentences (GLUE) refuses it, naming the line.
    func testEncryptConllRefusesTSV() throws {
        let tsv = "sentence\tlabel\nhide new secretions from the parental units \t0\n"
        let r = try Fixtures.sentinel(["encrypt", Self.model, "--format", "conll"], environment: Self.key, stdin: Data(tsv.utf8))
        XCTAssertEqual(r.status, 65, r.stderr)
        XCTAssertTrue(r.stderr.contains("line 2: the word column holds spaces"), r.stderr)
        XCTAssertEqual(r.stdout, "")
        let ok = try Fixtures.sentinel(["encrypt", Self.model, "--format", "tsv"], environment: Self.key, stdin: Data(tsv.utf8))
        XCTAssertEqual(ok.status, 0, ok.stderr)
    }

    /// Inputs over the length limit are truncated with a warning giving the count (embed), and encrypt says which records
    /// the model will truncate.
    func testTruncationIsSaid() throws {
        let dir = try Fixtures.temporaryDirectory("qa-truncation")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let text = "a short one\n" + [String](repeating: "the", count: 20).joined(separator: " ") + "\n"
        let embed = try Fixtures.sentinel(
            ["embed", Self.model, "--max-length", "8", "--output", dir + "/e.safetensors"], stdin: Data(text.utf8))
        XCTAssertEqual(embed.status, 0, embed.stderr)
        XCTAssertTrue(embed.stderr.contains("warning: 1 of 2 inputs of <stdin> are longer than 8 tokens"), embed.stderr)
        XCTAssertTrue(embed.stderr.contains("14 pieces dropped"), embed.stderr)  // 20 pieces + <s> </s> cut to 8
        XCTAssertEqual(try SafeTensorsFile(path: dir + "/e.safetensors").entry(named: "input_ids")?.shape, [2, 8])
        let quiet = try Fixtures.sentinel(["embed", Self.model, "--output", dir + "/q.safetensors"], stdin: Data(text.utf8))
        XCTAssertFalse(quiet.stderr.contains("warning"), quiet.stderr)

        let long = [String](repeating: "the", count: 200).joined(separator: " ") + "\nshort\n"
        let encrypt = try Fixtures.sentinel(["encrypt", Self.model], environment: Self.key, stdin: Data(long.utf8))
        XCTAssertEqual(encrypt.status, 0, encrypt.stderr)
        XCTAssertTrue(encrypt.stderr.contains("1 of 2 inputs of <stdin> are longer than 128 tokens"), encrypt.stderr)
        XCTAssertEqual(encrypt.stdout.split(separator: "\n").first?.split(separator: " ").count, 200)  // every piece kept
    }

    /// Text whose first line starts with `{` is text; JSON lines are taken when they are records (or asked for).
    func testTextStartingWithABraceIsText() throws {
        let dir = try Fixtures.temporaryDirectory("qa-brace")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let text = try Fixtures.sentinel(["embed", Self.model, "--output", dir + "/t.safetensors"], stdin: Data("{braces} are text\n".utf8))
        XCTAssertEqual(text.status, 0, text.stderr)
        let asked = try Fixtures.sentinel(
            ["embed", Self.model, "--format", "jsonl", "--output", dir + "/j.safetensors"], stdin: Data("{braces} are text\n".utf8))
        XCTAssertEqual(asked.status, 65, asked.stderr)
        let records = try Fixtures.sentinel(
            ["embed", Self.model, "--output", dir + "/r.safetensors"], stdin: Data("{\"sentence\": \"{braces} are text\", \"label\": 0}\n".utf8))
        XCTAssertEqual(records.status, 0, records.stderr)
        // The record's sentence and the plain line are the same text: the same ids.
        XCTAssertEqual(
            try SafeTensorsFile(path: dir + "/t.safetensors").intRows("input_ids"),
            try SafeTensorsFile(path: dir + "/r.safetensors").intRows("input_ids"))
    }

    /// verify and audit with --original of another model (same tokenizer, one tensor changed) than the one converted.
    func testVerifyAndAuditDetectAnotherOriginal() throws {
        let dir = try Fixtures.temporaryDirectory("qa-other")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        _ = try convert(dir + "/adapted")
        try FileManager.default.createDirectory(atPath: dir + "/other", withIntermediateDirectories: true)
        for name in Self.files { try FileManager.default.copyItem(atPath: Self.model + "/" + name, toPath: dir + "/other/" + name) }
        let weights = try SafeTensorsFile(path: Self.model + "/model.safetensors")
        let a = MemoryArchive(path: "other")
        for e in weights.entries {
            try weights.withBytes(of: e.name) { bytes in
                var b = Array(bytes)
                if e.name == "pooler.dense.bias" { b[0] ^= 0x01 }
                a.add(e, bytes: b)
            }
        }
        try SafeTensorsWriter.write(a.entries.map { .copy($0, from: a) }, to: dir + "/other/model.safetensors")

        let verify = try Fixtures.sentinel(["verify", dir + "/adapted", "--original", dir + "/other", "--json"], environment: Self.key)
        XCTAssertEqual(verify.status, 1, verify.stderr)
        let source = try XCTUnwrap(try JSONValue.parse(verify.stdout)["checks"]?.arrayValue?.first { $0["name"]?.stringValue == "source" })
        XCTAssertEqual(source["passed"]?.boolValue, false)
        XCTAssertEqual(source["differing"], .array([.string("model.safetensors")]))
        let same = try Fixtures.sentinel(["verify", dir + "/adapted", "--original", Self.model, "--json"], environment: Self.key)
        XCTAssertEqual(same.status, 0, same.stdout)

        let audit = try Fixtures.sentinel(
            ["audit", dir + "/adapted", "--original", dir + "/other", "--attacks", "fixed_points"], environment: Self.key)
        XCTAssertEqual(audit.status, 1, audit.stderr)
        XCTAssertTrue(audit.stderr.contains("is not the model this was adapted from: model.safetensors"), audit.stderr)
    }

    /// Negative numbers are values, so the command's own check answers (not "missing value").
    func testNegativeNumbersReachTheValueChecks() throws {
        let dir = try Fixtures.temporaryDirectory("qa-negative")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        _ = try convert(dir + "/adapted")
        let tolerance = try Fixtures.sentinel(
            ["verify", dir + "/adapted", "--original", Self.model, "--tolerance", "-1"], environment: Self.key)
        XCTAssertEqual(tolerance.status, 64, tolerance.stderr)
        XCTAssertTrue(tolerance.stderr.contains("--tolerance must be a non-negative number"), tolerance.stderr)
        let id = try Fixtures.sentinel(["vocab", dir + "/adapted", "--id", "-1"])
        XCTAssertEqual(id.status, 64, id.stderr)
        XCTAssertTrue(id.stderr.contains("--id -1 is outside 0..<8000"), id.stderr)
        let glide = try Fixtures.sentinel(
            ["convert", "--scheme", "seed", Self.model, "--output", dir + "/g", "--glide-steps", "-2"], environment: Self.key)
        XCTAssertEqual(glide.status, 64, glide.stderr)
        XCTAssertTrue(glide.stderr.contains("--glide-steps must be between"), glide.stderr)
        let unknown = try Fixtures.sentinel(["embed", Self.model, "--max-unknown", "-0.5"], stdin: Data("x\n".utf8))
        XCTAssertEqual(unknown.status, 64, unknown.stderr)
        XCTAssertTrue(unknown.stderr.contains("--max-unknown must be a fraction"), unknown.stderr)
        // A token that starts with a hyphen is a value of --token too.
        let token = try Fixtures.sentinel(["vocab", dir + "/adapted", "--token", "-", "--json"], environment: Self.key)
        XCTAssertEqual(token.status, 0, token.stderr)
    }
}
