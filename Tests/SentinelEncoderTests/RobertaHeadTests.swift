import Foundation
import SentinelCore
import SentinelFormats
import SentinelTestSupport
@testable import SentinelEncoder
import XCTest

/// RoBERTa task models built from the fixture's `RobertaModel` (`roberta.`-prefixed, as transformers names them) with
/// a seeded head: the heads' logits against the same head applied in float64 to transformers' `last_hidden_state`
/// (forward.safetensors). `sentinel predict` on such a checkpoint: ``RobertaPredictCommandTests`` (SentinelCLITests).
final class RobertaHeadTests: XCTestCase {
    static let model = Fixtures.fixture("roberta/model")
    let h = 128, labels = 3

    /// A deterministic head: values from a 64-bit LCG, scaled to ±0.1 (not a reference value, only inputs).
    func seeded(_ n: Int, _ seed: UInt64) -> [Float] {
        var s = seed
        return (0..<n).map { _ in
            s = s &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Float(Int64(bitPattern: s >> 11) % 2001 - 1000) / 10_000
        }
    }

    /// The fixture's encoder under `roberta.` (without the pooler, as `RobertaForSequenceClassification` has none)
    /// plus `extra` tensors.
    func archive(sequence: Bool) throws -> MemoryArchive {
        let base = try SafeTensorsFile(path: Self.model + "/model.safetensors")
        let a = MemoryArchive(path: "roberta-task")
        for e in base.entries where !(sequence && e.name.hasPrefix("pooler.")) {
            try base.withBytes(of: e.name) { a.add(TensorEntry(name: "roberta." + e.name, dtype: e.dtype, shape: e.shape), bytes: Array($0)) }
        }
        if sequence {
            a.add("classifier.dense.weight", shape: [h, h], values: seeded(h * h, 1))
            a.add("classifier.dense.bias", shape: [h], values: seeded(h, 2))
            a.add("classifier.out_proj.weight", shape: [labels, h], values: seeded(labels * h, 3))
            a.add("classifier.out_proj.bias", shape: [labels], values: seeded(labels, 4))
        } else {
            a.add("classifier.weight", shape: [labels, h], values: seeded(labels * h, 5))
            a.add("classifier.bias", shape: [labels], values: seeded(labels, 6))
        }
        return a
    }

    func testSequenceClassificationHeadOnTransformersHiddenStates() throws {
        let config = try BertConfig.load(path: Self.model + "/config.json")
        let a = try archive(sequence: true)
        let model = try RobertaForSequenceClassification(archive: a, config: config)
        XCTAssertNil(model.roberta.pooler)
        let fixture = try SafeTensorsFile(path: Fixtures.fixture("roberta/forward.safetensors"))
        let ids = try fixture.intRows("input_ids"), mask = try fixture.intRows("attention_mask")
        let logits = try model.forward(EncoderBatch(inputIDs: ids, attentionMask: mask))
        XCTAssertEqual(logits.shape, [6, labels])
        // out_proj(tanh(dense(h[:, 0]))) in float64 on transformers' last_hidden_state.
        let hidden = try fixture.floats("last_hidden_state")
        let dw = seeded(h * h, 1), db = seeded(h, 2), ow = seeded(labels * h, 3), ob = seeded(labels, 4)
        for r in 0..<6 {
            let x = (0..<h).map { Double(hidden[r * 63 * h + $0]) }
            var y = [Double](repeating: 0, count: h)
            for o in 0..<h {
                var acc = Double(db[o])
                for j in 0..<h { acc += x[j] * Double(dw[o * h + j]) }
                y[o] = tanh(acc)
            }
            for k in 0..<labels {
                var expected = Double(ob[k])
                for j in 0..<h { expected += y[j] * Double(ow[k * h + j]) }
                XCTAssertEqual(Double(logits.values[r * labels + k]), expected, accuracy: 1e-4, "row \(r) label \(k)")
            }
        }
    }

    func testTokenClassificationLoadsTheRobertaPrefix() throws {
        let config = try BertConfig.load(path: Self.model + "/config.json")
        let model = try BertForTokenClassification(archive: archive(sequence: false), config: config)
        let fixture = try SafeTensorsFile(path: Fixtures.fixture("roberta/forward.safetensors"))
        let ids = try fixture.intRows("input_ids"), mask = try fixture.intRows("attention_mask")
        let logits = try model.forward(EncoderBatch(inputIDs: ids, attentionMask: mask))
        XCTAssertEqual(logits.shape, [6, 63, labels])
        let hidden = try fixture.floats("last_hidden_state")
        let w = seeded(labels * h, 5), b = seeded(labels, 6)
        for (r, p) in [(0, 0), (0, 11), (3, 27), (5, 62)] {
            XCTAssertEqual(mask[r][p], 1)
            for k in 0..<labels {
                var expected = Double(b[k])
                for j in 0..<h { expected += Double(hidden[(r * 63 + p) * h + j]) * Double(w[k * h + j]) }
                XCTAssertEqual(Double(logits.values[(r * 63 + p) * labels + k]), expected, accuracy: 1e-4)
            }
        }
    }
}
