import Foundation
import SentinelCore
@testable import SentinelEncoder
import SentinelTestSupport
import XCTest

/// Finite-difference checks of the backward pass on tiny random models: the analytic float32 gradient of every
/// parameter tensor against central differences of a float64 loss written independently here from the fixture
/// README's description (embeddings + LayerNorm, eager attention with a padded additive mask, FFN with each
/// activation, pooler, both heads with `CrossEntropyLoss(ignore_index=-100)`).
final class GradientCheckTests: XCTestCase {
    /// hidden 20 (one 16-lane vector + a scalar tail), 4 heads of 5, FFN 28, 2 layers, 20 positions, vocab 40.
    func config(_ activation: Activation) -> BertConfig {
        BertConfig(
            vocabSize: 40, hiddenSize: 20, layerCount: 2, headCount: 4, intermediateSize: 28, activation: activation,
            layerNormEps: 1e-12, maxPositions: 20, typeVocabSize: 2)
    }

    /// Random weights of order 1 in the activations (linear weights ±√3/√in, LayerNorm weights 1 ± 0.3, biases ±0.2),
    /// so that softmax, GELU and tanh are away from their linear regions.
    func randomParameters(_ c: BertConfig, labels: Int, seed: UInt64) -> [String: [Double]] {
        var state = seed
        func next() -> Double {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Double(state >> 11) / Double(1 << 53) * 2 - 1
        }
        let base = MemoryArchive.randomBert(c)
        var out: [String: [Double]] = [:]
        for e in base.entries {
            let n = e.elementCount, name = e.name
            if name.contains("LayerNorm.weight") {
                out[name] = (0..<n).map { _ in 1 + 0.3 * next() }
            } else if name.hasSuffix(".bias") || name.contains("LayerNorm") {
                out[name] = (0..<n).map { _ in 0.2 * next() }
            } else if name.contains("embeddings") {
                out[name] = (0..<n).map { _ in next() }
            } else {
                let scale = 3.0.squareRoot() / Double(e.shape[1]).squareRoot()
                out[name] = (0..<n).map { _ in scale * next() }
            }
        }
        out["classifier.weight"] = (0..<(labels * c.hiddenSize)).map { _ in 0.5 * next() }
        out["classifier.bias"] = (0..<labels).map { _ in 0.2 * next() }
        return out
    }

    func session(_ c: BertConfig, _ p: [String: [Double]], task: TrainingTask, dropout: DropoutRates = .none, seed: UInt64 = 0) throws
        -> TrainingSession
    {
        let archive = MemoryArchive()
        for (name, values) in p where !name.hasPrefix("classifier.") {
            let shape = MemoryArchive.randomBert(c).entry(named: name)!.shape
            archive.add(name, shape: shape, values: values.map { Float($0) })
        }
        let labels = p["classifier.bias"]!.count
        let head = ClassificationHead(
            linear: Linear(
                weight: Parameter(name: "classifier.weight", shape: [labels, c.hiddenSize], values: p["classifier.weight"]!.map { Float($0) }),
                bias: Parameter(name: "classifier.bias", shape: [labels], values: p["classifier.bias"]!.map { Float($0) })))
        return try TrainingSession(
            model: BertModel(archive: archive, config: c), classifier: head, task: task, dropout: dropout,
            seed: seed, maxGradNorm: nil)
    }

    /// 5 sequences of 18 tokens (one 16-lane vector + a tail in every attention row; 90 tokens, more than the 64 up
    /// to which the products split columns instead of rows): right padding in three of them (id 0, mask 0), a sentence
    /// pair in the third (token type 1 on its second half), repeated ids (the word-embedding rows accumulate); token
    /// labels on most valid positions, `-100` on `[CLS]` (2), `[SEP]` (3), padding and every third position.
    static let length = 18
    static let valid = [14, 9, 18, 18, 5]
    let ids: [[Int]] = (0..<5).map { r in
        (0..<GradientCheckTests.length).map { i in
            let n = GradientCheckTests.valid[r]
            return i == 0 ? 2 : i == n - 1 ? 3 : i >= n ? 0 : 4 + (i * 5 + r * 3) % 23
        }
    }
    let mask: [[Int]] = (0..<5).map { r in (0..<GradientCheckTests.length).map { $0 < GradientCheckTests.valid[r] ? 1 : 0 } }
    let types: [[Int]] = (0..<5).map { r in (0..<GradientCheckTests.length).map { r == 2 && $0 >= 10 ? 1 : 0 } }
    let tokenLabels: [[Int]] = (0..<5).map { r in
        (0..<GradientCheckTests.length).map { i in
            i == 0 || i >= GradientCheckTests.valid[r] - 1 || i % 3 == 0 ? -100 : (i * 7 + r) % 5
        }
    }
    let sequenceLabels = [2, 0, 1, 4, 2]

    /// The float64 loss: HF BERT (eager attention, additive mask), then the head and the mean cross-entropy.
    func referenceLoss(_ p: [String: [Double]], _ c: BertConfig, task: TrainingTask) -> Double {
        let h = c.hiddenSize, nh = c.headCount, d = c.headSize, eps = Double(c.layerNormEps)
        let b = ids.count, l = ids[0].count
        func layerNorm(_ x: [Double], _ w: [Double], _ bias: [Double]) -> [Double] {
            let mean = x.reduce(0, +) / Double(x.count)
            let v = x.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(x.count)
            return x.indices.map { (x[$0] - mean) / (v + eps).squareRoot() * w[$0] + bias[$0] }
        }
        func linear(_ x: [Double], _ name: String) -> [Double] {
            let w = p[name + ".weight"]!, bias = p[name + ".bias"]!
            let n = x.count
            var y = bias
            for o in 0..<bias.count {
                var acc = bias[o]
                for i in 0..<n { acc += x[i] * w[o * n + i] }
                y[o] = acc
            }
            return y
        }
        func act(_ x: Double) -> Double {
            switch c.activation {
            case .gelu: return 0.5 * x * (1 + erf(x / 2.0.squareRoot()))
            case .geluTanh: return 0.5 * x * (1 + tanh((2 / Double.pi).squareRoot() * (x + 0.044715 * x * x * x)))
            case .relu: return max(0, x)
            }
        }
        let word = p["embeddings.word_embeddings.weight"]!, pos = p["embeddings.position_embeddings.weight"]!
        let tt = p["embeddings.token_type_embeddings.weight"]!
        var x: [[Double]] = []
        for r in 0..<b {
            for i in 0..<l {
                let e = (0..<h).map { word[ids[r][i] * h + $0] + pos[i * h + $0] + tt[types[r][i] * h + $0] }
                x.append(layerNorm(e, p["embeddings.LayerNorm.weight"]!, p["embeddings.LayerNorm.bias"]!))
            }
        }
        for layer in 0..<c.layerCount {
            let pre = "encoder.layer.\(layer)."
            let q = x.map { linear($0, pre + "attention.self.query") }
            let k = x.map { linear($0, pre + "attention.self.key") }
            let v = x.map { linear($0, pre + "attention.self.value") }
            var ctx = [[Double]](repeating: [Double](repeating: 0, count: h), count: b * l)
            for r in 0..<b {
                for head in 0..<nh {
                    for i in 0..<l {
                        var s = [Double](repeating: 0, count: l)
                        for j in 0..<l {
                            var dot = 0.0
                            for c2 in 0..<d { dot += q[r * l + i][head * d + c2] * k[r * l + j][head * d + c2] }
                            s[j] = dot / Double(d).squareRoot() + (mask[r][j] == 1 ? 0 : -Double.greatestFiniteMagnitude)
                        }
                        let m = s.max()!
                        s = s.map { exp($0 - m) }
                        let z = s.reduce(0, +)
                        for c2 in 0..<d {
                            var acc = 0.0
                            for j in 0..<l { acc += s[j] / z * v[r * l + j][head * d + c2] }
                            ctx[r * l + i][head * d + c2] = acc
                        }
                    }
                }
            }
            let h1 = (0..<(b * l)).map { i in
                let a = linear(ctx[i], pre + "attention.output.dense")
                return layerNorm(
                    (0..<h).map { a[$0] + x[i][$0] }, p[pre + "attention.output.LayerNorm.weight"]!, p[pre + "attention.output.LayerNorm.bias"]!)
            }
            x = h1.map { row in
                let o = linear(linear(row, pre + "intermediate.dense").map(act), pre + "output.dense")
                return layerNorm((0..<h).map { o[$0] + row[$0] }, p[pre + "output.LayerNorm.weight"]!, p[pre + "output.LayerNorm.bias"]!)
            }
        }
        func crossEntropy(_ logits: [Double], _ y: Int) -> Double {
            let m = logits.max()!
            return m + log(logits.reduce(0) { $0 + exp($1 - m) }) - logits[y]
        }
        var total = 0.0, n = 0
        switch task {
        case .tokenClassification:
            for r in 0..<b {
                for i in 0..<l where tokenLabels[r][i] != -100 {
                    total += crossEntropy(linear(x[r * l + i], "classifier"), tokenLabels[r][i])
                    n += 1
                }
            }
        case .sequenceClassification:
            for r in 0..<b {
                let pooled = linear(x[r * l], "pooler.dense").map { tanh($0) }
                total += crossEntropy(linear(pooled, "classifier"), sequenceLabels[r])
                n += 1
            }
        }
        return total / Double(n)
    }

    func batch() throws -> EncoderBatch { try EncoderBatch(inputIDs: ids, attentionMask: mask, tokenTypeIDs: types) }
    func labels(_ task: TrainingTask) -> [Int32] {
        task == .tokenClassification ? tokenLabels.flatMap { $0 }.map(Int32.init) : sequenceLabels.map(Int32.init)
    }

    /// For every parameter tensor: the directional derivative along a random ±1 direction `u`, `(L(θ+εu) − L(θ−εu)) / 2ε`
    /// in float64 with ε = 1e-5, against `Σ g·u` of the session's float32 gradient; tolerance `2e-4 · Σ|g| + 1e-7`
    /// (float32 rounding), which a gradient wrong by more than ~1 % in any sizeable part fails.
    func check(_ activation: Activation, task: TrainingTask, file: StaticString = #filePath, line: UInt = #line) throws {
        let c = config(activation)
        let p = randomParameters(c, labels: 5, seed: 7)
        let s = try session(c, p, task: task)
        XCTAssertGreaterThan(try batch().inputIDs.count, 64, "the row-split product path", file: file, line: line)
        let out = try s.forwardBackward(batch(), labels: labels(task))
        let exact = referenceLoss(p, c, task: task)
        XCTAssertEqual(Double(out.loss), exact, accuracy: 1e-5 * max(1, abs(exact)), "loss", file: file, line: line)
        var state: UInt64 = 99
        var checked = 0
        for tp in s.parameters {
            let g = tp.gradientValues
            var u = [Double](repeating: 0, count: g.count)
            for i in u.indices {
                state = state &* 6_364_136_223_846_793_005 &+ 1
                u[i] = state >> 63 == 0 ? 1 : -1
            }
            let analytic = zip(g, u).reduce(0.0) { $0 + Double($1.0) * $1.1 }
            let scale = g.reduce(0.0) { $0 + abs(Double($1)) }
            let epsilon = 1e-5
            var plus = p, minus = p
            let base = p[tp.name]!
            plus[tp.name] = zip(base, u).map { $0 + epsilon * $1 }
            minus[tp.name] = zip(base, u).map { $0 - epsilon * $1 }
            let numeric = (referenceLoss(plus, c, task: task) - referenceLoss(minus, c, task: task)) / (2 * epsilon)
            XCTAssertEqual(
                analytic, numeric, accuracy: 2e-4 * scale + 1e-7,
                "\(activation) \(task) \(tp.name): analytic \(analytic), finite difference \(numeric)", file: file, line: line)
            if !tp.name.contains("attention.self.key.bias") && !tp.name.hasPrefix("embeddings.token_type") {
                XCTAssertGreaterThan(scale, 1e-6, "\(tp.name) has a gradient", file: file, line: line)
            }
            checked += 1
        }
        XCTAssertEqual(checked, 5 + 16 * c.layerCount + (task == .sequenceClassification ? 2 : 0) + 2, file: file, line: line)
    }

    func testTokenClassificationExactGELU() throws { try check(.gelu, task: .tokenClassification) }
    func testTokenClassificationTanhGELU() throws { try check(.geluTanh, task: .tokenClassification) }
    func testTokenClassificationReLU() throws { try check(.relu, task: .tokenClassification) }
    func testSequenceClassificationWithPooler() throws { try check(.gelu, task: .sequenceClassification) }

    /// The word-embedding gradient lives in the rows of the ids used (most of them several times), the `[PAD]` row
    /// (id 0, `padding_idx`) stays exactly 0, and every other row is exactly 0.
    func testWordEmbeddingGradientRows() throws {
        let c = config(.gelu)
        let s = try session(c, randomParameters(c, labels: 5, seed: 3), task: .tokenClassification)
        _ = try s.forwardBackward(batch(), labels: labels(.tokenClassification))
        let rows = s.wordEmbeddingGradientRows()
        XCTAssertEqual(rows.ids, Array(Set(ids.flatMap { $0 })).sorted())
        XCTAssertEqual(rows.ids.first, 0)
        XCTAssertLessThan(rows.ids.count, c.vocabSize)
        let dense = try XCTUnwrap(s.parameter(named: "embeddings.word_embeddings.weight")).gradientValues
        for id in 0..<c.vocabSize {
            let row = Array(dense[(id * 20)..<(id * 20 + 20)])
            if let k = rows.ids.firstIndex(of: id) { XCTAssertEqual(row, Array(rows.rows[(k * 20)..<(k * 20 + 20)])) }
            if id == 0 || !rows.ids.contains(id) { XCTAssertTrue(row.allSatisfy { $0 == 0 }, "row \(id)") }
        }
        XCTAssertTrue(rows.rows[20..<40].contains { $0 != 0 }, "row of id 2 ([CLS] here) has a gradient")
    }

    /// Dropout's backward pass: with the masks held fixed (the generator rewound), the directional derivative of the
    /// session's own float32 loss matches the analytic gradient (hidden, attention-probability and classifier dropout
    /// 0.3; both heads). Central differences in float32 with ε = 1e-2: tolerance 2 % of Σ|g·u| plus the float32 noise.
    func testDropoutBackwardWithFixedMasks() throws {
        for task in [TrainingTask.tokenClassification, .sequenceClassification] {
            let c = config(.gelu)
            let p = randomParameters(c, labels: 5, seed: 11)
            let s = try session(c, p, task: task, dropout: DropoutRates(hidden: 0.3, attentionProbabilities: 0.3, classifier: 0.3), seed: 5)
            let start = s.generator
            let out = try s.forwardBackward(batch(), labels: labels(task))
            let grads = s.parameters.map(\.gradientValues)
            let without = try session(c, p, task: task)
            XCTAssertNotEqual(out.loss, try without.forwardBackward(batch(), labels: labels(task)).loss, "dropout changes the loss")
            for (tp, g) in zip(s.parameters, grads) where g.contains(where: { $0 != 0 }) {
                let values = tp.parameter.mutableValues()
                let saved = tp.parameter.array
                let u: [Float] = (0..<tp.count).map { $0 % 3 == 0 ? -1 : 1 }
                func loss(_ e: Float) throws -> Double {
                    for i in 0..<tp.count { values[i] = saved[i] + e * u[i] }
                    s.generator = start
                    return Double(try s.forwardBackward(batch(), labels: labels(task)).loss)
                }
                let e: Float = 1e-2
                let numeric = (try loss(e) - loss(-e)) / (2 * Double(e))
                for i in 0..<tp.count { values[i] = saved[i] }
                let analytic = zip(g, u).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
                let scale = zip(g, u).reduce(0.0) { $0 + abs(Double($1.0) * Double($1.1)) }
                // 5e-5: the float32 loss (≈ 2, ulp 2.4e-7) differenced over 2ε.
                XCTAssertEqual(analytic, numeric, accuracy: 0.02 * scale + 5e-5, "\(task) \(tp.name) with dropout")
            }
        }
    }

    /// With dropout 0 the training forward gives the inference path's logits (`BertForTokenClassification.forward`).
    func testTrainingForwardMatchesInference() throws {
        let c = config(.gelu)
        let s = try session(c, randomParameters(c, labels: 5, seed: 1), task: .tokenClassification)
        let out = try s.forwardBackward(batch(), labels: labels(.tokenClassification))
        let inference = try BertForTokenClassification(bert: s.model, classifier: s.classifier).forward(batch())
        XCTAssertEqual(out.logits.shape, inference.shape)
        XCTAssertLessThanOrEqual(maxAbsDiff(out.logits.values, inference.values), 1e-5)
    }
}
