import Foundation
import SentinelCore
import SentinelFormats
import SentinelTestSupport
import XCTest

/// End-to-end: the built `sentinel embed` binary on the f01 inputs, its safetensors output against the fixture.
final class EmbedCommandTests: XCTestCase {
    func sentinel(_ args: [String], stdin: String? = nil) throws -> RunResult {
        try Fixtures.sentinel(args, stdin: stdin.map { Data($0.utf8) } ?? Data())
    }

    /// The f01 sentences of `cases_shared.json` as plain-text lines (a TAB before the pair's second sentence).
    func f01Text() throws -> String { try f01PlainText() }

    /// The f01 rows as lines: valid ids (or tokens), a TAB where token_type turns to 1.
    func lines(_ fixture: SafeTensorsFile, tokens vocab: [String]?) throws -> String {
        let ids = try fixture.intRows("input_ids"), mask = try fixture.intRows("attention_mask"), types = try fixture.intRows("token_type_ids")
        var text = ""
        for r in ids.indices {
            var parts: [String] = []
            for p in ids[r].indices where mask[r][p] == 1 {
                if p > 0, types[r][p] == 1, types[r][p - 1] == 0 {
                    text += parts.joined(separator: " ") + "\t"
                    parts = []
                }
                parts.append(vocab.map { $0[ids[r][p]] } ?? String(ids[r][p]))
            }
            text += parts.joined(separator: " ") + "\n"
        }
        return text
    }

    func checkOutput(_ path: String, against fixture: SafeTensorsFile) throws {
        let out = try SafeTensorsFile(path: path)
        XCTAssertEqual(out.entry(named: "input_ids")?.dtype, .I64)
        XCTAssertEqual(out.entry(named: "last_hidden_state")?.shape, [6, 19, 384])
        XCTAssertEqual(try out.intRows("input_ids"), try fixture.intRows("input_ids"))
        XCTAssertEqual(try out.intRows("attention_mask"), try fixture.intRows("attention_mask"))
        XCTAssertEqual(try out.intRows("token_type_ids"), try fixture.intRows("token_type_ids"))
        let mask = try fixture.intRows("attention_mask").flatMap { $0 }
        let d = maxAbsDiff(try out.floats("last_hidden_state"), try fixture.floats("last_hidden_state")) { mask[$0 / 384] == 1 }
        XCTAssertLessThanOrEqual(d, 5e-5)
        XCTAssertLessThanOrEqual(maxAbsDiff(try out.floats("pooler_output"), try fixture.floats("pooler_output")), 2e-6)
    }

    func testEmbedIDsWritesFixtureOutputs() throws {
        let model = try Fixtures.miniLM()
        let fixture = try SafeTensorsFile(path: Fixtures.fixture("bert") + "/f01_forward.safetensors")
        let dir = try Fixtures.temporaryDirectory("embed-ids")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = try sentinel(
            ["embed", model, "--ids", "--output", dir + "/out.safetensors", "--batch-size", "4", "--json"],
            stdin: try lines(fixture, tokens: nil))
        XCTAssertEqual(r.status, 0, r.stderr)
        let json = try JSONValue.parse(r.stdout)
        XCTAssertEqual(json["rows"]?.intValue, 6)
        XCTAssertEqual(json["sequence_length"]?.intValue, 19)
        try checkOutput(dir + "/out.safetensors", against: fixture)
    }

    /// With the original vocabulary, the "digests" are the wordpieces themselves: the lookup, the added
    /// [CLS]/[SEP] template and the pair's token types must reproduce the fixture's inputs exactly.
    func testEmbedEncryptedLooksTokensUpAndAddsTemplate() throws {
        let model = try Fixtures.miniLM()
        let fixture = try SafeTensorsFile(path: Fixtures.fixture("bert") + "/f01_forward.safetensors")
        let vocab = try String(contentsOfFile: model + "/vocab.txt", encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false).map(
            String.init)
        var text = ""
        for line in try lines(fixture, tokens: vocab).split(separator: "\n") {
            // Drop the template: embed adds [CLS] … [SEP] (… [SEP]) itself.
            let parts = line.split(separator: "\t").map { $0.split(separator: " ").filter { $0 != "[CLS]" && $0 != "[SEP]" }.joined(separator: " ") }
            text += parts.joined(separator: "\t") + "\n"
        }
        let dir = try Fixtures.temporaryDirectory("embed-encrypted")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let input = dir + "/in.txt", output = dir + "/out.safetensors"
        try text.write(toFile: input, atomically: true, encoding: .utf8)
        let r = try sentinel(["embed", model, "--encrypted", "--input", input, "--output", output])
        XCTAssertEqual(r.status, 0, r.stderr)
        try checkOutput(output, against: fixture)
        // Truncation (longest first for the pair) is the tokenizer's, as for plain text.
        let plainText = try f01Text()
        try plainText.write(toFile: dir + "/plain.txt", atomically: true, encoding: .utf8)
        let shortPlain = try sentinel(["embed", model, "--max-length", "9", "--input", dir + "/plain.txt", "--output", dir + "/p9.safetensors"])
        XCTAssertEqual(shortPlain.status, 0, shortPlain.stderr)
        let shortEncrypted = try sentinel(["embed", model, "--encrypted", "--max-length", "9", "--input", input, "--output", dir + "/e9.safetensors"])
        XCTAssertEqual(shortEncrypted.status, 0, shortEncrypted.stderr)
        let p9 = try SafeTensorsFile(path: dir + "/p9.safetensors"), e9 = try SafeTensorsFile(path: dir + "/e9.safetensors")
        XCTAssertEqual(p9.entry(named: "input_ids")?.shape, [6, 9])
        XCTAssertEqual(try p9.intRows("input_ids"), try e9.intRows("input_ids"))
        XCTAssertEqual(try p9.intRows("token_type_ids"), try e9.intRows("token_type_ids"))
        XCTAssertEqual(try p9.intRows("token_type_ids")[2].filter { $0 == 1 }.count, 4, "the pair keeps 3 + 3 tokens (longest first) and B's [SEP]")
    }

    /// Plain text through the model's WordPiece tokenizer: the f01 sentences (one pair) must give the
    /// fixture's input_ids, token_type_ids and hidden states.
    func testEmbedPlainTextMatchesTheFixture() throws {
        let model = try Fixtures.miniLM()
        let fixture = try SafeTensorsFile(path: Fixtures.fixture("bert") + "/f01_forward.safetensors")
        let text = try f01Text()
        let dir = try Fixtures.temporaryDirectory("embed-text")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = try sentinel(["embed", model, "--output", dir + "/out.safetensors"], stdin: text)
        XCTAssertEqual(r.status, 0, r.stderr)
        try checkOutput(dir + "/out.safetensors", against: fixture)
    }

    /// The scheme's promise end to end: `convert` (seed scheme, shuffled), `encrypt` with the original
    /// tokenizer, then `embed --encrypted` on the adapted model gives the original model's outputs on the
    /// plain text (SCHEME.md: the glide transform is cancelled by the embedding LayerNorm), through
    /// different input_ids.
    func testAdaptedModelOnEncryptedInputMatchesOriginal() throws {
        let model = try Fixtures.miniLM()
        let dir = try Fixtures.temporaryDirectory("embed-adapted")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let text = try f01Text()
        try text.write(toFile: dir + "/plain.txt", atomically: true, encoding: .utf8)
        let key: [String: String?] = ["SENTINEL_KEY": "embed test key"]
        let convert = try Fixtures.sentinel(["convert", "--scheme", "seed", model, "--output", dir + "/adapted", "--shuffle"], environment: key)
        XCTAssertEqual(convert.status, 0, convert.stderr)
        let encrypt = try Fixtures.sentinel(
            ["encrypt", model, "--input", dir + "/plain.txt", "--output", dir + "/encrypted.txt"],
            environment: key)
        XCTAssertEqual(encrypt.status, 0, encrypt.stderr)
        let plain = try sentinel(["embed", model, "--input", dir + "/plain.txt", "--output", dir + "/plain.safetensors"])
        XCTAssertEqual(plain.status, 0, plain.stderr)
        let encrypted = try sentinel([
            "embed", dir + "/adapted", "--encrypted", "--input", dir + "/encrypted.txt",
            "--output", dir + "/encrypted.safetensors",
        ])
        XCTAssertEqual(encrypted.status, 0, encrypted.stderr)
        let a = try SafeTensorsFile(path: dir + "/plain.safetensors"), b = try SafeTensorsFile(path: dir + "/encrypted.safetensors")
        XCTAssertEqual(try a.intRows("attention_mask"), try b.intRows("attention_mask"))
        XCTAssertNotEqual(try a.intRows("input_ids"), try b.intRows("input_ids"), "the adapted ids are shuffled")
        let mask = try a.intRows("attention_mask").flatMap { $0 }
        let d = maxAbsDiff(try a.floats("last_hidden_state"), try b.floats("last_hidden_state")) { mask[$0 / 384] == 1 }
        XCTAssertLessThanOrEqual(d, 5e-5)
        XCTAssertLessThanOrEqual(maxAbsDiff(try a.floats("pooler_output"), try b.floats("pooler_output")), 5e-6)
    }

    func testEmbedBadInputExitCodes() throws {
        let model = try Fixtures.miniLM()
        let bad = try sentinel(["embed", model, "--ids"], stdin: "101 x 102\n")
        XCTAssertEqual(bad.status, 65, bad.stderr)
        XCTAssertTrue(bad.stderr.contains("<stdin>"), bad.stderr)
        let outOfVocab = try sentinel(["embed", model, "--ids", "--json"], stdin: "101 99999 102\n")
        XCTAssertEqual(outOfVocab.status, 65, outOfVocab.stderr)
        XCTAssertEqual(try JSONValue.parse(outOfVocab.stdout)["error"]?["code"]?.stringValue, "out_of_range")
        let usage = try sentinel(["embed", model, "--ids", "--encrypted"], stdin: "")
        XCTAssertEqual(usage.status, 64)
        let missing = try sentinel(["embed", "/nonexistent-model-dir", "--ids"], stdin: "101 102\n")
        XCTAssertEqual(missing.status, 74, missing.stderr)
        // The output may not replace the model's weights, nor an existing file without --force.
        let clobber = try sentinel(["embed", model, "--ids", "--output", model + "/model.safetensors"], stdin: "101 102\n")
        XCTAssertEqual(clobber.status, 64, clobber.stderr)
        let dir = try Fixtures.temporaryDirectory("embed-exists")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "keep".write(toFile: dir + "/out.safetensors", atomically: true, encoding: .utf8)
        let exists = try sentinel(["embed", model, "--ids", "--output", dir + "/out.safetensors"], stdin: "101 102\n")
        XCTAssertEqual(exists.status, 64, exists.stderr)
        XCTAssertEqual(try String(contentsOfFile: dir + "/out.safetensors", encoding: .utf8), "keep")
        let forced = try sentinel(["embed", model, "--ids", "--force", "--output", dir + "/out.safetensors"], stdin: "101 102\n")
        XCTAssertEqual(forced.status, 0, forced.stderr)
        XCTAssertEqual(try SafeTensorsFile(path: dir + "/out.safetensors").entry(named: "last_hidden_state")?.shape, [1, 2, 384])
    }
}
