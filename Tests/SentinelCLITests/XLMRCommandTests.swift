import Foundation
import SentinelCore
import SentinelEncoder
import SentinelFormats
import SentinelTestSupport
import XCTest

/// Every command on the synthetic XLM-R (`../shared/fixtures/xlmr`, SentencePiece unigram, `XLMRobertaModel`):
/// convert → encrypt → embed on the adapted model against the original, verify, vocab, inspect, audit, predict and
/// verify on task heads (XLM-R and RoBERTa), and the hardened scheme.
final class XLMRCommandTests: XCTestCase {
    static let model = Fixtures.fixture("xlmr/model")
    static let key: [String: String?] = ["SENTINEL_KEY": "llm123"]
    static let text = "Peter Blackburn lives in Berlin .\nthe film is a charming , often funny ride\tit is not\nÜnïcödé spaces and 日本語 text 😀\n"

    func convert(_ model: String, _ out: String, _ extra: [String] = []) throws {
        let r = try Fixtures.sentinel(
            ["convert", "--scheme", "seed", model, "--output", out, "--shuffle", "--glide-steps", "2", "--embedding-dtype", "F64"] + extra,
            environment: Self.key)
        XCTAssertEqual(r.status, 0, r.stderr)
    }

    func testConvertEncryptEmbedVerifyVocabInspect() throws {
        let dir = try Fixtures.temporaryDirectory("xlmr-commands")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Self.text.write(toFile: dir + "/plain.txt", atomically: true, encoding: .utf8)
        try convert(Self.model, dir + "/adapted")
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/adapted/sentencepiece.bpe.model"))

        let encrypt = try Fixtures.sentinel(
            ["encrypt", Self.model, "--input", dir + "/plain.txt", "--output", dir + "/encrypted.txt"], environment: Self.key)
        XCTAssertEqual(encrypt.status, 0, encrypt.stderr)
        let plain = try Fixtures.sentinel(["embed", Self.model, "--input", dir + "/plain.txt", "--output", dir + "/plain.safetensors"])
        XCTAssertEqual(plain.status, 0, plain.stderr)
        let encrypted = try Fixtures.sentinel([
            "embed", dir + "/adapted", "--encrypted", "--input", dir + "/encrypted.txt", "--output", dir + "/encrypted.safetensors",
        ])
        XCTAssertEqual(encrypted.status, 0, encrypted.stderr)
        let a = try SafeTensorsFile(path: dir + "/plain.safetensors"), b = try SafeTensorsFile(path: dir + "/encrypted.safetensors")
        XCTAssertEqual(try a.intRows("attention_mask"), try b.intRows("attention_mask"))
        XCTAssertNotEqual(try a.intRows("input_ids"), try b.intRows("input_ids"), "the adapted ids are shuffled")
        // The pair is `<s> A </s></s> B </s>` (XLM-R's template), all of type 0.
        XCTAssertEqual(try a.intRows("input_ids")[1].filter { $0 == 2 }.count, 3)
        let mask = try a.intRows("attention_mask").flatMap { $0 }
        let d = maxAbsDiff(try a.floats("last_hidden_state"), try b.floats("last_hidden_state")) { mask[$0 / 128] == 1 }
        XCTAssertLessThanOrEqual(d, 1e-4)
        XCTAssertLessThanOrEqual(maxAbsDiff(try a.floats("pooler_output"), try b.floats("pooler_output")), 1e-4)

        let verify = try Fixtures.sentinel(["verify", dir + "/adapted", "--original", Self.model, "--json"], environment: Self.key)
        XCTAssertEqual(verify.status, 0, verify.stdout + verify.stderr)
        let checks = try XCTUnwrap(try JSONValue.parse(verify.stdout)["checks"]?.arrayValue)
        XCTAssertEqual(checks.compactMap { $0["name"]?.stringValue }, ["manifest", "source", "vocabulary", "tensors", "embeddings", "forward"])
        XCTAssertTrue(checks.allSatisfy { $0["passed"]?.boolValue == true })
        let forward = try XCTUnwrap(checks.last)
        XCTAssertLessThanOrEqual(try XCTUnwrap(forward["max_abs_diff_last_hidden_state"]?.doubleValue), 1e-4)
        XCTAssertGreaterThan(try XCTUnwrap(forward["tokens"]?.intValue), 100)

        // vocab: ▁the is original id 5; its adapted id is the reference's mapping.
        let vocab = try Fixtures.sentinel(
            ["vocab", dir + "/adapted", "--original", Self.model, "--token", "\u{2581}the", "--json"], environment: Self.key)
        XCTAssertEqual(vocab.status, 0, vocab.stderr)
        let entry = try XCTUnwrap(try JSONValue.parse(vocab.stdout)["entries"]?.arrayValue?.first)
        XCTAssertEqual(entry["original_id"]?.intValue, 5)
        let mapping = try Fixtures.json("xlmr/seed-converter-llm123/mapping.json")
        XCTAssertEqual(entry["adapted_id"]?.intValue, mapping["5"]?.intValue)
        let summary = try Fixtures.sentinel(["vocab", dir + "/adapted", "--original", Self.model, "--json"], environment: Self.key)
        XCTAssertEqual(summary.status, 0, summary.stderr)
        XCTAssertEqual(try JSONValue.parse(summary.stdout)["summary"]?["original_hashed_tokens_found"]?.intValue, 7997)

        let inspect = try Fixtures.sentinel(["inspect", dir + "/adapted", "--json"])
        XCTAssertEqual(inspect.status, 0, inspect.stderr)
        XCTAssertTrue(inspect.stdout.contains("embeddings.word_embeddings.weight"))
    }

    /// The audit runs on an XLM-R conversion: the seed scheme's glide is undone by centring, so the centred matcher recovers
    /// (nearly) every hidden id and the audit fails (exit 1).
    func testAuditRecoversTheSeedMapping() throws {
        let dir = try Fixtures.temporaryDirectory("xlmr-audit")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try convert(Self.model, dir + "/adapted")
        let r = try Fixtures.sentinel(
            ["audit", dir + "/adapted", "--original", Self.model, "--attacks", "nearest_centred_l2", "--json"], environment: Self.key)
        XCTAssertEqual(r.status, 1, r.stderr)
        let attack = try XCTUnwrap(try JSONValue.parse(r.stdout)["attacks"]?.arrayValue?.first)
        XCTAssertEqual(attack["name"]?.stringValue, "nearest_centred_l2")
        XCTAssertGreaterThan(try XCTUnwrap(attack["recovered_top1"]?.doubleValue), 0.99, "\(attack)")
    }

    /// A task model from a fixture's base model: the encoder under `roberta.` (no pooler for sequence classification,
    /// as `RobertaForSequenceClassification` has none) plus a seeded head, and `architectures` in config.json.
    func taskModel(from base: String, to dir: String, architecture: String, sequence: Bool, files: [String]) throws {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let a = try robertaTaskArchive(base: base, sequence: sequence)
        try SafeTensorsWriter.write(a.entries.map { .copy($0, from: a) }, to: dir + "/model.safetensors")
        let config = try JSONValue.read(file: base + "/config.json")
            .setting("architectures", to: .array([.string(architecture)]))
            .setting("id2label", to: .object([("0", .string("A")), ("1", .string("B")), ("2", .string("C"))]))
        try config.serialized(.pretty).write(toFile: dir + "/config.json", atomically: true, encoding: .utf8)
        for name in files { try FileManager.default.copyItem(atPath: base + "/" + name, toPath: dir + "/" + name) }
    }

    /// XLMRobertaForSequenceClassification (classifier.dense → tanh → out_proj): predict on encrypted input to the adapted
    /// model gives the original's logits on plain input, and verify compares the logits (the `logits` check).
    func testSequenceClassifierPredictAndVerify() throws {
        let dir = try Fixtures.temporaryDirectory("xlmr-task")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try taskModel(
            from: Self.model, to: dir + "/task", architecture: "XLMRobertaForSequenceClassification", sequence: true,
            files: ["tokenizer.json", "tokenizer_config.json", "sentencepiece.bpe.model"])
        try convert(dir + "/task", dir + "/adapted")
        try Self.text.write(toFile: dir + "/plain.txt", atomically: true, encoding: .utf8)
        let encrypt = try Fixtures.sentinel(
            ["encrypt", dir + "/task", "--input", dir + "/plain.txt", "--output", dir + "/encrypted.txt"], environment: Self.key)
        XCTAssertEqual(encrypt.status, 0, encrypt.stderr)
        let plain = try Fixtures.sentinel(["predict", dir + "/task", "--task", "classification", "--input", dir + "/plain.txt", "--json"])
        XCTAssertEqual(plain.status, 0, plain.stderr)
        let enc = try Fixtures.sentinel(
            ["predict", dir + "/adapted", "--task", "classification", "--encrypted", "--input", dir + "/encrypted.txt", "--json"])
        XCTAssertEqual(enc.status, 0, enc.stderr)
        func logits(_ r: RunResult) throws -> [[Double]] {
            try XCTUnwrap(try JSONValue.parse(r.stdout)["predictions"]?.arrayValue).map { ($0["logits"]?.arrayValue ?? []).compactMap(\.doubleValue) }
        }
        let x = try logits(plain), y = try logits(enc)
        XCTAssertEqual(x.count, 3)
        XCTAssertEqual(x.map(\.count), [3, 3, 3])
        for (p, q) in zip(x, y) { for (u, v) in zip(p, q) { XCTAssertEqual(u, v, accuracy: 1e-4) } }
        // The head matters: the three rows do not all have the same logits.
        XCTAssertNotEqual(x[0], x[1])

        let verify = try Fixtures.sentinel(["verify", dir + "/adapted", "--original", dir + "/task", "--json"], environment: Self.key)
        XCTAssertEqual(verify.status, 0, verify.stdout + verify.stderr)
        let checks = try XCTUnwrap(try JSONValue.parse(verify.stdout)["checks"]?.arrayValue)
        let check = try XCTUnwrap(checks.first { $0["name"]?.stringValue == "logits" })
        XCTAssertEqual(check["passed"]?.boolValue, true, "\(check)")
        XCTAssertEqual(check["task"]?.stringValue, "sequence_classification")
        XCTAssertEqual(check["labels"]?.intValue, 3)
        XCTAssertEqual(check["logits"]?.intValue, 3 * 8)  // one row of 3 logits for each of the 8 default sentences
        XCTAssertLessThanOrEqual(try XCTUnwrap(check["max_abs_diff_logits"]?.doubleValue), 1e-4)
        XCTAssertGreaterThan(try XCTUnwrap(check["max_abs_diff_logits"]?.doubleValue), 0)

        // --task ner on this sequence classifier is refused (config.json's architectures), before any output.
        let wrongTask = try Fixtures.sentinel(["predict", dir + "/task", "--task", "ner", "--input", dir + "/plain.txt"])
        XCTAssertEqual(wrongTask.status, 64, wrongTask.stderr)
        XCTAssertTrue(wrongTask.stderr.contains("XLMRobertaForSequenceClassification"), wrongTask.stderr)
        XCTAssertTrue(wrongTask.stderr.contains("--task classification"), wrongTask.stderr)
    }

    /// RobertaForTokenClassification (classifier.weight on every position): verify's `logits` check is a token check.
    func testRobertaTokenClassifierVerify() throws {
        let dir = try Fixtures.temporaryDirectory("roberta-token-task")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let base = Fixtures.fixture("roberta/model")
        try taskModel(
            from: base, to: dir + "/task", architecture: "RobertaForTokenClassification", sequence: false,
            files: ["tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt"])
        try convert(dir + "/task", dir + "/adapted")
        let verify = try Fixtures.sentinel(["verify", dir + "/adapted", "--original", dir + "/task", "--json"], environment: Self.key)
        XCTAssertEqual(verify.status, 0, verify.stdout + verify.stderr)
        let checks = try XCTUnwrap(try JSONValue.parse(verify.stdout)["checks"]?.arrayValue)
        let check = try XCTUnwrap(checks.first { $0["name"]?.stringValue == "logits" })
        XCTAssertEqual(check["passed"]?.boolValue, true, "\(check)")
        XCTAssertEqual(check["task"]?.stringValue, "token_classification")
        let forward = try XCTUnwrap(checks.first { $0["name"]?.stringValue == "forward" })
        // One row of 3 logits per position of every sentence.
        XCTAssertEqual(check["logits"]?.intValue, 3 * (forward["tokens"]?.intValue ?? -1))
        XCTAssertLessThanOrEqual(try XCTUnwrap(check["max_abs_diff_logits"]?.doubleValue), 1e-4)
        // --task classification on a token classifier is refused.
        let wrongTask = try Fixtures.sentinel(["predict", dir + "/task", "--task", "classification"], stdin: Data("a b\n".utf8))
        XCTAssertEqual(wrongTask.status, 64, wrongTask.stderr)
        XCTAssertTrue(wrongTask.stderr.contains("--task ner"), wrongTask.stderr)
    }

    /// The hardened scheme on XLM-R (function-preserving setting, a cheap KDF): verify passes with parity, and the client
    /// encrypts with --manifest.
    func testHardenedConversion() throws {
        let dir = try Fixtures.temporaryDirectory("xlmr-hardened")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let convert = try Fixtures.sentinel(
            [
                "convert", Self.model, "--output", dir + "/adapted", "--scheme", "hardened", "--noise-std", "0", "--kdf-ops", "1",
                "--kdf-mem", "8MiB",
            ], environment: Self.key)
        XCTAssertEqual(convert.status, 0, convert.stderr)
        let files = try FileManager.default.contentsOfDirectory(atPath: dir + "/adapted").sorted()
        XCTAssertEqual(files, ["config.json", "model.safetensors", "sentinel.json", "tokenizer.json", "tokenizer_config.json", "vocab.json"])
        let verify = try Fixtures.sentinel(["verify", dir + "/adapted", "--original", Self.model, "--json"], environment: Self.key)
        XCTAssertEqual(verify.status, 0, verify.stdout + verify.stderr)
        let checks = try XCTUnwrap(try JSONValue.parse(verify.stdout)["checks"]?.arrayValue)
        XCTAssertTrue(checks.contains { $0["name"]?.stringValue == "source" && $0["passed"]?.boolValue == true })
        try Self.text.write(toFile: dir + "/plain.txt", atomically: true, encoding: .utf8)
        let encrypt = try Fixtures.sentinel(
            ["encrypt", Self.model, "--manifest", dir + "/adapted", "--input", dir + "/plain.txt", "--output", dir + "/encrypted.txt"],
            environment: Self.key)
        XCTAssertEqual(encrypt.status, 0, encrypt.stderr)
        let a = try Fixtures.sentinel(["embed", Self.model, "--input", dir + "/plain.txt", "--output", dir + "/a.safetensors"])
        let b = try Fixtures.sentinel(
            ["embed", dir + "/adapted", "--encrypted", "--input", dir + "/encrypted.txt", "--output", dir + "/b.safetensors"])
        XCTAssertEqual(a.status, 0, a.stderr)
        XCTAssertEqual(b.status, 0, b.stderr)
        let x = try SafeTensorsFile(path: dir + "/a.safetensors"), y = try SafeTensorsFile(path: dir + "/b.safetensors")
        XCTAssertLessThanOrEqual(maxAbsDiff(try x.floats("pooler_output"), try y.floats("pooler_output")), 1e-4)
    }
}
