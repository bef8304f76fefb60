import Foundation
import SentinelCore
import SentinelEncoder
import SentinelFormats
import SentinelTestSupport
import XCTest

/// `sentinel finetune` and `sentinel evaluate` end to end on a tiny random BERT with MiniLM's tokenizer and a slice of
/// CoNLL-2003 and SST-2: the HF layout of the output, evaluate/predict on it, refusals, resume.
final class FinetuneCLITests: XCTestCase {
    static let key = "llm123"

    /// MiniLM's tokenizer files, a 1-layer hidden-16 config and random weights.
    static func tinyModel(in tmp: String) throws -> String {
        let model = try Fixtures.miniLM()
        let dir = tmp + "/tiny"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        for f in ["vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"] {
            try FileManager.default.copyItem(atPath: model + "/" + f, toPath: dir + "/" + f)
        }
        var config = try JSONValue.read(file: model + "/config.json")
        for (k, v) in [("hidden_size", 16), ("num_hidden_layers", 1), ("num_attention_heads", 2), ("intermediate_size", 32)] {
            config = config.setting(k, to: .int(Int64(v)))
        }
        try config.serialized(.pretty).write(toFile: dir + "/config.json", atomically: true, encoding: .utf8)
        let c = try BertConfig(json: config, file: "config.json")
        try SafeTensorsWriter.write(MemoryArchive.randomBert(c, seed: 11), to: dir + "/model.safetensors")
        return dir
    }

    /// The first `n` sentences of a CoNLL file (the DOCSTART lines dropped).
    static func conllSlice(_ path: String, sentences n: Int, to out: String) throws {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        let blocks = text.components(separatedBy: "\n\n").filter { !$0.hasPrefix("-DOCSTART-") && !$0.isEmpty }
        try (blocks.prefix(n).joined(separator: "\n\n") + "\n").write(toFile: out, atomically: true, encoding: .utf8)
    }

    static func tsvSlice(_ path: String, rows n: Int, to out: String) throws {
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
        try (lines.prefix(n + 1).joined(separator: "\n") + "\n").write(toFile: out, atomically: true, encoding: .utf8)
    }

    func finetune(_ model: String, _ train: String, _ validation: String, _ out: String, _ extra: [String] = [], task: String = "ner")
        throws -> RunResult
    {
        try Fixtures.sentinel(
            [
                "finetune", model, "--task", task, "--train", train, "--validation", validation, "--output", out, "--epochs", "2",
                "--batch-size", "8", "--learning-rate", "2e-3", "--logging-steps", "2", "--json",
            ] + extra)
    }

    func testNERFinetuneWritesAnHFDirectoryThatEvaluateAndPredictRead() throws {
        let tmp = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        let model = try Self.tinyModel(in: tmp)
        try Self.conllSlice(Fixtures.data("conll2003/train.txt"), sentences: 60, to: tmp + "/train.txt")
        try Self.conllSlice(Fixtures.data("conll2003/valid.txt"), sentences: 25, to: tmp + "/valid.txt")
        let out = tmp + "/out"
        let r = try finetune(model, tmp + "/train.txt", tmp + "/valid.txt", out)
        XCTAssertEqual(r.status, 0, r.stderr)
        let report = try JSONValue.parse(r.stdout)
        // 60 rows / 8 = 8 batches per epoch, 2 epochs.
        XCTAssertEqual(report["steps"]?.intValue, 16)
        XCTAssertEqual(report["train_examples"]?.intValue, 60)
        let labels = try XCTUnwrap(report["labels"]?.arrayValue?.compactMap(\.stringValue))
        XCTAssertEqual(labels.first, "O")
        XCTAssertEqual(Set(labels), ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"])

        // HF layout: bert.-prefixed encoder (no pooler for token classification) + classifier, F32.
        let weights = try SafeTensorsFile(path: out + "/model.safetensors")
        let names = Set(weights.entries.map(\.name))
        XCTAssertTrue(names.contains("bert.embeddings.word_embeddings.weight"))
        XCTAssertTrue(names.contains("bert.encoder.layer.0.output.LayerNorm.bias"))
        XCTAssertFalse(names.contains { $0.contains("pooler") })
        XCTAssertEqual(weights.entry(named: "classifier.weight")?.shape, [9, 16])
        XCTAssertEqual(names.count, 5 + 16 + 2)
        let config = try JSONValue.read(file: out + "/config.json")
        XCTAssertEqual(config["architectures"], .array([.string("BertForTokenClassification")]))
        for (i, l) in labels.enumerated() {
            XCTAssertEqual(config["id2label"]?[String(i)]?.stringValue, l)
            XCTAssertEqual(config["label2id"]?[l]?.intValue, i)
        }
        for f in ["vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"] {
            XCTAssertEqual(try Fixtures.sha256(file: out + "/" + f), try Fixtures.sha256(file: model + "/" + f), f)
        }
        let lines = try String(contentsOfFile: out + "/metrics.jsonl", encoding: .utf8).split(separator: "\n").map { try JSONValue.parse(String($0)) }
        XCTAssertEqual(lines.filter { $0["loss"] != nil }.count, 8)
        XCTAssertEqual(lines.filter { $0["eval_accuracy"] != nil }.map { $0["step"]?.intValue }, [8, 16])
        XCTAssertTrue(try String(contentsOfFile: out + "/curve.svg", encoding: .utf8).contains("<svg"))
        XCTAssertTrue(FileManager.default.fileExists(atPath: out + "/checkpoint/trainer_state.json"))
        XCTAssertFalse(try FileManager.default.contentsOfDirectory(atPath: tmp).contains { $0.contains("sentinel-partial") })

        // evaluate on the validation file gives the metrics finetune printed (the best epoch's weights).
        let e = try Fixtures.sentinel(["evaluate", out, "--task", "ner", "--data", tmp + "/valid.txt", "--json"])
        XCTAssertEqual(e.status, 0, e.stderr)
        let metrics = try XCTUnwrap(try JSONValue.parse(e.stdout)["metrics"])
        XCTAssertEqual(metrics["accuracy"]?.doubleValue, report["validation"]?["accuracy"]?.doubleValue)
        XCTAssertEqual(metrics["f1"], report["validation"]?["f1"])
        XCTAssertGreaterThan(try XCTUnwrap(metrics["accuracy"]?.doubleValue), 0.5)

        // predict reads the output and labels with its id2label.
        let p = try Fixtures.sentinel(["predict", out, "--task", "ner", "--input", tmp + "/valid.txt", "--format", "conll", "--json"])
        XCTAssertEqual(p.status, 0, p.stderr)
        let predictions = try XCTUnwrap(try JSONValue.parse(p.stdout)["predictions"]?.arrayValue)
        XCTAssertEqual(predictions.count, 25)
        for label in predictions.flatMap({ $0["word_labels"]?.arrayValue ?? [] }) { XCTAssertTrue(labels.contains(label.stringValue ?? "")) }

        // An existing complete output is not replaced without --force.
        let again = try finetune(model, tmp + "/train.txt", tmp + "/valid.txt", out)
        XCTAssertEqual(again.status, 64, again.stderr)  // usage error, as every existing output without --force
    }

    /// A run stopped after 5 steps (as a kill would) and run again with the same command ends with the same
    /// model.safetensors, byte for byte, as an uninterrupted run.
    func testInterruptedFinetuneResumesToTheSameModel() throws {
        let tmp = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        let model = try Self.tinyModel(in: tmp)
        try Self.conllSlice(Fixtures.data("conll2003/train.txt"), sentences: 40, to: tmp + "/train.txt")
        try Self.conllSlice(Fixtures.data("conll2003/valid.txt"), sentences: 10, to: tmp + "/valid.txt")
        let extra = ["--checkpoint-steps", "2", "--gradient-accumulation", "2", "--warmup-ratio", "0.1"]
        let whole = try finetune(model, tmp + "/train.txt", tmp + "/valid.txt", tmp + "/whole", extra)
        XCTAssertEqual(whole.status, 0, whole.stderr)
        let stopped = try finetune(model, tmp + "/train.txt", tmp + "/valid.txt", tmp + "/resumed", extra + ["--stop-after-step", "5"])
        XCTAssertEqual(stopped.status, 75, stopped.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: tmp + "/resumed/model.safetensors"))
        let state = try JSONValue.read(file: tmp + "/resumed/checkpoint/trainer_state.json")
        XCTAssertEqual(state["global_step"]?.intValue, 4)
        let resumed = try finetune(model, tmp + "/train.txt", tmp + "/valid.txt", tmp + "/resumed", extra)
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssertEqual(try Fixtures.sha256(file: tmp + "/resumed/model.safetensors"), try Fixtures.sha256(file: tmp + "/whole/model.safetensors"))
        XCTAssertEqual(
            try String(contentsOfFile: tmp + "/resumed/metrics.jsonl", encoding: .utf8),
            try String(contentsOfFile: tmp + "/whole/metrics.jsonl", encoding: .utf8))
    }

    /// The unknown-token check: plain data to the adapted model, `--encrypted` data to the plain model are refused
    /// (exit 1, the fraction and the likely cause); encrypted data on the adapted model trains as plain on plain.
    func testEncryptedFinetuneAndRefusals() throws {
        let tmp = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        let model = try Self.tinyModel(in: tmp)
        let env: [String: String?] = ["SENTINEL_KEY": Self.key]
        try Self.conllSlice(Fixtures.data("conll2003/train.txt"), sentences: 40, to: tmp + "/train.txt")
        try Self.conllSlice(Fixtures.data("conll2003/valid.txt"), sentences: 15, to: tmp + "/valid.txt")
        let convert = try Fixtures.sentinel(["convert", model, "--output", tmp + "/adapted", "--scheme", "seed", "--shuffle"], environment: env)
        XCTAssertEqual(convert.status, 0, convert.stderr)
        for split in ["train", "valid"] {
            let enc = try Fixtures.sentinel(
                ["encrypt", model, "--format", "conll", "--input", tmp + "/\(split).txt", "--output", tmp + "/\(split).jsonl"], environment: env)
            XCTAssertEqual(enc.status, 0, enc.stderr)
        }
        let plainOnAdapted = try finetune(tmp + "/adapted", tmp + "/train.txt", tmp + "/valid.txt", tmp + "/x")
        XCTAssertEqual(plainOnAdapted.status, 1, plainOnAdapted.stderr)
        XCTAssertTrue(plainOnAdapted.stderr.contains("[UNK]"), plainOnAdapted.stderr)
        let encryptedOnPlain = try finetune(model, tmp + "/train.jsonl", tmp + "/valid.jsonl", tmp + "/y", ["--encrypted"])
        XCTAssertEqual(encryptedOnPlain.status, 1, encryptedOnPlain.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: tmp + "/x"))
        XCTAssertFalse(FileManager.default.fileExists(atPath: tmp + "/y"))

        let plain = try finetune(model, tmp + "/train.txt", tmp + "/valid.txt", tmp + "/plain")
        let secret = try finetune(tmp + "/adapted", tmp + "/train.jsonl", tmp + "/valid.jsonl", tmp + "/secret", ["--encrypted"])
        XCTAssertEqual(plain.status, 0, plain.stderr)
        XCTAssertEqual(secret.status, 0, secret.stderr)
        let a = try JSONValue.parse(plain.stdout)["validation"], b = try JSONValue.parse(secret.stdout)["validation"]
        XCTAssertEqual(try XCTUnwrap(a?["accuracy"]?.doubleValue), try XCTUnwrap(b?["accuracy"]?.doubleValue), accuracy: 0.02)
        XCTAssertTrue(FileManager.default.fileExists(atPath: tmp + "/secret/sentinel.json"))
        // evaluate on the encrypted validation file.
        let e = try Fixtures.sentinel(["evaluate", tmp + "/secret", "--task", "ner", "--data", tmp + "/valid.jsonl", "--encrypted", "--json"])
        XCTAssertEqual(e.status, 0, e.stderr)
        XCTAssertEqual(try JSONValue.parse(e.stdout)["metrics"]?["accuracy"], b?["accuracy"])
    }

    func testClassificationFinetuneOnSST2() throws {
        let tmp = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        let model = try Self.tinyModel(in: tmp)
        try Self.tsvSlice(Fixtures.data("glue/SST-2/train.tsv"), rows: 64, to: tmp + "/train.tsv")
        try Self.tsvSlice(Fixtures.data("glue/SST-2/dev.tsv"), rows: 20, to: tmp + "/dev.tsv")
        let r = try finetune(model, tmp + "/train.tsv", tmp + "/dev.tsv", tmp + "/out", task: "classification")
        XCTAssertEqual(r.status, 0, r.stderr)
        let report = try JSONValue.parse(r.stdout)
        XCTAssertEqual(report["labels"], .array([.string("0"), .string("1")]))
        let weights = try SafeTensorsFile(path: tmp + "/out/model.safetensors")
        XCTAssertNotNil(weights.entry(named: "bert.pooler.dense.weight"))
        XCTAssertEqual(weights.entry(named: "classifier.weight")?.shape, [2, 16])
        let config = try JSONValue.read(file: tmp + "/out/config.json")
        XCTAssertEqual(config["architectures"], .array([.string("BertForSequenceClassification")]))
        let e = try Fixtures.sentinel(["evaluate", tmp + "/out", "--task", "classification", "--data", tmp + "/dev.tsv", "--json"])
        XCTAssertEqual(e.status, 0, e.stderr)
        XCTAssertEqual(try JSONValue.parse(e.stdout)["metrics"]?["accuracy"], report["validation"]?["accuracy"])
    }
}
