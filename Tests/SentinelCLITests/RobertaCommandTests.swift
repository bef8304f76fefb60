import Foundation
import SentinelCore
import SentinelFormats
import SentinelTestSupport
import XCTest

/// End-to-end on the synthetic RoBERTa (`../shared/fixtures/roberta`): `embed` of plain text against transformers'
/// forward pass, and convert → encrypt → `embed --encrypted` on the adapted model against the original.
final class RobertaCommandTests: XCTestCase {
    static let model = Fixtures.fixture("roberta/model")

    /// The forward.json inputs as text lines (TAB before a pair's second text), without row 3, whose text holds a TAB.
    func inputs() throws -> (text: String, rows: [Int]) {
        let sentences = try XCTUnwrap(Fixtures.json("roberta/forward.json")["sentences"]?.arrayValue)
        var text = "", rows: [Int] = []
        for (i, s) in sentences.enumerated() {
            let pair = try XCTUnwrap(s.arrayValue)
            let first = try XCTUnwrap(pair[0].stringValue)
            if first.contains("\t") { continue }
            text += first + (pair[1].stringValue.map { "\t" + $0 } ?? "") + "\n"
            rows.append(i)
        }
        return (text, rows)
    }

    func testEmbedPlainTextMatchesTransformers() throws {
        let dir = try Fixtures.temporaryDirectory("roberta-embed")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (text, rows) = try inputs()
        let r = try Fixtures.sentinel(["embed", Self.model, "--output", dir + "/out.safetensors"], stdin: Data(text.utf8))
        XCTAssertEqual(r.status, 0, r.stderr)
        let out = try SafeTensorsFile(path: dir + "/out.safetensors")
        let fixture = try SafeTensorsFile(path: Fixtures.fixture("roberta/forward.safetensors"))
        let ids = try fixture.intRows("input_ids"), mask = try fixture.intRows("attention_mask")
        let l = 63, h = 128
        XCTAssertEqual(out.entry(named: "last_hidden_state")?.shape, [rows.count, l, h])
        let outIDs = try out.intRows("input_ids"), outMask = try out.intRows("attention_mask")
        for (i, r) in rows.enumerated() {
            XCTAssertEqual(outMask[i], mask[r], "row \(r)")
            XCTAssertEqual(
                outIDs[i].indices.filter { mask[r][$0] == 1 }.map { outIDs[i][$0] },
                ids[r].indices.filter { mask[r][$0] == 1 }.map { ids[r][$0] }, "row \(r)")
        }
        let expected = try fixture.floats("last_hidden_state"), got = try out.floats("last_hidden_state")
        var worst: Float = 0
        for (i, r) in rows.enumerated() {
            for p in 0..<l where mask[r][p] == 1 {
                for j in 0..<h { worst = max(worst, abs(got[(i * l + p) * h + j] - expected[(r * l + p) * h + j])) }
            }
        }
        XCTAssertLessThanOrEqual(worst, 1e-4)
        let pooled = try out.floats("pooler_output"), expectedPooled = try fixture.floats("pooler_output")
        for (i, r) in rows.enumerated() {
            for j in 0..<h { XCTAssertEqual(pooled[i * h + j], expectedPooled[r * h + j], accuracy: 1e-4) }
        }
    }

    func testAdaptedModelOnEncryptedInputMatchesOriginal() throws {
        let dir = try Fixtures.temporaryDirectory("roberta-adapted")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (text, _) = try inputs()
        try text.write(toFile: dir + "/plain.txt", atomically: true, encoding: .utf8)
        let key: [String: String?] = ["SENTINEL_KEY": "llm123"]
        let convert = try Fixtures.sentinel(
            [
                "convert", "--scheme", "seed", Self.model, "--output", dir + "/adapted", "--shuffle", "--glide-steps", "2",
                "--embedding-dtype", "F64",
            ], environment: key)
        XCTAssertEqual(convert.status, 0, convert.stderr)
        let encrypt = try Fixtures.sentinel(
            ["encrypt", Self.model, "--input", dir + "/plain.txt", "--output", dir + "/encrypted.txt"],
            environment: key)
        XCTAssertEqual(encrypt.status, 0, encrypt.stderr)
        let plain = try Fixtures.sentinel(["embed", Self.model, "--input", dir + "/plain.txt", "--output", dir + "/plain.safetensors"])
        XCTAssertEqual(plain.status, 0, plain.stderr)
        let encrypted = try Fixtures.sentinel([
            "embed", dir + "/adapted", "--encrypted", "--input", dir + "/encrypted.txt",
            "--output", dir + "/encrypted.safetensors",
        ])
        XCTAssertEqual(encrypted.status, 0, encrypted.stderr)
        let a = try SafeTensorsFile(path: dir + "/plain.safetensors"), b = try SafeTensorsFile(path: dir + "/encrypted.safetensors")
        XCTAssertEqual(try a.intRows("attention_mask"), try b.intRows("attention_mask"))
        XCTAssertNotEqual(try a.intRows("input_ids"), try b.intRows("input_ids"), "the adapted ids are shuffled")
        let mask = try a.intRows("attention_mask").flatMap { $0 }
        let d = maxAbsDiff(try a.floats("last_hidden_state"), try b.floats("last_hidden_state")) { mask[$0 / 128] == 1 }
        XCTAssertLessThanOrEqual(d, 1e-4)
        XCTAssertLessThanOrEqual(maxAbsDiff(try a.floats("pooler_output"), try b.floats("pooler_output")), 1e-4)
    }
}
