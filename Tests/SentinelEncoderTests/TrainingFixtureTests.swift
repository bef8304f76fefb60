import Foundation
import SentinelCore
@testable import SentinelEncoder
import SentinelFormats
import SentinelTestSupport
import XCTest

/// The training core against HuggingFace transformers + PyTorch on the real MiniLM
/// (`../shared/fixtures/bert/f02_token_classification.safetensors`, `f03_sequence_classification.safetensors`):
/// loss, logits, every stored gradient, every gradient norm and the parameters after one AdamW step, with the
/// tolerances of that folder's README.
final class TrainingFixtureTests: XCTestCase {
    static let f02 = "bert/f02_token_classification.safetensors"
    static let f03 = "bert/f03_sequence_classification.safetensors"

    /// A fresh MiniLM (the session updates its parameters) with the fixture's initial classifier, dropout 0,
    /// no clipping, constant lr 5e-5: the fixtures' protocol.
    func session(_ fixture: SafeTensorsFile, task: TrainingTask, maxGradNorm: Double? = nil) throws -> TrainingSession {
        let dir = try TestPaths.miniLM()
        let model = try BertModel(archive: SafeTensorsFile(path: dir + "/model.safetensors"), config: BertConfig.load(path: dir + "/config.json"))
        let head = try ClassificationHead.load(from: fixture, hiddenSize: 384, weightName: "init.classifier.weight", biasName: "init.classifier.bias")
        return try TrainingSession(
            model: model, classifier: head, task: task, dropout: .none, seed: 0,
            schedule: .constant(5e-5), maxGradNorm: maxGradNorm)
    }

    func inputs(_ fixture: SafeTensorsFile) throws -> (EncoderBatch, [Int32]) {
        let batch = try EncoderBatch(
            inputIDs: fixture.intRows("input_ids"), attentionMask: fixture.intRows("attention_mask"),
            tokenTypeIDs: fixture.intRows("token_type_ids"))
        return (batch, try fixture.ints("labels").map { Int32($0) })
    }

    /// The README's gradient check: `|ours − ref| ≤ 1e-4 · max|ref| + 1e-8` per tensor; `atol 1e-8` for the key
    /// biases (mathematically zero).
    func assertGradient(_ ours: [Float], _ ref: [Float], _ name: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(ours.count, ref.count, name, file: file, line: line)
        guard ours.count == ref.count else { return }
        let scale = ref.reduce(Float(0)) { max($0, abs($1)) }
        let tolerance = name.contains("attention.self.key.bias") ? 1e-8 : 1e-4 * scale + 1e-8
        let d = maxAbsDiff(ours, ref)
        XCTAssertLessThanOrEqual(d, tolerance, "\(name): max |Δ| \(d), max |ref| \(scale)", file: file, line: line)
    }

    /// Every `grad.*`, `gradhead64.*`, `gradnorm.*` key of the fixture against the session's gradients; returns
    /// how many tensors were compared.
    func checkGradients(_ s: TrainingSession, _ fixture: SafeTensorsFile) throws -> (grads: Int, heads: Int, norms: Int) {
        var grads = 0, heads = 0, norms = 0
        let wordRows = s.wordEmbeddingGradientRows()
        let norm = Dictionary(uniqueKeysWithValues: zip(s.parameters.map(\.name), s.gradientNorms()))
        for entry in fixture.entries {
            let key = entry.name
            if key == "grad.embeddings.word_embeddings.weight.ids" {
                XCTAssertEqual(wordRows.ids, try fixture.ints(key), "ids of the word-embedding gradient rows")
                grads += 1
            } else if key == "grad.embeddings.word_embeddings.weight.rows" {
                assertGradient(wordRows.rows, try fixture.floats(key), key)
                if let pad = wordRows.ids.firstIndex(of: 0) {
                    XCTAssertTrue(wordRows.rows[(pad * 384)..<(pad * 384 + 384)].allSatisfy { $0 == 0 }, "[PAD] row is exactly 0")
                }
                grads += 1
            } else if key.hasPrefix("grad.") {
                let name = String(key.dropFirst(5))
                let p = try XCTUnwrap(s.parameter(named: name), name)
                XCTAssertEqual(p.shape, entry.shape, name)
                assertGradient(p.gradientValues, try fixture.floats(key), name)
                grads += 1
            } else if key.hasPrefix("gradhead64.") {
                let name = String(key.dropFirst(11))
                let p = try XCTUnwrap(s.parameter(named: name), name)
                assertGradient(Array(p.gradientValues.prefix(64)), try fixture.floats(key), key)
                heads += 1
            } else if key.hasPrefix("gradnorm.") {
                let name = String(key.dropFirst(9))
                let ours = try XCTUnwrap(norm[name], name)
                let ref = Double(try fixture.floats(key)[0])
                if name.contains("attention.self.key.bias") {
                    XCTAssertLessThanOrEqual(abs(ours - ref), 1e-8, key)
                } else {
                    XCTAssertLessThanOrEqual(abs(ours - ref), 1e-4 * abs(ref), "\(key): \(ours) vs \(ref)")
                }
                norms += 1
            }
        }
        return (grads, heads, norms)
    }

    /// The fixture's `adamw.*` tensors against the session's parameters (`atol 1e-5`, end to end).
    func checkAdamW(_ s: TrainingSession, _ fixture: SafeTensorsFile, ids: [Int]) throws -> Int {
        var n = 0
        for entry in fixture.entries where entry.name.hasPrefix("adamw.") {
            let ref = try fixture.floats(entry.name)
            let ours: [Float]
            if entry.name == "adamw.embeddings.word_embeddings.weight.rows" {
                let all = try XCTUnwrap(s.parameter(named: "embeddings.word_embeddings.weight")).parameter.array
                ours = ids.flatMap { all[($0 * 384)..<($0 * 384 + 384)] }
            } else {
                ours = try XCTUnwrap(s.parameter(named: String(entry.name.dropFirst(6))), entry.name).parameter.array
            }
            let d = maxAbsDiff(ours, ref)
            XCTAssertLessThanOrEqual(d, 1e-5, "\(entry.name) after one AdamW step: max |Δ| \(d)")
            n += 1
        }
        return n
    }

    /// f02, `BertForTokenClassification` (9 labels, 35 counted positions, padding): loss, logits, 80 `grad.*`
    /// tensors (word-embedding rows included), 24 `gradhead64.*`, all 103 `gradnorm.*`, then one AdamW step.
    func testF02TokenClassificationBackwardAndAdamW() throws {
        let fixture = try SafeTensorsFile(path: Fixtures.fixture(Self.f02))
        let s = try session(fixture, task: .tokenClassification)
        XCTAssertEqual(s.parameters.count, 103)
        let (batch, labels) = try inputs(fixture)
        let out = try s.forwardBackward(batch, labels: labels)
        XCTAssertEqual(out.labelCount, 35)
        XCTAssertEqual(out.logits.shape, [4, 16, 9])
        XCTAssertLessThanOrEqual(abs(out.loss - (try fixture.floats("loss"))[0]), 1e-5)
        XCTAssertLessThanOrEqual(abs(out.loss - (try fixture.floats("f64.loss"))[0]), 1e-5)
        XCTAssertLessThanOrEqual(maxAbsDiff(out.logits.values, try fixture.floats("logits")), 1e-5)
        let counts = try checkGradients(s, fixture)
        XCTAssertEqual(counts.grads, 80)
        XCTAssertEqual(counts.heads, 24)
        XCTAssertEqual(counts.norms, 103)
        let ids = s.wordEmbeddingGradientRows().ids
        let report = s.step()
        XCTAssertEqual(report.step, 1)
        XCTAssertEqual(report.learningRate, 5e-5)
        XCTAssertEqual(report.clipCoefficient, 1)
        XCTAssertEqual(try checkAdamW(s, fixture, ids: ids), 5)
        // step() clears the gradients.
        XCTAssertTrue(s.parameters.allSatisfy { $0.gradientValues.allSatisfy { $0 == 0 } })
        XCTAssertTrue(s.wordEmbeddingGradientRows().ids.isEmpty)
    }

    /// f03, `BertForSequenceClassification` (2 labels, pooler, a sentence pair): the same checks.
    func testF03SequenceClassificationBackwardAndAdamW() throws {
        let fixture = try SafeTensorsFile(path: Fixtures.fixture(Self.f03))
        let s = try session(fixture, task: .sequenceClassification)
        XCTAssertEqual(s.parameters.count, 105)
        let (batch, labels) = try inputs(fixture)
        XCTAssertEqual(labels, [1, 0, 1, 0])
        let out = try s.forwardBackward(batch, labels: labels)
        XCTAssertEqual(out.labelCount, 4)
        XCTAssertEqual(out.logits.shape, [4, 2])
        XCTAssertLessThanOrEqual(abs(out.loss - (try fixture.floats("loss"))[0]), 1e-5)
        XCTAssertLessThanOrEqual(maxAbsDiff(out.logits.values, try fixture.floats("logits")), 1e-5)
        XCTAssertLessThanOrEqual(maxAbsDiff(out.logits.values, try fixture.floats("f64.logits")), 1e-5)
        let counts = try checkGradients(s, fixture)
        XCTAssertEqual(counts.grads, 76)
        XCTAssertEqual(counts.heads, 30)
        XCTAssertEqual(counts.norms, 105)
        s.step()
        XCTAssertEqual(try checkAdamW(s, fixture, ids: []), 4)
    }

    /// AdamW alone (`atol 2e-7`): the initial parameters plus the fixture's float32 gradients through one
    /// ``AdamW/update(parameter:gradient:expAvg:expAvgSq:count:step:learningRate:weightDecay:)``, for every
    /// `adamw.*` tensor of f02 and f03, with HF Trainer's weight-decay grouping.
    func testAdamWIsolatedAgainstTorch() throws {
        let model = try SafeTensorsFile(path: try TestPaths.miniLM() + "/model.safetensors")
        var checked = 0
        for path in [Self.f02, Self.f03] {
            let fixture = try SafeTensorsFile(path: Fixtures.fixture(path))
            for entry in fixture.entries where entry.name.hasPrefix("adamw.") {
                var name = String(entry.name.dropFirst(6))
                var initial: [Float], gradient: [Float]
                if name == "embeddings.word_embeddings.weight.rows" {
                    name = "embeddings.word_embeddings.weight"
                    let all = try model.floats(name)
                    initial = try fixture.ints("grad.\(name).ids").flatMap { all[($0 * 384)..<($0 * 384 + 384)] }
                    gradient = try fixture.floats("grad.\(name).rows")
                } else {
                    initial = try name.hasPrefix("classifier.") ? fixture.floats("init." + name) : model.floats(name)
                    gradient = try fixture.floats("grad." + name)
                }
                XCTAssertEqual(AdamW.decays(name), !(name.hasSuffix(".bias") || name.contains("LayerNorm")))
                var m = [Float](repeating: 0, count: initial.count), v = m
                AdamW().update(
                    parameter: &initial, gradient: gradient, expAvg: &m, expAvgSq: &v, count: initial.count,
                    step: 1, learningRate: 5e-5, weightDecay: AdamW.decays(name) ? 0.01 : 0)
                let d = maxAbsDiff(initial, try fixture.floats(entry.name))
                XCTAssertLessThanOrEqual(d, 2e-7, "\(path) \(entry.name): max |Δ| \(d)")
                checked += 1
            }
        }
        XCTAssertEqual(checked, 9)
    }

    /// Clipping to 1.0 on f02: the total norm equals √Σ gradnorm² of the fixture (1.928), and the clipped step
    /// equals AdamW applied to the stored gradients times `1 / (1.928 + 1e-6)` (clip_grad_norm_'s coefficient).
    func testF02ClippedStepMatchesTheFormula() throws {
        let fixture = try SafeTensorsFile(path: Fixtures.fixture(Self.f02))
        let s = try session(fixture, task: .tokenClassification, maxGradNorm: 1.0)
        let (batch, labels) = try inputs(fixture)
        _ = try s.forwardBackward(batch, labels: labels)
        let reference = GradientClipping.totalNorm(
            try fixture.entries.filter { $0.name.hasPrefix("gradnorm.") }
                .map { Double(try fixture.floats($0.name)[0]) })
        XCTAssertEqual(reference, 1.928, accuracy: 5e-4)
        let report = s.step()
        XCTAssertEqual(report.gradientNorm, reference, accuracy: 1e-4 * reference)
        let coefficient = 1 / (reference + 1e-6)
        XCTAssertEqual(report.clipCoefficient, coefficient, accuracy: 1e-4 * coefficient)
        for name in ["classifier.weight", "classifier.bias", "encoder.layer.5.output.dense.weight", "encoder.layer.5.output.LayerNorm.weight"] {
            var p =
                try name.hasPrefix("classifier.")
                ? fixture.floats("init." + name)
                : SafeTensorsFile(path: try TestPaths.miniLM() + "/model.safetensors").floats(name)
            let g = try fixture.floats("grad." + name).map { $0 * Float(coefficient) }
            var m = [Float](repeating: 0, count: p.count), v = m
            AdamW().update(
                parameter: &p, gradient: g, expAvg: &m, expAvgSq: &v, count: p.count, step: 1,
                learningRate: 5e-5, weightDecay: AdamW.decays(name) ? 0.01 : 0)
            let ours = try XCTUnwrap(s.parameter(named: name)).parameter.array
            XCTAssertLessThanOrEqual(maxAbsDiff(ours, p), 1e-5, name)
            // The parameters move by ≈ lr·sign(g) either way; the first moment shows the clipping: 0.1 · g · coefficient.
            let m1 = try XCTUnwrap(s.parameter(named: name)).expAvgValues
            XCTAssertLessThanOrEqual(maxAbsDiff(m1, g.map { 0.1 * $0 }), 1e-4 * 0.1 * g.reduce(0) { max($0, abs($1)) } + 1e-9, name)
            XCTAssertGreaterThan(maxAbsDiff(m1, try fixture.floats("grad." + name).map { 0.1 * $0 }), 0.01 * 0.1 * g.reduce(0) { max($0, abs($1)) })
        }
    }
}

extension TensorArchive {
    /// An I64 tensor of any shape as a flat array of Int.
    func ints(_ name: String) throws -> [Int] {
        guard let e = entry(named: name), e.dtype == .I64 else {
            throw InputError(.missing, file: path, key: name, "missing or not an I64 tensor")
        }
        return try withBytes(of: name) { raw in
            (0..<e.elementCount).map { Int(raw.loadUnaligned(fromByteOffset: 8 * $0, as: Int64.self)) }
        }
    }
}
