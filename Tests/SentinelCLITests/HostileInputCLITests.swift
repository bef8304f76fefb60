import Foundation
import SentinelCore
import SentinelTestSupport
import XCTest

/// Issue 12 through the executable: the refused torch vectors exit 65 with their code, writers refuse reserved
/// names with nothing written, `inspect --stats` checks stored CRCs, and a write over `ulimit -f` is an I/O
/// error (exit 74) with the partial removed instead of a death by SIGXFSZ.
final class HostileInputCLITests: XCTestCase {
    let vectors = Fixtures.packageRoot + "/Formats/torch-vectors/"

    func testRefusedTorchVectorsExit65WithTheirCode() throws {
        let cases = try XCTUnwrap(try JSONValue.read(file: vectors + "expected.json")["cases"]?.arrayValue)
        for c in cases {
            let file = try XCTUnwrap(c["file"]?.stringValue), expected = try XCTUnwrap(c["expected"]?.stringValue)
            let r = try Fixtures.sentinel(["inspect", vectors + file, "--json"])
            if expected == "valid" {
                XCTAssertEqual(r.status, 0, "\(file): \(r.stderr)")
            } else {
                XCTAssertEqual(r.status, 65, "\(file): \(r.stderr)")
                XCTAssertEqual(try JSONValue.parse(r.stdout)["error"]?["code"]?.stringValue, expected, file)
            }
        }
    }

    func testExportRefusesReservedNamesAndStatsCheckCRC() throws {
        let tmp = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        for vector in ["tv13_tensor_named_metadata.pt", "tv14_tensor_named_empty.pt"] {
            for format in ["safetensors", "pytorch"] {
                let out = tmp + "/out." + format
                let r = try Fixtures.sentinel(["export", vectors + vector, "--output", out, "--format", format, "--json"])
                XCTAssertEqual(r.status, 65, "\(vector) \(format): \(r.stderr)")
                XCTAssertEqual(try JSONValue.parse(r.stdout)["error"]?["code"]?.stringValue, "reserved_name")
                XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: tmp), [], "\(vector) \(format)")
            }
        }
        let crc = vectors + "tv12_stored_crc_mismatch.pt"
        XCTAssertEqual(try Fixtures.sentinel(["inspect", crc]).status, 0)
        let stats = try Fixtures.sentinel(["inspect", crc, "--stats", "--json"])
        XCTAssertEqual(stats.status, 65, stats.stderr)
        XCTAssertEqual(try JSONValue.parse(stats.stdout)["error"]?["code"]?.stringValue, "checksum_mismatch")
    }

    func testFileSizeLimitIsAnIOErrorAndLeavesNothing() throws {
        let tmp = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        let input = Fixtures.fixture("torch/t01_simple_state_dict.pt")
        for format in ["safetensors", "pytorch"] {
            // dash's ulimit -f counts 512-byte blocks: 4 KB, under the 10 KB the export writes.
            let r = try Fixtures.run(
                "/bin/sh",
                [
                    "-c", "ulimit -f 8; exec \"$0\" export \"$1\" --output \"$2\" --format \"$3\"", Fixtures.sentinelBinary, input, tmp + "/out",
                    format,
                ])
            XCTAssertEqual(r.status, 74, "\(format): \(r.stderr)")
            XCTAssertTrue(r.stderr.contains("File too large"), r.stderr)
            XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: tmp), [], format)
        }
    }
}

/// `encrypt` streams text in bounded memory with a per-line cap, and applies the one tokenizer.json/vocab.txt rule.
final class EncryptStreamingCLITests: XCTestCase {
    let env: [String: String?] = ["SENTINEL_KEY": "llm123"]

    /// An endless input without newlines (`/dev/zero`) stops at the line cap with a clear error, nothing written.
    func testEndlessLineIsRefusedAtTheCap() throws {
        let model = try Fixtures.miniLM()
        let tmp = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        let r = try Fixtures.sentinel(["encrypt", model, "--input", "/dev/zero", "--output", tmp + "/out.txt", "--json"], environment: env)
        XCTAssertEqual(r.status, 65, r.stderr)
        let error = try JSONValue.parse(r.stdout)["error"]
        XCTAssertEqual(error?["code"]?.stringValue, "out_of_range")
        XCTAssertTrue(error?["message"]?.stringValue?.contains("line 1 is longer than 8388608 bytes") ?? false, r.stdout)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: tmp), [])
    }

    /// More lines than the held-back part (over 2²⁰ tokens): the streamed output is line for line the in-memory one.
    func testStreamedOutputEqualsLineByLineEncryption() throws {
        let model = try Fixtures.miniLM()
        let tmp = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        let lines = [
            String(repeating: "the quick brown fox jumps over the lazy dog ", count: 6), "hello world\tsecond text", "", "unaffable naïve café",
        ]
        var text = ""
        for i in 0..<80_000 { text += lines[i % lines.count] + "\n" }
        try text.write(toFile: tmp + "/in.txt", atomically: true, encoding: .utf8)
        try (lines.joined(separator: "\n") + "\n").write(toFile: tmp + "/few.txt", atomically: true, encoding: .utf8)
        let big = try Fixtures.sentinel(["encrypt", model, "--input", tmp + "/in.txt", "--output", tmp + "/out.txt", "--json"], environment: env)
        XCTAssertEqual(big.status, 0, big.stderr)
        XCTAssertEqual(try JSONValue.parse(big.stdout)["records"]?.intValue, 80_000)
        XCTAssertGreaterThan(try JSONValue.parse(big.stdout)["tokens"]?.intValue ?? 0, 1 << 20)
        let few = try Fixtures.sentinel(["encrypt", model, "--input", tmp + "/few.txt", "--output", "-"], environment: env)
        XCTAssertEqual(few.status, 0, few.stderr)
        let expected = few.stdout.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(String.init)
        XCTAssertEqual(expected.count, 4)
        let out = try String(contentsOfFile: tmp + "/out.txt", encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
        XCTAssertEqual(out.count, 80_001)
        for i in Swift.stride(from: 0, to: 80_000, by: 9_973) { XCTAssertEqual(String(out[i]), expected[i % 4], "line \(i + 1)") }
        XCTAssertEqual(String(out[79_999]), expected[79_999 % 4])
    }

    /// A tokenizer.json whose vocabulary disagrees with vocab.txt: `encrypt` refuses it as `convert` does.
    func testTokenizerJSONThatDisagreesWithVocabTxtIsRefusedByEveryCommand() throws {
        let model = try Fixtures.miniLM()
        let tmp = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        let dir = tmp + "/model"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        for f in ["config.json", "model.safetensors", "special_tokens_map.json", "tokenizer_config.json", "vocab.txt"] {
            try FileManager.default.createSymbolicLink(atPath: dir + "/" + f, withDestinationPath: model + "/" + f)
        }
        // Swap the ids of "the" and "of" in model.vocab.
        let json = try JSONValue.read(file: model + "/tokenizer.json")
        let vocab = try XCTUnwrap(json["model"]?["vocab"]?.objectValue)
        let the = try XCTUnwrap(vocab.first { $0.0 == "the" }?.1), of = try XCTUnwrap(vocab.first { $0.0 == "of" }?.1)
        let swapped = JSONValue.object(vocab.map { ($0.0, $0.0 == "the" ? of : $0.0 == "of" ? the : $0.1) })
        let model2 = try XCTUnwrap(json["model"]).setting("vocab", to: swapped)
        try json.setting("model", to: model2).serialized(.compact).write(toFile: dir + "/tokenizer.json", atomically: true, encoding: .utf8)
        try "the of\n".write(toFile: tmp + "/in.txt", atomically: true, encoding: .utf8)
        let e = try Fixtures.sentinel(["encrypt", dir, "--input", tmp + "/in.txt", "--output", tmp + "/out.txt", "--json"], environment: env)
        XCTAssertEqual(e.status, 65, e.stderr)
        let c = try Fixtures.sentinel(["convert", "--scheme", "seed", dir, "--output", tmp + "/adapted", "--json"], environment: env)
        XCTAssertEqual(c.status, 65, c.stderr)
        for r in [e, c] {
            let error = try JSONValue.parse(r.stdout)["error"]
            XCTAssertEqual(error?["key"]?.stringValue, "model.vocab", r.stdout)
            XCTAssertTrue(error?["message"]?.stringValue?.contains("tokenizer.json and vocab.txt disagree") ?? false, r.stdout)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: tmp + "/out.txt"))
    }
}
