import Foundation
import SentinelCore
@testable import SentinelEncoder
import SentinelTestSupport
import SentinelFormats
import XCTest

/// Loading: name prefixes, dtype conversion, borrowed F32 weights, one error listing every bad parameter.
final class LoadingTests: XCTestCase {
    let tiny = BertConfig(
        vocabSize: 50, hiddenSize: 32, layerCount: 2, headCount: 4, intermediateSize: 48,
        activation: .gelu, layerNormEps: 1e-12, maxPositions: 20, typeVocabSize: 2)

    func sampleBatch() throws -> EncoderBatch {
        try EncoderBatch(
            inputIDs: [[1, 7, 9, 3, 0, 0], [1, 4, 2, 5, 8, 3]],
            attentionMask: [[1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1]],
            tokenTypeIDs: [[0, 0, 0, 0, 0, 0], [0, 0, 0, 1, 1, 1]])
    }

    /// Values exactly representable in F16 and BF16 (multiples of 2⁻¹⁰ below 0.04), so every dtype holds
    /// the same numbers and the outputs must be identical bit for bit.
    func exactArchive(_ dtype: DType, prefix: String = "") -> MemoryArchive {
        let source = MemoryArchive.randomBert(tiny, seed: 3)
        let out = MemoryArchive()
        for e in source.entries {
            let values = (try? source.floats(e.name)) ?? []
            let rounded = values.map { ($0 * 1024).rounded() / 1024 }
            out.add(prefix + e.name, shape: e.shape, values: rounded, dtype: dtype)
        }
        return out
    }

    func testF16BF16F64WeightsGiveTheSameOutputsAsF32() throws {
        let reference = try BertModel(archive: exactArchive(.F32), config: tiny).forward(sampleBatch())
        for dtype in [DType.F16, .BF16, .F64] {
            let out = try BertModel(archive: exactArchive(dtype), config: tiny).forward(sampleBatch())
            XCTAssertEqual(out.lastHiddenState, reference.lastHiddenState, "\(dtype)")
            XCTAssertEqual(out.poolerOutput, reference.poolerOutput, "\(dtype)")
        }
    }

    func testBertPrefixIsAccepted() throws {
        let plain = try BertModel(archive: exactArchive(.F32), config: tiny).forward(sampleBatch())
        let prefixed = try BertModel(archive: exactArchive(.F32, prefix: "bert."), config: tiny).forward(sampleBatch())
        XCTAssertEqual(plain.lastHiddenState, prefixed.lastHiddenState)
    }

    func testF32WeightsOfASafetensorsFileAreUsedInPlace() throws {
        let archive = exactArchive(.F32)
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("tiny-\(getpid()).safetensors").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try SafeTensorsWriter.write(archive.entries.map { .copy($0, from: archive) }, to: path)
        let file = try SafeTensorsFile(path: path)
        let model = try BertModel(archive: file, config: tiny)
        XCTAssertTrue(model.parameters.allSatisfy { !$0.isOwned }, "every F32 parameter borrows the mapping")
        let mapped = file.file.bytes
        let q = model.layers[0].query.weight
        XCTAssertTrue(UnsafeRawPointer(q.values) >= mapped.baseAddress! && UnsafeRawPointer(q.values) < mapped.baseAddress! + mapped.count)
        XCTAssertEqual(
            try model.forward(sampleBatch()).lastHiddenState,
            try BertModel(archive: archive, config: tiny).forward(sampleBatch()).lastHiddenState)
        // Updating in place copies out of the read-only mapping first; the file's bytes stay as they were.
        let before = q.values[0]
        let w = q.mutableValues()
        w[0] += 1
        XCTAssertTrue(q.isOwned)
        XCTAssertEqual(q.values[0], before + 1)
        let stored = try file.withBytes(of: "encoder.layer.0.attention.self.query.weight") { $0.load(as: Float.self) }
        XCTAssertEqual(stored, before)
    }

    /// A sharded safetensors checkpoint (index + two shards): weights still borrowed from the mappings.
    func testShardedSafetensorsWeightsAreUsedInPlace() throws {
        let archive = exactArchive(.F32)
        let dir = try Fixtures.temporaryDirectory("encoder-shards")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let half = archive.entries.count / 2
        var map: [(String, JSONValue)] = []
        for (i, part) in [archive.entries[..<half], archive.entries[half...]].enumerated() {
            let name = "model-0000\(i + 1)-of-00002.safetensors"
            try SafeTensorsWriter.write(part.map { .copy($0, from: archive) }, to: dir + "/" + name)
            map += part.map { ($0.name, JSONValue.string(name)) }
        }
        let index = dir + "/model.safetensors.index.json"
        try JSONValue.object([("metadata", .object([])), ("weight_map", .object(map))]).serialized(.pretty)
            .write(toFile: index, atomically: true, encoding: .utf8)
        let sharded = try openTensorArchive(path: index)
        let model = try BertModel(archive: sharded, config: tiny)
        XCTAssertTrue(model.parameters.allSatisfy { !$0.isOwned })
        XCTAssertEqual(
            try model.forward(sampleBatch()).lastHiddenState,
            try BertModel(archive: archive, config: tiny).forward(sampleBatch()).lastHiddenState)
    }

    func testMissingAndMisshapedParametersAreListedInOneError() throws {
        let archive = exactArchive(.F32)
        archive.remove("encoder.layer.1.attention.self.key.bias")
        archive.remove("embeddings.LayerNorm.weight")
        archive.add("encoder.layer.0.intermediate.dense.weight", shape: [47, 32], values: Array(repeating: 0, count: 47 * 32))
        XCTAssertThrowsError(try BertModel(archive: archive, config: tiny)) { error in
            guard let e = error as? InputError else { return XCTFail("\(error)") }
            XCTAssertEqual(e.code, .missing)
            XCTAssertTrue(e.message.contains("encoder.layer.1.attention.self.key.bias: missing"), e.message)
            XCTAssertTrue(e.message.contains("embeddings.LayerNorm.weight: missing"), e.message)
            XCTAssertTrue(e.message.contains("encoder.layer.0.intermediate.dense.weight: shape [47, 32], expected [48, 32]"), e.message)
            XCTAssertTrue(e.message.hasPrefix("3 "), e.message)
        }
    }

    func testNonFloatWeightIsRejected() throws {
        let archive = exactArchive(.F32)
        archive.add(TensorEntry(name: "pooler.dense.bias", dtype: .I32, shape: [32]), bytes: Array(repeating: 0, count: 128))
        XCTAssertThrowsError(try BertModel(archive: archive, config: tiny)) { error in
            XCTAssertEqual((error as? InputError)?.code, .unknownDType)
            XCTAssertEqual((error as? InputError)?.key, "pooler.dense.bias")
        }
    }

    func testConfigFieldsAndErrors() throws {
        let json = try JSONValue.parse(
            #"{"vocab_size": 50, "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 48, "hidden_act": "gelu_new", "layer_norm_eps": 1e-5}"#
        )
        let c = try BertConfig(json: json, file: "config.json")
        XCTAssertEqual(c.activation, .geluTanh)
        XCTAssertEqual(c.layerNormEps, 1e-5)
        XCTAssertEqual(c.maxPositions, 512)
        XCTAssertEqual(c.headSize, 8)
        XCTAssertEqual(c.labelNames, [])
        let labelled = try BertConfig(
            json: JSONValue.parse(
                #"{"vocab_size": 50, "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 48, "id2label": {"1": "B-PER", "0": "O"}}"#
            ), file: "config.json")
        XCTAssertEqual(labelled.labelNames, ["O", "B-PER"])
        XCTAssertThrowsError(
            try BertConfig(
                json: JSONValue.parse(
                    #"{"vocab_size": 50, "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 48, "id2label": {"0": "O", "2": "X"}}"#
                ), file: "config.json"))
        for (text, key) in [
            (
                #"{"vocab_size": 50, "hidden_size": 30, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 48}"#,
                "num_attention_heads"
            ),
            (#"{"vocab_size": 50, "hidden_size": 32, "num_attention_heads": 4, "intermediate_size": 48}"#, "num_hidden_layers"),
            (
                #"{"vocab_size": 50, "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 48, "hidden_act": "swish"}"#,
                "hidden_act"
            ),
        ] {
            XCTAssertThrowsError(try BertConfig(json: JSONValue.parse(text), file: "config.json")) { error in
                XCTAssertEqual((error as? InputError)?.key, key)
                XCTAssertEqual((error as? InputError)?.file, "config.json")
            }
        }
    }

    func testInputIDsOutsideTheVocabularyAreRejected() throws {
        let model = try BertModel(archive: exactArchive(.F32), config: tiny)
        XCTAssertThrowsError(try model.forward(inputIDs: [[1, 50]])) { error in
            XCTAssertEqual((error as? InputError)?.code, .outOfRange)
            XCTAssertEqual((error as? InputError)?.key, "input_ids[0][1]")
        }
        XCTAssertThrowsError(try model.forward(inputIDs: [Array(repeating: 1, count: 21)]))
        XCTAssertThrowsError(try model.forward(inputIDs: [[1, 2]], tokenTypeIDs: [[0, 2]]))
    }

    /// Keeping the activations for a backward pass (per-layer buffers, softmax normalised before P·V
    /// instead of after) gives the same outputs up to float32 rounding.
    func testKeepingActivationsGivesTheSameOutputs() throws {
        let model = try BertModel(archive: exactArchive(.F32), config: tiny)
        let a = try model.forward(sampleBatch(), outputHiddenStates: true)
        let b = try model.forward(sampleBatch(), outputHiddenStates: true, keepActivations: true)
        XCTAssertLessThanOrEqual(maxAbsDiff(a.lastHiddenState.values, b.lastHiddenState.values), 1e-5)
        XCTAssertEqual(a.hiddenStates.count, 3)
        for (x, y) in zip(a.hiddenStates, b.hiddenStates) { XCTAssertLessThanOrEqual(maxAbsDiff(x.values, y.values), 1e-5) }
        XCTAssertEqual(a.hiddenStates.last, a.lastHiddenState)
        XCTAssertNotEqual(a.hiddenStates[1], a.hiddenStates[2])
    }
}
