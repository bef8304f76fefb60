import XCTest
import SentinelCore
import SentinelEncoder
import SentinelFormats
import SentinelTestSupport
import SentinelTokenizer

/// The real MiniLM tokenizer, loaded once for all tests.
let miniLMTokenizer: Result<BertTokenizer, Error> = Result { try BertTokenizer.load(directory: try Fixtures.miniLM()) }

/// The f01 sentences of `../shared/fixtures/bert/cases_shared.json` as plain-text lines (a TAB before the pair's second
/// sentence).
func f01PlainText() throws -> String {
    var text = ""
    for item in try XCTUnwrap(Fixtures.json("bert/cases_shared.json")["f01"]?.arrayValue) {
        let pair = try XCTUnwrap(item.arrayValue)
        text += try XCTUnwrap(pair[0].stringValue) + (pair[1].stringValue.map { "\t" + $0 } ?? "") + "\n"
    }
    return text
}

/// Deterministic head values: a 64-bit LCG scaled to ±0.1 (inputs of the tests, not reference values).
func seededValues(_ n: Int, _ seed: UInt64) -> [Float] {
    var s = seed
    return (0..<n).map { _ in
        s = s &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return Float(Int64(bitPattern: s >> 11) % 2001 - 1000) / 10_000
    }
}

/// A RoBERTa-architecture task checkpoint from a fixture's base `model.safetensors` (RoBERTa or XLM-R): the encoder
/// under `roberta.` (without the pooler for sequence classification, as `RobertaForSequenceClassification` has none)
/// plus a seeded head: `classifier.dense` + `classifier.out_proj` (`sequence`) or `classifier` (token classification).
func robertaTaskArchive(base: String, sequence: Bool, hidden h: Int = 128, labels: Int = 3) throws -> MemoryArchive {
    let weights = try SafeTensorsFile(path: base + "/model.safetensors")
    let a = MemoryArchive(path: "roberta-task")
    for e in weights.entries where !(sequence && e.name.hasPrefix("pooler.")) {
        try weights.withBytes(of: e.name) { a.add(TensorEntry(name: "roberta." + e.name, dtype: e.dtype, shape: e.shape), bytes: Array($0)) }
    }
    if sequence {
        a.add("classifier.dense.weight", shape: [h, h], values: seededValues(h * h, 1))
        a.add("classifier.dense.bias", shape: [h], values: seededValues(h, 2))
        a.add("classifier.out_proj.weight", shape: [labels, h], values: seededValues(labels * h, 3))
        a.add("classifier.out_proj.bias", shape: [labels], values: seededValues(labels, 4))
    } else {
        a.add("classifier.weight", shape: [labels, h], values: seededValues(labels * h, 5))
        a.add("classifier.bias", shape: [labels], values: seededValues(labels, 6))
    }
    return a
}
