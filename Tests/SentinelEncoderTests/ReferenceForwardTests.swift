import Foundation
import SentinelCore
@testable import SentinelEncoder
import XCTest

/// The encoder against a plain float64 forward pass written from the fixture README's description
/// ("What the model computes"), on small random models whose sizes are not multiples of the 16-lane
/// vectors (scalar tails) and with each activation.
final class ReferenceForwardTests: XCTestCase {
    /// A float64 BERT forward, loops only: embeddings + LayerNorm; per layer softmax(QKᵀ/√d + mask)V,
    /// dense, residual, LayerNorm, dense → act → dense, residual, LayerNorm; pooler tanh(dense(h[:,0])).
    func reference(_ a: TensorArchive, _ c: BertConfig, ids: [[Int]], mask: [[Int]], types: [[Int]]) throws -> (hidden: [Double], pooled: [Double]) {
        func p(_ name: String) throws -> [Double] { try a.floats(name).map(Double.init) }
        let h = c.hiddenSize, f = c.intermediateSize, nh = c.headCount, d = c.headSize, eps = Double(c.layerNormEps)
        let b = ids.count, l = ids[0].count
        func layerNorm(_ x: [Double], _ w: [Double], _ bias: [Double]) -> [Double] {
            let mean = x.reduce(0, +) / Double(x.count)
            var v = 0.0
            for e in x { v += (e - mean) * (e - mean) }
            v /= Double(x.count)
            let rstd: Double = 1 / (v + eps).squareRoot()
            var out = [Double](repeating: 0, count: x.count)
            for i in x.indices { out[i] = (x[i] - mean) * rstd * w[i] + bias[i] }
            return out
        }
        func linear(_ x: [Double], _ w: [Double], _ bias: [Double], out: Int) -> [Double] {
            let n = x.count
            var y = [Double](repeating: 0, count: out)
            for o in 0..<out {
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
        let word = try p("embeddings.word_embeddings.weight"), pos = try p("embeddings.position_embeddings.weight")
        let tt = try p("embeddings.token_type_embeddings.weight")
        var x: [[Double]] = []
        for r in 0..<b {
            for i in 0..<l {
                var e = [Double](repeating: 0, count: h)
                for j in 0..<h { e[j] = word[ids[r][i] * h + j] + pos[i * h + j] + tt[types[r][i] * h + j] }
                x.append(layerNorm(e, try p("embeddings.LayerNorm.weight"), try p("embeddings.LayerNorm.bias")))
            }
        }
        for layer in 0..<c.layerCount {
            let pre = "encoder.layer.\(layer)."
            func lin(_ name: String, _ v: [Double], _ out: Int) throws -> [Double] {
                linear(v, try p(pre + name + ".weight"), try p(pre + name + ".bias"), out: out)
            }
            let q = try x.map { try lin("attention.self.query", $0, h) }
            let k = try x.map { try lin("attention.self.key", $0, h) }
            let v = try x.map { try lin("attention.self.value", $0, h) }
            var ctx = [[Double]](repeating: [Double](repeating: 0, count: h), count: b * l)
            for r in 0..<b {
                for head in 0..<nh {
                    for i in 0..<l {
                        var s = [Double](repeating: 0, count: l)
                        for j in 0..<l {
                            var dot = 0.0
                            for c2 in 0..<d { dot += q[r * l + i][head * d + c2] * k[r * l + j][head * d + c2] }
                            s[j] = dot / Double(d).squareRoot() + (mask[r][j] == 1 ? 0 : -1e300)
                        }
                        let m = s.max()!
                        var z = 0.0
                        for j in 0..<l {
                            s[j] = exp(s[j] - m)
                            z += s[j]
                        }
                        for c2 in 0..<d {
                            var acc = 0.0
                            for j in 0..<l { acc += s[j] / z * v[r * l + j][head * d + c2] }
                            ctx[r * l + i][head * d + c2] = acc
                        }
                    }
                }
            }
            for t in 0..<(b * l) {
                let ao = try lin("attention.output.dense", ctx[t], h)
                var sum1 = ao
                for j in 0..<h { sum1[j] += x[t][j] }
                let h1 = layerNorm(sum1, try p(pre + "attention.output.LayerNorm.weight"), try p(pre + "attention.output.LayerNorm.bias"))
                let inter = try lin("intermediate.dense", h1, f).map(act)
                var sum2 = try lin("output.dense", inter, h)
                for j in 0..<h { sum2[j] += h1[j] }
                x[t] = layerNorm(sum2, try p(pre + "output.LayerNorm.weight"), try p(pre + "output.LayerNorm.bias"))
            }
        }
        let pooled = try (0..<b).flatMap { r in
            linear(x[r * l], try p("pooler.dense.weight"), try p("pooler.dense.bias"), out: h).map(tanh)
        }
        return (x.flatMap { $0 }, pooled)
    }

    func testOddSizesAndEveryActivationMatchAFloat64Reference() throws {
        for act in Activation.allCases {
            let config = BertConfig(
                vocabSize: 40, hiddenSize: 36, layerCount: 2, headCount: 3, intermediateSize: 50,
                activation: act, layerNormEps: 1e-12, maxPositions: 24, typeVocabSize: 2)
            let archive = MemoryArchive.randomBert(config, seed: 7)
            // Larger weights than the 0.02 init, so that the layers do more than pass the embeddings on.
            let scaled = MemoryArchive()
            for e in archive.entries {
                let values = try archive.floats(e.name)
                scaled.add(e.name, shape: e.shape, values: e.name.contains("LayerNorm") ? values : values.map { $0 * 25 })
            }
            let ids = [[2, 17, 5, 33, 9, 0, 0], [2, 8, 8, 1, 30, 21, 3]]
            let mask = [[1, 1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1, 1]]
            let types = [[0, 0, 0, 0, 0, 0, 0], [0, 0, 0, 1, 1, 1, 1]]
            let out = try BertModel(archive: scaled, config: config).forward(inputIDs: ids, attentionMask: mask, tokenTypeIDs: types)
            let ref = try reference(scaled, config, ids: ids, mask: mask, types: types)
            let flatMask = mask.flatMap { $0 }
            var worst = 0.0
            for (i, (a, r)) in zip(out.lastHiddenState.values, ref.hidden).enumerated() where flatMask[i / 36] == 1 {
                worst = max(worst, abs(Double(a) - r))
            }
            print("\(act): max abs difference to the float64 reference \(worst)")
            XCTAssertLessThanOrEqual(worst, 2e-5, "\(act)")
            let pooled = try XCTUnwrap(out.poolerOutput).values
            XCTAssertLessThanOrEqual(zip(pooled, ref.pooled).map { abs(Double($0) - $1) }.max()!, 2e-5, "\(act)")
            // The layers changed something (the test is not comparing two copies of the embeddings).
            XCTAssertGreaterThan(ref.hidden.map(abs).max()!, 0.5)
        }
    }
}
