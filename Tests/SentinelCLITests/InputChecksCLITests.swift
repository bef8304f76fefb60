import Foundation
import SentinelCore
import SentinelFormats
import SentinelTestSupport
import XCTest

/// Commands that feed each other and say when input is wrong (issue 9, part 4): mostly-[UNK] input,
/// task models in `verify`, transformers 5 directories without vocab.txt, sharded outputs in `inspect`.
final class InputChecksCLITests: XCTestCase {
    let env: [String: String?] = ["SENTINEL_KEY": "llm123"]

    private func checks(_ r: RunResult) throws -> [String: JSONValue] {
        let doc = try JSONValue.parse(r.stdout)
        return Dictionary(uniqueKeysWithValues: (doc["checks"]?.arrayValue ?? []).map { ($0["name"]?.stringValue ?? "", $0) })
    }

    /// Plain text to an adapted model, digests (--encrypted) to a plain model, digests of another key, and
    /// `encrypt` given the adapted directory: each is all [UNK], exits 1 and says so with the fraction.
    func testMostlyUnknownInputExits1WithTheFraction() throws {
        let model = try Fixtures.miniLM()
        let tmp = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        let adapted = tmp + "/adapted"
        let c = try Fixtures.sentinel(["convert", "--scheme", "seed", model, "--output", adapted, "--shuffle"], environment: env)
        XCTAssertEqual(c.status, 0, c.stderr)
        let text = Data("The quick brown fox jumps over the lazy dog.\n".utf8)  // 10 wordpieces, none [UNK]
        let encrypted = try Fixtures.sentinel(["encrypt", model], environment: env, stdin: text)
        XCTAssertEqual(encrypted.status, 0, encrypted.stderr)
        let otherKey = try Fixtures.sentinel(["encrypt", model], environment: ["SENTINEL_KEY": "another passkey"], stdin: text)
        XCTAssertEqual(otherKey.status, 0, otherKey.stderr)

        // The right inputs run.
        let good = try Fixtures.sentinel(["embed", adapted, "--encrypted"], stdin: Data(encrypted.stdout.utf8))
        XCTAssertEqual(good.status, 0, good.stderr)
        XCTAssertFalse(good.stderr.contains("[UNK]"), good.stderr)
        XCTAssertEqual(try Fixtures.sentinel(["embed", model], stdin: text).status, 0)

        let cases: [(String, [String], Data, String)] = [
            ("plain text to the adapted model", ["embed", adapted], text, "encrypt the text"),
            ("--encrypted to the plain model", ["embed", model, "--encrypted"], Data(encrypted.stdout.utf8), "not an adapted model"),
            ("digests of another key", ["embed", adapted, "--encrypted"], Data(otherKey.stdout.utf8), "another key"),
            ("encrypt given the adapted directory", ["encrypt", adapted], text, "ORIGINAL model"),
        ]
        for (label, arguments, input, cause) in cases {
            let r = try Fixtures.sentinel(arguments, environment: env, stdin: input)
            XCTAssertEqual(r.status, 1, "\(label): \(r.stderr)")
            XCTAssertTrue(r.stderr.contains("10 of 10 tokens"), "\(label): \(r.stderr)")
            XCTAssertTrue(r.stderr.contains("fraction 1.000"), "\(label): \(r.stderr)")
            XCTAssertTrue(r.stderr.contains(cause), "\(label): \(r.stderr)")
            XCTAssertFalse(r.stderr.contains("llm123"), "the key never appears")
            XCTAssertEqual(r.stdout, "", "\(label): nothing is written on failure")
        }
        // --json: the error as a document with the counts.
        let json = try Fixtures.sentinel(["embed", adapted, "--json"], stdin: text)
        XCTAssertEqual(json.status, 1)
        let error = try XCTUnwrap(JSONValue.parse(json.stdout)["error"])
        XCTAssertEqual(error["code"]?.stringValue, "mostly_unknown")
        XCTAssertEqual(error["unknown_tokens"]?.intValue, 10)
        XCTAssertEqual(error["tokens"]?.intValue, 10)
        XCTAssertEqual(error["unknown_fraction"]?.doubleValue, 1)

        // --allow-unknown runs with a warning; --max-unknown 1 accepts everything.
        let allowed = try Fixtures.sentinel(["embed", adapted, "--allow-unknown"], stdin: text)
        XCTAssertEqual(allowed.status, 0, allowed.stderr)
        XCTAssertTrue(allowed.stderr.contains("Warning: 10 of 10 tokens"), allowed.stderr)
        XCTAssertTrue(allowed.stdout.contains("1 rows"), allowed.stdout)
        XCTAssertEqual(try Fixtures.sentinel(["encrypt", adapted, "--max-unknown", "1"], environment: env, stdin: text).status, 0)
        XCTAssertEqual(try Fixtures.sentinel(["embed", adapted, "--max-unknown", "1.5"], stdin: text).status, 64)
    }

    /// A BertForTokenClassification checkpoint (`bert.` names, no pooler, a random 9-label classifier).
    private func tokenClassificationModel(in tmp: String) throws -> String {
        let model = try Fixtures.miniLM()
        let dir = tmp + "/ner-model"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        for f in ["vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"] {
            try FileManager.default.copyItem(atPath: model + "/" + f, toPath: dir + "/" + f)
        }
        let labels = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]
        let config = try JSONValue.read(file: model + "/config.json")
            .setting("architectures", to: .array([.string("BertForTokenClassification")]))
            .setting("id2label", to: .object(labels.enumerated().map { ("\($0.offset)", .string($0.element)) }))
        try config.serialized(.pretty).write(toFile: dir + "/config.json", atomically: true, encoding: .utf8)
        let base = try SafeTensorsFile(path: model + "/model.safetensors")
        var items = base.entries.filter { !$0.name.hasPrefix("pooler.") }.map { e in
            SafeTensorsWriter.Item(entry: TensorEntry(name: "bert." + e.name, dtype: e.dtype, shape: e.shape)) { sink in
                try base.withBytes(of: e.name) { try sink($0) }
            }
        }
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func random(_ n: Int, scale: Float) -> [Float] {
            (0..<n).map { _ in
                state = state &* 6364136223846793005 &+ 1442695040888963407
                return (Float(state >> 40) / Float(1 << 24) - 0.5) * 2 * scale
            }
        }
        for (name, shape, scale) in [("classifier.weight", [labels.count, 384], Float(0.05)), ("classifier.bias", [labels.count], Float(0.01))] {
            let values = random(shape.reduce(1, *), scale: scale)
            items.append(
                SafeTensorsWriter.Item(entry: TensorEntry(name: name, dtype: .F32, shape: shape)) { sink in
                    try values.withUnsafeBytes { try sink($0) }
                })
        }
        try SafeTensorsWriter.write(items, to: dir + "/model.safetensors")
        return dir
    }

    func testVerifyPassesAConvertedTokenClassificationModelAndFailsOnAWrongKey() throws {
        let tmp = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        let original = try tokenClassificationModel(in: tmp)
        let adapted = tmp + "/ner-adapted"
        let c = try Fixtures.sentinel(["convert", "--scheme", "seed", original, "--output", adapted, "--shuffle", "--json"], environment: env)
        XCTAssertEqual(c.status, 0, c.stderr)
        XCTAssertEqual(try JSONValue.parse(c.stdout)["changed_tensors"], .array([.string("bert.embeddings.word_embeddings.weight")]))

        // predict on the adapted task model: plain text is all [UNK] (exit 1), its encryption runs.
        let text = Data("The quick brown fox jumps over the lazy dog.\n".utf8)
        let plain = try Fixtures.sentinel(["predict", adapted, "--task", "ner"], stdin: text)
        XCTAssertEqual(plain.status, 1, plain.stderr)
        XCTAssertTrue(plain.stderr.contains("10 of 10 tokens") && plain.stderr.contains("fraction 1.000"), plain.stderr)
        let encrypted = try Fixtures.sentinel(["encrypt", original], environment: env, stdin: text)
        XCTAssertEqual(try Fixtures.sentinel(["predict", adapted, "--task", "ner", "--encrypted"], stdin: Data(encrypted.stdout.utf8)).status, 0)

        let ok = try Fixtures.sentinel(["verify", adapted, "--original", original, "--json"], environment: env)
        XCTAssertEqual(ok.status, 0, ok.stdout + ok.stderr)
        let result = try checks(ok)
        XCTAssertEqual(Set(result.keys), ["manifest", "source", "vocabulary", "tensors", "embeddings", "forward", "logits"])
        XCTAssertTrue(result.values.allSatisfy { $0["passed"]?.boolValue == true }, ok.stdout)
        // MiniLM's tensors (104 in the safetensors fixture's listing) minus the pooler's 2, plus the classifier's 2,
        // all byte-identical but the word embeddings.
        let miniLMTensors = try XCTUnwrap(Fixtures.json("safetensors/s05_minilm_model.safetensors.expected.json")["tensors"]?.arrayValue?.count)
        XCTAssertEqual(result["tensors"]?["identical"]?.intValue, miniLMTensors - 2 + 2 - 1)
        XCTAssertEqual(result["logits"]?["task"]?.stringValue, "token_classification")
        XCTAssertEqual(result["logits"]?["labels"]?.intValue, 9)
        XCTAssertEqual(result["logits"]?["predicted_labels_differing"]?.intValue, 0)
        XCTAssertLessThan(try XCTUnwrap(result["logits"]?["max_abs_diff_logits"]?.doubleValue), 1e-4)
        XCTAssertGreaterThan(try XCTUnwrap(result["logits"]?["logits"]?.intValue), 9 * 8 * 3)

        let wrong = try Fixtures.sentinel(["verify", adapted, "--original", original, "--json"], environment: ["SENTINEL_KEY": "wrong key"])
        XCTAssertEqual(wrong.status, 1, wrong.stderr)
        let failed = try checks(wrong)
        XCTAssertEqual(failed["vocabulary"]?["passed"]?.boolValue, false)
        XCTAssertEqual(failed["logits"]?["passed"]?.boolValue, false)
        XCTAssertFalse(wrong.stdout.contains("wrong key"), "the key never appears")
    }

    /// transformers 5 writes only tokenizer.json: convert, verify and vocab take the vocabulary from it, and
    /// give the same adapted vocabulary as from vocab.txt.
    func testDirectoryWithoutVocabTxtConvertsVerifiesAndMaps() throws {
        let model = try Fixtures.miniLM()
        let tmp = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        let t5 = tmp + "/t5"
        try FileManager.default.createDirectory(atPath: t5, withIntermediateDirectories: true)
        for f in ["config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"] {
            try FileManager.default.copyItem(atPath: model + "/" + f, toPath: t5 + "/" + f)
        }
        try FileManager.default.createSymbolicLink(atPath: t5 + "/model.safetensors", withDestinationPath: model + "/model.safetensors")
        let a = try Fixtures.sentinel(["convert", "--scheme", "seed", t5, "--output", tmp + "/from-json", "--shuffle"], environment: env)
        XCTAssertEqual(a.status, 0, a.stderr)
        let b = try Fixtures.sentinel(["convert", "--scheme", "seed", model, "--output", tmp + "/from-txt", "--shuffle"], environment: env)
        XCTAssertEqual(b.status, 0, b.stderr)
        for f in ["vocab.txt", "tokenizer.json", "model.safetensors"] {
            XCTAssertEqual(try Fixtures.sha256(file: tmp + "/from-json/" + f), try Fixtures.sha256(file: tmp + "/from-txt/" + f), f)
        }
        // The adapted vocabulary is the reference converter's for key llm123.
        XCTAssertEqual(
            try Fixtures.sha256(file: tmp + "/from-json/vocab.txt"),
            try Fixtures.sha256(file: Fixtures.fixture("seed-converter/minilm-llm123-f2-shuffle/vocab.txt")))

        let v = try Fixtures.sentinel(["verify", tmp + "/from-json", "--original", t5], environment: env)
        XCTAssertEqual(v.status, 0, v.stdout + v.stderr)
        let m = try Fixtures.sentinel(["vocab", tmp + "/from-json", "--original", t5, "--token", "fox", "--json"], environment: env)
        XCTAssertEqual(m.status, 0, m.stderr)
        let summary = try XCTUnwrap(JSONValue.parse(m.stdout)["summary"])
        XCTAssertEqual(summary["key_matches"]?.boolValue, true)
        XCTAssertEqual(summary["original_vocab_size"]?.intValue, 30522)
        XCTAssertEqual(try XCTUnwrap(JSONValue.parse(m.stdout)["entries"]?.arrayValue).first?["original_id"]?.intValue, 4419)
    }

    /// `inspect` reads the sharded outputs of convert and their index files.
    func testInspectReadsShardedOutputsAndIndexFiles() throws {
        let model = try Fixtures.miniLM()
        let tmp = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        let expected = try Fixtures.json("safetensors/s05_minilm_model.safetensors.expected.json")
        let tensorCount = try XCTUnwrap(expected["tensors"]?.arrayValue?.count)
        for format in ["safetensors", "pytorch"] {
            let out = tmp + "/sharded-" + format
            let c = try Fixtures.sentinel(
                ["convert", "--scheme", "seed", model, "--output", out, "--shuffle", "--format", format, "--max-shard-size", "30MB"],
                environment: env)
            XCTAssertEqual(c.status, 0, c.stderr)
            let index = format == "safetensors" ? "model.safetensors.index.json" : "pytorch_model.bin.index.json"
            let shards = try FileManager.default.contentsOfDirectory(atPath: out).filter { $0.contains("-of-") }
            XCTAssertGreaterThan(shards.count, 1)
            for path in [out, out + "/" + index] {
                let r = try Fixtures.sentinel(["inspect", path, "--json"])
                XCTAssertEqual(r.status, 0, "\(path): \(r.stderr)")
                let doc = try JSONValue.parse(r.stdout)
                XCTAssertEqual(doc["tensor_count"]?.intValue, tensorCount, path)
                XCTAssertEqual(Set((doc["shards"]?.arrayValue ?? []).compactMap { $0["file"]?.stringValue }), Set(shards), path)
                let text = try Fixtures.sentinel(["inspect", path])
                XCTAssertEqual(text.status, 0, text.stderr)
                XCTAssertTrue(text.stdout.contains("\(tensorCount) tensors"), text.stdout)
                XCTAssertTrue(text.stdout.hasSuffix("\n"))
            }
            let stats = try Fixtures.sentinel(["inspect", out, "--tensor", "embeddings.position_embeddings.weight", "--stats", "--json"])
            XCTAssertEqual(stats.status, 0, stats.stderr)
        }
    }
}
