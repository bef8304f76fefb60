import Foundation
import SentinelCore
import SentinelFormats
import SentinelTestSupport
import XCTest

@testable import SentinelEncoder

/// The fine-tuning loop on a tiny random BERT: data order, learning, checkpoint and resume bit for bit.
final class TrainerTests: XCTestCase {
    let config = BertConfig(vocabSize: 60, hiddenSize: 16, layerCount: 2, headCount: 2, intermediateSize: 32, maxPositions: 40)

    /// Rows of 3…14 tokens (`[CLS]`=1 … `[SEP]`=2, word ids 5…59); the label of a token is `id % 3`, ignored (-100)
    /// at the special tokens and on every fourth token (as later sub-tokens are).
    func examples(_ n: Int, seed: UInt32) -> [TrainingExample] {
        var state = seed
        func next() -> Int {
            state = state &* 1_664_525 &+ 1_013_904_223
            return Int(state >> 8)
        }
        return (0..<n).map { _ in
            let length = 3 + next() % 12
            var ids: [Int32] = [1], labels: [Int32] = [-100]
            for j in 1..<(length - 1) {
                let id = Int32(5 + next() % 55)
                ids.append(id)
                labels.append(j % 4 == 3 ? -100 : id % 3)
            }
            ids.append(2)
            labels.append(-100)
            return TrainingExample(row: EncoderRow(ids: ids, types: Array(repeating: 0, count: ids.count)), labels: labels)
        }
    }

    func trainer(
        _ train: [TrainingExample], _ validation: [TrainingExample], options: TrainerOptions, checkpoint: String? = nil
    ) throws -> Trainer {
        let model = try BertModel(archive: MemoryArchive.randomBert(config, seed: 7), config: config)
        let head = TrainingBenchmark.randomClassifier(labels: 3, hidden: config.hiddenSize, seed: options.seed)
        return try Trainer(
            model: model, classifier: head, task: .tokenClassification, dropout: DropoutRates(), paddingIndex: 0, train: train,
            validation: validation, labelNames: ["O", "B-X", "I-X"], options: options, checkpointDirectory: checkpoint,
            store: checkpoint == nil ? nil : SafeTensorsStore())
    }

    func weights(_ t: Trainer) -> [String: [Float]] {
        Dictionary(uniqueKeysWithValues: t.session.parameters.map { ($0.name, $0.parameter.array) })
    }

    func testEpochOrderIsASeededPermutationOfLengthBuckets() {
        let train = examples(53, seed: 1)
        let a = Trainer.epochOrder(train, batchSize: 8, seed: 42, epoch: 0)
        XCTAssertEqual(a, Trainer.epochOrder(train, batchSize: 8, seed: 42, epoch: 0))
        XCTAssertNotEqual(a, Trainer.epochOrder(train, batchSize: 8, seed: 42, epoch: 1))
        XCTAssertNotEqual(a, Trainer.epochOrder(train, batchSize: 8, seed: 43, epoch: 0))
        XCTAssertEqual(a.flatMap { $0 }.sorted(), Array(0..<53))
        XCTAssertEqual(a.count, 7)
        XCTAssertEqual(a.map(\.count).sorted(), [5, 8, 8, 8, 8, 8, 8])
        // Length-bucketed: the batches do not overlap in length (sorted by length, then cut).
        let ranges = a.map { b in (b.map { train[$0].row.ids.count }.min()!, b.map { train[$0].row.ids.count }.max()!) }.sorted { $0.0 < $1.0 }
        for (x, y) in zip(ranges, ranges.dropFirst()) { XCTAssertLessThanOrEqual(x.1, y.0) }
        // Not in length order.
        XCTAssertNotEqual(a.map { train[$0[0]].row.ids.count }, a.map { train[$0[0]].row.ids.count }.sorted())
    }

    func testStepCountsAndScheduleFollowHFTrainer() throws {
        var options = TrainerOptions()
        options.epochs = 3
        options.batchSize = 4
        options.gradientAccumulation = 2
        options.warmupRatio = 0.1
        let t = try trainer(examples(37, seed: 2), [], options: options)
        // ⌈37 / 4⌉ = 10 batches → ⌈10 / 2⌉ = 5 steps per epoch; warm-up ⌈0.1 · 15⌉ = 2.
        XCTAssertEqual(t.stepsPerEpoch, 5)
        XCTAssertEqual(t.totalSteps, 15)
        XCTAssertEqual(t.session.schedule, .linear(5e-5, warmupSteps: 2, totalSteps: 15))
    }

    /// A learnable task (label = id mod 3): token accuracy on held-out rows goes from chance to nearly all.
    func testLearnsATokenTask() throws {
        var options = TrainerOptions()
        options.epochs = 8
        options.batchSize = 8
        options.learningRate = 3e-3
        options.logEvery = 5
        let validation = examples(40, seed: 9)
        let t = try trainer(examples(200, seed: 3), validation, options: options)
        let before = try XCTUnwrap(t.evaluate(validation, source: "validation").value("accuracy"))
        let after = try XCTUnwrap(t.run()?.value("accuracy"))
        XCTAssertLessThan(before, 0.6)
        XCTAssertGreaterThan(after, 0.95)
        let losses = t.history.compactMap { $0["loss"]?.doubleValue }
        XCTAssertEqual(losses.count, t.totalSteps / 5)
        XCTAssertLessThan(losses.last!, losses.first! / 4)
        // One evaluation line per epoch.
        XCTAssertEqual(t.history.filter { $0["eval_accuracy"] != nil }.count, 8)
    }

    /// A run stopped after k steps (as if killed) and resumed from its last checkpoint ends with the same weights,
    /// the same optimizer state and the same log as an uninterrupted run, bit for bit, whether it stopped within an
    /// epoch or just after one.
    func testResumedRunEqualsUninterruptedRunBitForBit() throws {
        var options = TrainerOptions()
        options.epochs = 2
        options.batchSize = 4
        options.gradientAccumulation = 2
        options.warmupRatio = 0.2
        options.checkpointEvery = 2
        options.logEvery = 1
        options.learningRate = 1e-3
        let train = examples(37, seed: 4), validation = examples(9, seed: 5)
        let reference = try trainer(train, validation, options: options)
        try reference.run()
        XCTAssertEqual(reference.session.optimizerStep, 10)
        let expected = weights(reference)

        for stop in [3, 6, 7] {
            let tmp = try Fixtures.temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: tmp) }
            let killed = try trainer(train, validation, options: options, checkpoint: tmp + "/checkpoint")
            killed.stopAfterStep = stop
            XCTAssertThrowsError(try killed.run()) { XCTAssertTrue($0 is Trainer.Interrupted) }
            let resumed = try trainer(train, validation, options: options, checkpoint: tmp + "/checkpoint")
            XCTAssertTrue(resumed.hasCheckpoint)
            try resumed.resume()
            // Checkpoints every 2 steps and at the epoch end (step 5; the one of step 6 is never written when stopped at 6).
            XCTAssertEqual(resumed.session.optimizerStep, [3: 2, 6: 5, 7: 6][stop], "stopped at \(stop)")
            try resumed.run()
            XCTAssertEqual(resumed.session.optimizerStep, 10)
            let got = weights(resumed)
            for (name, values) in expected {
                XCTAssertTrue(values == got[name]!, "\(name) differs after stopping at step \(stop)")
            }
            for (p, q) in zip(reference.session.parameters, resumed.session.parameters) {
                XCTAssertTrue(p.expAvgSqValues == q.expAvgSqValues, "\(p.name) exp_avg_sq")
            }
            XCTAssertEqual(resumed.session.generator, reference.session.generator)
            XCTAssertEqual(
                resumed.history.map { $0.serialized(.compact) }, reference.history.map { $0.serialized(.compact) },
                "log after stopping at \(stop)")
            XCTAssertTrue(isRegularFile(tmp + "/best.safetensors"))
        }
    }

    func testResumeRefusesACheckpointOfAnotherRun() throws {
        var options = TrainerOptions()
        options.epochs = 1
        options.batchSize = 4
        options.checkpointEvery = 1
        let tmp = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        let train = examples(12, seed: 6)
        let first = try trainer(train, [], options: options, checkpoint: tmp + "/checkpoint")
        first.stopAfterStep = 2
        XCTAssertThrowsError(try first.run())
        options.batchSize = 3
        let other = try trainer(train, [], options: options, checkpoint: tmp + "/checkpoint")
        XCTAssertThrowsError(try other.resume()) { error in
            let e = error as? InputError
            XCTAssertEqual(e?.key, "batch_size")
            XCTAssertEqual(e?.file, tmp + "/checkpoint/trainer_state.json")
        }
    }

    func testTaskModelConfigAndNames() throws {
        let base = JSONValue.object([("model_type", .string("bert")), ("hidden_size", .int(16)), ("num_labels", .int(2))])
        let c = TaskModelOutput.config(base, task: .tokenClassification, labelNames: ["O", "B-PER", "I-PER"])
        XCTAssertEqual(c["architectures"], .array([.string("BertForTokenClassification")]))
        XCTAssertEqual(c["id2label"]?["1"]?.stringValue, "B-PER")
        XCTAssertEqual(c["label2id"]?["I-PER"]?.intValue, 2)
        XCTAssertEqual(c["num_labels"]?.intValue, 3)
        XCTAssertEqual(c["hidden_size"]?.intValue, 16)
        XCTAssertEqual(TaskModelOutput.taskModelName("encoder.layer.0.output.dense.weight"), "bert.encoder.layer.0.output.dense.weight")
        XCTAssertEqual(TaskModelOutput.taskModelName("classifier.bias"), "classifier.bias")
    }

    func testCurveIsAnSVGWithBothPanels() throws {
        let history: [JSONValue] = [
            .object([("step", .int(10)), ("loss", .double(2.0, text: nil))]),
            .object([("step", .int(20)), ("loss", .double(1.0, text: nil))]),
            .object([("step", .int(20)), ("epoch", .int(1)), ("eval_f1", .double(0.5, text: nil))]),
        ]
        let svg = TaskModelOutput.curve(history, metric: "f1")
        XCTAssertTrue(svg.hasPrefix("<?xml"))
        XCTAssertTrue(svg.contains("<polyline"))
        XCTAssertTrue(svg.contains("<circle"))
        XCTAssertTrue(svg.contains("validation f1"))
        XCTAssertTrue(svg.hasSuffix("</svg>\n"))
    }
}

/// The directory ``TaskModelOutput`` writes against what transformers' `save_pretrained` writes for
/// BertForTokenClassification and BertForSequenceClassification (`Formats/hf-task-models/task-models.json`, made by
/// transformers 5.24): the same tensor names, dtypes and shapes, the same config.json keys, id2label and label2id.
final class TaskModelOutputTests: XCTestCase {
    func testOutputHasTransformersNamesAndConfigKeys() throws {
        let reference = try JSONValue.read(file: Fixtures.packageRoot + "/Formats/hf-task-models/task-models.json")
        let tiny = try XCTUnwrap(reference["tiny_config"])
        let config = BertConfig(
            vocabSize: tiny["vocab_size"]!.intValue!, hiddenSize: tiny["hidden_size"]!.intValue!,
            layerCount: tiny["num_hidden_layers"]!.intValue!, headCount: tiny["num_attention_heads"]!.intValue!,
            intermediateSize: tiny["intermediate_size"]!.intValue!, maxPositions: tiny["max_position_embeddings"]!.intValue!)
        for entry in try XCTUnwrap(reference["models"]?.arrayValue) where entry["family"]?.stringValue == "bert" {
            let task: TrainingTask = entry["task"]?.stringValue == "ner" ? .tokenClassification : .sequenceClassification
            let hfConfig = try XCTUnwrap(entry["config_json"])
            let labels = try XCTUnwrap(hfConfig["id2label"]?.objectValue).map { $0.1.stringValue! }
            // The input: the same config without the task keys (what a base checkpoint has).
            let input = JSONValue.object(
                try XCTUnwrap(hfConfig.objectValue).filter { !["architectures", "id2label", "label2id"].contains($0.0) })
            let tmp = try Fixtures.temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: tmp) }
            try input.serialized(.pretty).write(toFile: tmp + "/config.json", atomically: true, encoding: .utf8)
            let model = try BertModel(archive: MemoryArchive.randomBert(config, seed: 1), config: config)
            let head = TrainingBenchmark.randomClassifier(labels: labels.count, hidden: config.hiddenSize)
            let row = EncoderRow(ids: [1, 5, 2], types: [0, 0, 0])
            let example = TrainingExample(row: row, labels: task == .tokenClassification ? [-100, 1, -100] : [1])
            let trainer = try Trainer(
                model: model, classifier: head, task: task, dropout: .none, train: [example], validation: [], labelNames: labels,
                options: TrainerOptions())
            let out = tmp + "/out"
            try TaskModelOutput.write(
                to: out, replace: false, weights: trainer.parameterArchive(rename: TaskModelOutput.taskModelName),
                store: SafeTensorsStore(), config: TaskModelOutput.config(input, task: task, labelNames: labels), inputDirectory: tmp,
                history: [], metric: "f1")
            let file = try SafeTensorsFile(path: out + "/model.safetensors")
            let got = file.entries.map { "\($0.name) \($0.dtype) \($0.shape)" }.sorted()
            let expected = try XCTUnwrap(entry["tensors"]?.arrayValue).map { t in
                "\(t["name"]!.stringValue!) \(t["dtype"]!.stringValue!) \(t["shape"]!.arrayValue!.map { $0.intValue! })"
            }.sorted()
            XCTAssertEqual(got, expected, entry["class"]?.stringValue ?? "")
            let written = try JSONValue.read(file: out + "/config.json")
            XCTAssertEqual(
                Set(try XCTUnwrap(written.objectValue).map(\.0)), Set(try XCTUnwrap(entry["config_keys"]?.arrayValue).map { $0.stringValue! }))
            XCTAssertEqual(written["architectures"], hfConfig["architectures"])
            XCTAssertEqual(written["id2label"], hfConfig["id2label"])
            // transformers sorts label2id by key; the mapping is what matters.
            let sortedLabel2id = { (v: JSONValue?) in (v?.objectValue ?? []).sorted { $0.0 < $1.0 }.map { "\($0.0)=\($0.1.intValue ?? -1)" } }
            XCTAssertEqual(sortedLabel2id(written["label2id"]), sortedLabel2id(hfConfig["label2id"]))
            XCTAssertEqual(Set(try directoryEntries(out)), ["model.safetensors", "config.json", "metrics.jsonl", "curve.svg"])
        }
    }
}
