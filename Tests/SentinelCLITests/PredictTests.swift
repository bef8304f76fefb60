import Foundation
import SentinelCore
import SentinelFormats
import SentinelTestSupport
import XCTest

/// `sentinel predict` on MiniLM with the classifier heads of the bert fixtures (f02 token, f03 sequence
/// classification): the logits and labels of HuggingFace's BertFor*Classification on the same inputs.
final class PredictTests: XCTestCase {
    /// A fine-tuned-style model directory: MiniLM + `classifier.*` taken from a fixture's `init.classifier.*`.
    private func modelWithHead(_ fixture: String, labels: [String], in tmp: String) throws -> String {
        let model = try Fixtures.miniLM()
        let dir = tmp + "/model-" + fixture
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        for f in ["vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"] {
            try FileManager.default.copyItem(atPath: model + "/" + f, toPath: dir + "/" + f)
        }
        let config = try JSONValue.read(file: model + "/config.json")
            .setting("id2label", to: .object(labels.enumerated().map { ("\($0.offset)", .string($0.element)) }))
        try config.serialized(.pretty).write(toFile: dir + "/config.json", atomically: true, encoding: .utf8)
        let base = try SafeTensorsFile(path: model + "/model.safetensors")
        let head = try SafeTensorsFile(path: Fixtures.fixture("bert/\(fixture).safetensors"))
        var items = base.entries.map { SafeTensorsWriter.Item.copy($0, from: base) }
        for name in ["classifier.weight", "classifier.bias"] {
            let e = try XCTUnwrap(head.entry(named: "init." + name))
            items.append(
                SafeTensorsWriter.Item(entry: TensorEntry(name: name, dtype: e.dtype, shape: e.shape)) { sink in
                    try head.withBytes(of: "init." + name) { try sink($0) }
                })
        }
        try SafeTensorsWriter.write(items, to: dir + "/model.safetensors")
        return dir
    }

    private func floats(_ file: SafeTensorsFile, _ name: String) throws -> [Float] {
        try file.withBytes(of: name) { Array($0.bindMemory(to: Float.self)) }
    }

    func testSequenceClassificationLogitsMatchHuggingFace() throws {
        let tmp = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        let dir = try modelWithHead("f03_sequence_classification", labels: ["NEGATIVE", "POSITIVE"], in: tmp)
        let cases = try XCTUnwrap(try Fixtures.json("bert/cases_shared.json")["f03"]?.arrayValue)
        let input =
            cases.map { c in
                let a = c.arrayValue ?? []
                return [a[0].stringValue, a[1].stringValue].compactMap { $0 }.joined(separator: "\t")
            }.joined(separator: "\n") + "\n"
        let r = try Fixtures.sentinel(["predict", dir, "--task", "classification", "--json"], stdin: Data(input.utf8))
        XCTAssertEqual(r.status, 0, r.stderr)
        let predictions = try XCTUnwrap(try JSONValue.parse(r.stdout)["predictions"]?.arrayValue)
        XCTAssertEqual(predictions.count, 4)
        let expected = try floats(SafeTensorsFile(path: Fixtures.fixture("bert/f03_sequence_classification.safetensors")), "logits")
        for (i, p) in predictions.enumerated() {
            let logits = p["logits"]?.arrayValue?.compactMap(\.doubleValue) ?? []
            XCTAssertEqual(logits.count, 2)
            for j in 0..<2 { XCTAssertEqual(logits[j], Double(expected[i * 2 + j]), accuracy: 1e-4, "case \(i) logit \(j)") }
            let best = expected[i * 2 + 1] > expected[i * 2] ? "POSITIVE" : "NEGATIVE"
            XCTAssertEqual(p["label"]?.stringValue, best)
        }
    }

    /// The whole client/server flow: convert the fine-tuned model with a key, encrypt the text on the client
    /// side with the original tokenizer, predict on the adapted model: the same logits as in the clear.
    func testEncryptedPredictionOnTheAdaptedModelMatchesPlain() throws {
        let tmp = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        let dir = try modelWithHead("f03_sequence_classification", labels: ["NEGATIVE", "POSITIVE"], in: tmp)
        let env: [String: String?] = ["SENTINEL_KEY": "client passkey"]
        let convert = try Fixtures.sentinel(["convert", "--scheme", "seed", dir, "--output", tmp + "/adapted", "--shuffle"], environment: env)
        XCTAssertEqual(convert.status, 0, convert.stderr)
        let text = "This movie was absolutely wonderful, I loved every minute.\nIs the package delivered?\tYes, it arrived yesterday morning.\n"
        let encrypted = try Fixtures.sentinel(["encrypt", dir, "--format", "text"], environment: env, stdin: Data(text.utf8))
        XCTAssertEqual(encrypted.status, 0, encrypted.stderr)
        XCTAssertFalse(encrypted.stdout.contains("movie"))
        let plain = try Fixtures.sentinel(["predict", dir, "--task", "classification", "--json"], stdin: Data(text.utf8))
        let secret = try Fixtures.sentinel(
            ["predict", tmp + "/adapted", "--task", "classification", "--encrypted", "--json"],
            stdin: Data(encrypted.stdout.utf8))
        XCTAssertEqual(plain.status, 0, plain.stderr)
        XCTAssertEqual(secret.status, 0, secret.stderr)
        let a = try XCTUnwrap(try JSONValue.parse(plain.stdout)["predictions"]?.arrayValue)
        let b = try XCTUnwrap(try JSONValue.parse(secret.stdout)["predictions"]?.arrayValue)
        XCTAssertEqual(a.count, 2)
        XCTAssertEqual(b.count, 2)
        for (x, y) in zip(a, b) {
            XCTAssertEqual(x["label"], y["label"])
            for (p, q) in zip(x["logits"]?.arrayValue ?? [], y["logits"]?.arrayValue ?? []) {
                XCTAssertEqual(try XCTUnwrap(p.doubleValue), try XCTUnwrap(q.doubleValue), accuracy: 1e-4)
            }
        }
        // The adapted model on the plain text (without the key) is all [UNK]: refused (exit 1) unless --allow-unknown,
        // and then it does not give the same logits.
        XCTAssertEqual(try Fixtures.sentinel(["predict", tmp + "/adapted", "--task", "classification"], stdin: Data(text.utf8)).status, 1)
        let leaked = try Fixtures.sentinel(
            ["predict", tmp + "/adapted", "--task", "classification", "--json", "--allow-unknown"],
            stdin: Data(text.utf8))
        let c = try XCTUnwrap(try JSONValue.parse(leaked.stdout)["predictions"]?.arrayValue)
        let gap = zip(a, c).map { abs(($0["logits"]?.arrayValue?[0].doubleValue ?? 0) - ($1["logits"]?.arrayValue?[0].doubleValue ?? 0)) }.max() ?? 0
        XCTAssertGreaterThan(gap, 1e-3)
    }

    func testTokenClassificationLabelsMatchHuggingFace() throws {
        let tmp = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        let labels = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]
        let dir = try modelWithHead("f02_token_classification", labels: labels, in: tmp)
        let sentences = try XCTUnwrap(try Fixtures.json("bert/cases_shared.json")["f02"]?.arrayValue).compactMap(\.stringValue)
        let r = try Fixtures.sentinel(["predict", dir, "--task", "ner", "--json"], stdin: Data((sentences.joined(separator: "\n") + "\n").utf8))
        XCTAssertEqual(r.status, 0, r.stderr)
        let predictions = try XCTUnwrap(try JSONValue.parse(r.stdout)["predictions"]?.arrayValue)
        XCTAssertEqual(predictions.count, 4)
        let fixture = try SafeTensorsFile(path: Fixtures.fixture("bert/f02_token_classification.safetensors"))
        let logits = try floats(fixture, "logits")
        let mask = try fixture.withBytes(of: "attention_mask") { Array($0.bindMemory(to: Int64.self)) }
        for (i, p) in predictions.enumerated() {
            let got = p["labels"]?.arrayValue?.compactMap(\.stringValue) ?? []
            let valid = (0..<16).filter { mask[i * 16 + $0] == 1 }.count
            XCTAssertEqual(got.count, valid, "sentence \(i)")
            for t in 0..<valid {
                let row = logits[((i * 16 + t) * 9)..<((i * 16 + t + 1) * 9)]
                let best = row.indices.max { row[$0] < row[$1] }! - (i * 16 + t) * 9
                XCTAssertEqual(got[t], labels[best], "sentence \(i) token \(t)")
            }
            // The words (pre-tokenizer words: punctuation is its own word) spell the sentence, and each carries the
            // label of its first wordpiece.
            let words = p["words"]?.arrayValue?.compactMap(\.stringValue) ?? []
            XCTAssertEqual(words.joined(), sentences[i].filter { $0 != " " })
            XCTAssertEqual(p["word_labels"]?.arrayValue?.count, words.count)
        }
    }

    /// encrypt --format tsv → predict --encrypted on the SST-2 dev set: one prediction per row (872), each the
    /// label the original model gives the plain TSV; the encrypted file is HF-style JSON lines.
    func testSST2RoundTripThroughEncryptedJSONLines() throws {
        let tmp = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        let dir = try modelWithHead("f03_sequence_classification", labels: ["NEGATIVE", "POSITIVE"], in: tmp)
        let env: [String: String?] = ["SENTINEL_KEY": "llm123"]
        XCTAssertEqual(
            try Fixtures.sentinel(["convert", "--scheme", "seed", dir, "--output", tmp + "/adapted", "--shuffle"], environment: env).status, 0)
        let dev = shared("data/glue/SST-2/dev.tsv")
        let enc = try Fixtures.sentinel(["encrypt", dir, "--format", "tsv", "--input", dev, "--output", tmp + "/dev.jsonl"], environment: env)
        XCTAssertEqual(enc.status, 0, enc.stderr)
        let rows = try jsonLines(tmp + "/dev.jsonl")
        XCTAssertEqual(rows.count, 872)
        XCTAssertEqual(rows[0].objectValue?.map(\.0), ["sentence", "label"])
        XCTAssertNotNil(rows[0]["label"]?.intValue)
        let plain = try Fixtures.sentinel(["predict", dir, "--task", "classification", "--format", "tsv", "--input", dev, "--json"])
        let secret = try Fixtures.sentinel([
            "predict", tmp + "/adapted", "--task", "classification", "--encrypted",
            "--input", tmp + "/dev.jsonl", "--json",
        ])
        XCTAssertEqual(plain.status, 0, plain.stderr)
        XCTAssertEqual(secret.status, 0, secret.stderr)
        let a = try XCTUnwrap(try JSONValue.parse(plain.stdout)["predictions"]?.arrayValue)
        let b = try XCTUnwrap(try JSONValue.parse(secret.stdout)["predictions"]?.arrayValue)
        XCTAssertEqual(a.count, 872)
        XCTAssertEqual(b.count, 872)
        XCTAssertEqual(a.map { $0["label"] }, b.map { $0["label"] })
    }

    /// encrypt --format conll → predict --encrypted: the word labels of the plain CoNLL run.
    func testCoNLLRoundTripGivesThePlainWordLabels() throws {
        let tmp = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        let labels = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]
        let dir = try modelWithHead("f02_token_classification", labels: labels, in: tmp)
        let env: [String: String?] = ["SENTINEL_KEY": "llm123"]
        XCTAssertEqual(
            try Fixtures.sentinel(["convert", "--scheme", "seed", dir, "--output", tmp + "/adapted", "--shuffle"], environment: env).status, 0)
        // The first 200 sentences of the CoNLL-2003 validation set.
        let full = try String(contentsOfFile: shared("data/conll2003/valid.txt"), encoding: .utf8)
        var blocks = full.components(separatedBy: "\n\n").filter { !$0.hasPrefix("-DOCSTART-") && !$0.isEmpty }
        blocks = Array(blocks.prefix(200))
        let input = tmp + "/dev.conll"
        try (blocks.joined(separator: "\n\n") + "\n").write(toFile: input, atomically: true, encoding: .utf8)
        let enc = try Fixtures.sentinel(["encrypt", dir, "--format", "conll", "--input", input, "--output", tmp + "/dev.jsonl"], environment: env)
        XCTAssertEqual(enc.status, 0, enc.stderr)
        let plain = try Fixtures.sentinel(["predict", dir, "--task", "ner", "--format", "conll", "--input", input, "--json"])
        let secret = try Fixtures.sentinel(["predict", tmp + "/adapted", "--task", "ner", "--encrypted", "--input", tmp + "/dev.jsonl", "--json"])
        XCTAssertEqual(plain.status, 0, plain.stderr)
        XCTAssertEqual(secret.status, 0, secret.stderr)
        let a = try XCTUnwrap(try JSONValue.parse(plain.stdout)["predictions"]?.arrayValue)
        let b = try XCTUnwrap(try JSONValue.parse(secret.stdout)["predictions"]?.arrayValue)
        XCTAssertEqual(a.count, 200)
        XCTAssertEqual(b.count, 200)
        let words = a.map { $0["word_labels"]?.arrayValue?.count ?? 0 }.reduce(0, +)
        XCTAssertGreaterThan(words, 2000)
        XCTAssertEqual(a.map { $0["word_labels"] }, b.map { $0["word_labels"] })
        // embed reads the same encrypted file (one row per record) and gives the rows of the plain CoNLL run.
        let embedPlain = try Fixtures.sentinel(["embed", dir, "--format", "conll", "--input", input, "--json"])
        let embedSecret = try Fixtures.sentinel(["embed", tmp + "/adapted", "--encrypted", "--input", tmp + "/dev.jsonl", "--json"])
        XCTAssertEqual(embedPlain.status, 0, embedPlain.stderr)
        XCTAssertEqual(embedSecret.status, 0, embedSecret.stderr)
        let rowsPlain = try XCTUnwrap(try JSONValue.parse(embedPlain.stdout)["row_summaries"]?.arrayValue)
        let rowsSecret = try XCTUnwrap(try JSONValue.parse(embedSecret.stdout)["row_summaries"]?.arrayValue)
        XCTAssertEqual(rowsPlain.count, 200)
        XCTAssertEqual(rowsPlain.map { $0["tokens"] }, rowsSecret.map { $0["tokens"] })
        for (x, y) in zip(rowsPlain, rowsSecret) {
            XCTAssertEqual(try XCTUnwrap(x["mean_norm"]?.doubleValue), try XCTUnwrap(y["mean_norm"]?.doubleValue), accuracy: 1e-4)
        }
        // Plain predictions name the CoNLL words; encrypted ones the first digest of each word.
        XCTAssertEqual(a[0]["words"]?.arrayValue?.first?.stringValue, blocks[0].split(separator: " ").first.map(String.init))
        XCTAssertEqual(b[0]["words"]?.arrayValue?.first?.stringValue?.count, 32)
    }
}
