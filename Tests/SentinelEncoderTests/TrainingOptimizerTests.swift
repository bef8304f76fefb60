import Foundation
import SentinelCore
@testable import SentinelEncoder
import SentinelFormats
import SentinelTestSupport
import XCTest

/// Dropout masks, the learning-rate schedule, clipping, gradient accumulation and the optimizer state.
final class TrainingOptimizerTests: XCTestCase {
    let c = BertConfig(vocabSize: 40, hiddenSize: 20, layerCount: 2, headCount: 4, intermediateSize: 28, maxPositions: 12)

    func session(
        seed: UInt64 = 0, dropout: DropoutRates = DropoutRates(hidden: 0.2, attentionProbabilities: 0.2, classifier: 0.2),
        schedule: LearningRateSchedule = .constant(1e-3), maxGradNorm: Double? = 1.0
    ) throws -> TrainingSession {
        let model = try BertModel(archive: MemoryArchive.randomBert(c, seed: 4), config: c)
        return try TrainingSession(
            model: model, classifier: TrainingBenchmark.randomClassifier(labels: 3, hidden: 20, seed: 2),
            task: .tokenClassification, dropout: dropout, seed: seed, schedule: schedule, maxGradNorm: maxGradNorm)
    }

    func batch() throws -> (EncoderBatch, [Int32]) {
        let b = try EncoderBatch(inputIDs: [[2, 7, 9, 3, 0], [2, 11, 12, 13, 3]], attentionMask: [[1, 1, 1, 1, 0], [1, 1, 1, 1, 1]])
        return (b, [-100, 1, 2, -100, -100, -100, 0, 1, 2, -100])
    }

    // MARK: Dropout

    /// The same seed gives bitwise the same loss, logits and gradients; another seed different ones.
    func testDropoutIsDeterministicForASeed() throws {
        let (b, y) = try batch()
        let a = try session(seed: 1), a2 = try session(seed: 1), other = try session(seed: 2)
        let ra = try a.forwardBackward(b, labels: y), ra2 = try a2.forwardBackward(b, labels: y), ro = try other.forwardBackward(b, labels: y)
        XCTAssertEqual(ra.loss.bitPattern, ra2.loss.bitPattern)
        XCTAssertEqual(ra.logits, ra2.logits)
        for (p, q) in zip(a.parameters, a2.parameters) { XCTAssertEqual(p.gradientValues, q.gradientValues, p.name) }
        XCTAssertNotEqual(ra.logits, ro.logits)
        XCTAssertNotEqual(a.parameters[0].gradientValues, other.parameters[0].gradientValues)
        // The next step draws new masks.
        XCTAssertNotEqual(try a.forwardBackward(b, labels: y).logits, ra.logits)
    }

    /// Masks depend only on (seed, draw, index): the same with 1 and 2 threads.
    func testMasksDoNotDependOnTheThreadCount() {
        let n = 100_003
        var one = [Float](repeating: 0, count: n), two = one
        let saved = BLAS.threads
        defer { BLAS.configure(threads: saved) }
        BLAS.configure(threads: 1)
        var g1 = DropoutGenerator(seed: 9)
        g1.fill(&one, count: n, rate: 0.1)
        BLAS.configure(threads: 2)
        var g2 = DropoutGenerator(seed: 9)
        g2.fill(&two, count: n, rate: 0.1)
        XCTAssertEqual(one, two)
        XCTAssertEqual(g1.draws, 1)
    }

    /// Rate statistics over 2²⁰ values for p = 0.1 and 0.5: the dropped fraction within 5σ of p, kept values exactly
    /// 1/(1 − p), neighbours independent (both dropped ≈ p²), and successive draws independent.
    func testDropoutRateStatistics() {
        let n = 1 << 20
        for p: Float in [0.1, 0.5] {
            var g = DropoutGenerator(seed: 123)
            var m = [Float](repeating: 0, count: n), m2 = m
            g.fill(&m, count: n, rate: p)
            g.fill(&m2, count: n, rate: p)
            let dropped = m.filter { $0 == 0 }.count
            let sigma = (Double(p) * Double(1 - p) / Double(n)).squareRoot()
            XCTAssertEqual(Double(dropped) / Double(n), Double(p), accuracy: 5 * sigma, "rate \(p)")
            XCTAssertTrue(m.allSatisfy { $0 == 0 || $0 == 1 / (1 - p) })
            let p2 = Double(p * p), sigma2 = (p2 * (1 - p2) / Double(n)).squareRoot()
            let pairs = (0..<(n - 1)).filter { m[$0] == 0 && m[$0 + 1] == 0 }.count
            XCTAssertEqual(Double(pairs) / Double(n - 1), p2, accuracy: 5 * sigma2, "neighbours at rate \(p)")
            let both = (0..<n).filter { m[$0] == 0 && m2[$0] == 0 }.count
            XCTAssertEqual(Double(both) / Double(n), p2, accuracy: 5 * sigma2, "successive draws at rate \(p)")
            // The mean of the kept-and-scaled values is 1 (dropout keeps the expectation).
            XCTAssertEqual(m.reduce(0.0) { $0 + Double($1) } / Double(n), 1, accuracy: 5 * sigma / Double(1 - p))
        }
    }

    /// `DropoutRates(json:)`: HF's defaults and `classifier_dropout: null` falling back to `hidden_dropout_prob`.
    func testDropoutRatesFromConfig() throws {
        let json = try JSONValue.parse(#"{"hidden_dropout_prob": 0.2, "attention_probs_dropout_prob": 0.05, "classifier_dropout": null}"#)
        XCTAssertEqual(try DropoutRates(json: json, file: "c.json"), DropoutRates(hidden: 0.2, attentionProbabilities: 0.05, classifier: 0.2))
        XCTAssertEqual(
            try DropoutRates(json: JSONValue.parse("{}"), file: "c.json"), DropoutRates(hidden: 0.1, attentionProbabilities: 0.1, classifier: 0.1))
        let bad = try JSONValue.parse(#"{"hidden_dropout_prob": 1.5}"#)
        XCTAssertThrowsError(try DropoutRates(json: bad, file: "c.json")) { e in
            XCTAssertEqual((e as? InputError)?.key, "hidden_dropout_prob")
            XCTAssertEqual((e as? InputError)?.file, "c.json")
        }
        // MiniLM's own config.
        let mini = try DropoutRates.load(path: try TestPaths.miniLM() + "/config.json")
        XCTAssertEqual(mini, DropoutRates(hidden: 0.1, attentionProbabilities: 0.1, classifier: nil))
    }

    // MARK: Schedule and clipping

    /// `get_linear_schedule_with_warmup(lr 1e-4, warmup 10, total 100)`: λ(s) = s/10 for s < 10, else (100 − s)/90, ≥ 0.
    func testLinearScheduleWithWarmup() {
        let s = LearningRateSchedule.linear(1e-4, warmupSteps: 10, totalSteps: 100)
        XCTAssertEqual(s.learningRate(at: 0), 0)
        XCTAssertEqual(s.learningRate(at: 1), 1e-5, accuracy: 1e-18)
        XCTAssertEqual(s.learningRate(at: 5), 5e-5, accuracy: 1e-18)
        XCTAssertEqual(s.learningRate(at: 10), 1e-4, accuracy: 1e-18)
        XCTAssertEqual(s.learningRate(at: 55), 1e-4 * 45 / 90, accuracy: 1e-18)
        XCTAssertEqual(s.learningRate(at: 99), 1e-4 / 90, accuracy: 1e-18)
        XCTAssertEqual(s.learningRate(at: 100), 0)
        XCTAssertEqual(s.learningRate(at: 130), 0)
        let noWarmup = LearningRateSchedule.linear(2e-5, warmupSteps: 0, totalSteps: 4)
        for (step, expected) in [2e-5, 1.5e-5, 1e-5, 0.5e-5, 0].enumerated() {
            XCTAssertEqual(noWarmup.learningRate(at: step), expected, accuracy: 1e-18)
        }
        XCTAssertEqual(LearningRateSchedule.constant(3e-5).learningRate(at: 1000), 3e-5)
    }

    /// The session's steps follow the schedule (the first step at λ(0) = 0 with a warm-up: parameters only decay).
    func testSessionStepsFollowTheSchedule() throws {
        let s = try session(dropout: .none, schedule: .linear(1e-3, warmupSteps: 2, totalSteps: 4))
        let (b, y) = try batch()
        var rates: [Double] = []
        let before = s.parameter(named: "encoder.layer.0.output.dense.bias")!.parameter.array
        for _ in 0..<4 {
            _ = try s.forwardBackward(b, labels: y)
            rates.append(s.step().learningRate)
        }
        for (r, e) in zip(rates, [0, 5e-4, 1e-3, 5e-4]) { XCTAssertEqual(r, e, accuracy: 1e-15) }
        XCTAssertEqual(s.optimizerStep, 4)
        XCTAssertNotEqual(s.parameter(named: "encoder.layer.0.output.dense.bias")!.parameter.array, before)
    }

    /// `clip_grad_norm_`: coefficient `min(1, max / (total + 1e-6))`, total = √Σ norms²; the session scales every
    /// gradient by it (checked through the first moment, m = 0.1 · g after one step).
    func testClippingCoefficientAndScaling() throws {
        XCTAssertEqual(GradientClipping.totalNorm([3, 4]), 5)
        XCTAssertEqual(GradientClipping.coefficient(totalNorm: 5, maxNorm: 1), 1 / (5 + 1e-6))
        XCTAssertEqual(GradientClipping.coefficient(totalNorm: 0.5, maxNorm: 1), 1)
        let (b, y) = try batch()
        let s = try session(dropout: .none, maxGradNorm: 0.01)
        _ = try s.forwardBackward(b, labels: y)
        let norms = s.gradientNorms()
        let total = GradientClipping.totalNorm(norms)
        XCTAssertGreaterThan(total, 0.01)
        let grads = s.parameters.map(\.gradientValues)
        let report = s.step()
        XCTAssertEqual(report.gradientNorm, total)
        XCTAssertEqual(report.clipCoefficient, 0.01 / (total + 1e-6))
        let k = Float(report.clipCoefficient)
        for (p, g) in zip(s.parameters, grads) {
            let expected = g.map { 0.1 * ($0 * k) }
            XCTAssertLessThanOrEqual(maxAbsDiff(p.expAvgValues, expected), 1e-6 * (expected.map(abs).max() ?? 0) + 1e-12, p.name)
        }
        // After clipping the total norm of the gradients that were used is the maximum.
        let clipped = zip(grads, [Float](repeating: k, count: grads.count)).map { g, k in g.reduce(0.0) { $0 + Double($1 * k) * Double($1 * k) } }
        XCTAssertEqual(clipped.reduce(0, +).squareRoot(), 0.01, accuracy: 1e-6)
    }

    /// Gradient accumulation: two half-batches with `lossScale` ½ give the gradient of the mean of their losses.
    func testGradientAccumulation() throws {
        let s = try session(dropout: .none)
        let one = try EncoderBatch(inputIDs: [[2, 7, 9, 3]]), two = try EncoderBatch(inputIDs: [[2, 11, 12, 3]])
        let y1: [Int32] = [-100, 1, 2, -100], y2: [Int32] = [-100, 0, 1, -100]
        _ = try s.forwardBackward(one, labels: y1, lossScale: 0.5)
        _ = try s.forwardBackward(two, labels: y2, lossScale: 0.5)
        let accumulated = s.parameters.map(\.gradientValues)
        s.zeroGradients()
        _ = try s.forwardBackward(one, labels: y1)
        let g1 = s.parameters.map(\.gradientValues)
        s.zeroGradients()
        _ = try s.forwardBackward(two, labels: y2)
        let g2 = s.parameters.map(\.gradientValues)
        for i in accumulated.indices {
            let expected = zip(g1[i], g2[i]).map { 0.5 * ($0 + $1) }
            let scale = expected.map(abs).max() ?? 0
            XCTAssertLessThanOrEqual(maxAbsDiff(accumulated[i], expected), 1e-6 * scale + 1e-12, s.parameters[i].name)
        }
        XCTAssertEqual(s.wordEmbeddingGradientRows().ids, [2, 3, 11, 12], "zeroGradients cleared the rows of the first pair")
    }

    // MARK: Errors

    func testBadLabelsAreTypedErrors() throws {
        let s = try session()
        let (b, _) = try batch()
        XCTAssertThrowsError(try s.forwardBackward(b, labels: [1, 2])) { XCTAssertEqual(($0 as? InputError)?.key, "labels") }
        var y = [Int32](repeating: -100, count: 10)
        XCTAssertThrowsError(try s.forwardBackward(b, labels: y)) { XCTAssertEqual(($0 as? InputError)?.code, .invalidStructure) }
        y[7] = 3
        XCTAssertThrowsError(try s.forwardBackward(b, labels: y)) { e in
            XCTAssertEqual((e as? InputError)?.code, .outOfRange)
            XCTAssertEqual((e as? InputError)?.key, "labels[1][2]")
        }
        let model = try BertModel(archive: MemoryArchive.randomBert(c), config: c)
        XCTAssertThrowsError(
            try TrainingSession(
                model: model, classifier: TrainingBenchmark.randomClassifier(labels: 2, hidden: 20),
                task: .tokenClassification, dropout: DropoutRates(hidden: 1))
        ) {
            XCTAssertEqual(($0 as? InputError)?.key, "hidden_dropout_prob")
        }
    }

    // MARK: Optimizer state

    /// Save after two steps, restore into a second session holding the same weights: the third step is bitwise the
    /// same (moments, step count, schedule position and dropout generator all restored).
    func testOptimizerStateRoundTrip() throws {
        let schedule = LearningRateSchedule.linear(1e-3, warmupSteps: 1, totalSteps: 10)
        let a = try session(seed: 3, schedule: schedule)
        let (b, y) = try batch()
        for _ in 0..<2 {
            _ = try a.forwardBackward(b, labels: y)
            a.step()
        }
        let dir = try Fixtures.temporaryDirectory("optimizer-state")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try SafeTensorsWriter.write(a.optimizerState(), to: dir + "/optimizer.safetensors")
        let file = try SafeTensorsFile(path: dir + "/optimizer.safetensors")
        XCTAssertEqual(file.entries.count, 2 * a.parameters.count + 3)
        XCTAssertEqual(file.entry(named: "exp_avg_sq.encoder.layer.1.output.dense.weight")?.shape, [20, 28])

        let r = try session(seed: 77, schedule: schedule)
        for (p, q) in zip(a.parameters, r.parameters) {
            q.parameter.mutableValues().update(from: p.parameter.values, count: p.count)
        }
        try r.restoreOptimizerState(from: file)
        XCTAssertEqual(r.optimizerStep, 2)
        XCTAssertEqual(r.generator, a.generator)
        for (p, q) in zip(a.parameters, r.parameters) {
            XCTAssertEqual(p.expAvgValues, q.expAvgValues, p.name)
            XCTAssertEqual(p.expAvgSqValues, q.expAvgSqValues, p.name)
        }
        let la = try a.forwardBackward(b, labels: y).loss, lr = try r.forwardBackward(b, labels: y).loss
        XCTAssertEqual(la.bitPattern, lr.bitPattern)
        XCTAssertEqual(a.step().learningRate, r.step().learningRate)
        for (p, q) in zip(a.parameters, r.parameters) { XCTAssertEqual(p.parameter.array, q.parameter.array, p.name) }

        // A state missing a tensor is refused, naming it, and changes nothing.
        let state = a.optimizerState()
        let partial = state.entries.filter { $0.name != "exp_avg.classifier.bias" }.map { SafeTensorsWriter.Item.copy($0, from: state) }
        try SafeTensorsWriter.write(partial, to: dir + "/partial.safetensors")
        let stepBefore = r.optimizerStep
        XCTAssertThrowsError(try r.restoreOptimizerState(from: SafeTensorsFile(path: dir + "/partial.safetensors"))) { e in
            XCTAssertEqual((e as? InputError)?.code, .missing)
            XCTAssertEqual((e as? InputError)?.key, "exp_avg.classifier.bias")
            XCTAssertEqual((e as? InputError)?.file, dir + "/partial.safetensors")
        }
        XCTAssertEqual(r.optimizerStep, stepBefore)
    }
}
