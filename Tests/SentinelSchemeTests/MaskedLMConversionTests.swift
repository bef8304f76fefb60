import Foundation
import SentinelFormats
import SentinelScheme
import SentinelCore
import SentinelTestSupport
import XCTest

/// A `BertForMaskedLM` checkpoint through the converter: the decoder tied to the word embeddings stays tied
/// (it is the adapted matrix), and the prediction biases move with the ids by the reference converter's
/// mapping for key llm123 (`../shared/fixtures/seed-converter/minilm-llm123-f2-shuffle/mapping.json`).
final class MaskedLMConversionTests: XCTestCase {
    let vocabSize = 30522, hidden = 8
    let embedding = "bert.embeddings.word_embeddings.weight", decoder = "cls.predictions.decoder.weight"
    let bias = "cls.predictions.bias", decoderBias = "cls.predictions.decoder.bias"
    let dense = "cls.predictions.transform.dense.weight"

    private func values(_ n: Int, seed: UInt64) -> [Float] {
        var s = seed
        return (0..<n).map { _ in
            s = s &* 6364136223846793005 &+ 1442695040888963407
            return Float(Int(s >> 40) - (1 << 23)) / Float(1 << 23)
        }
    }

    /// MiniLM's tokenizer files and a small masked-LM checkpoint (hidden 8) with the MiniLM vocabulary,
    /// written as a torch file whose decoder is the embedding tensor and decoder bias the bias tensor.
    private func maskedLMDirectory(in tmp: String) throws -> (dir: String, embedding: [Float], bias: [Float]) {
        let model = try Fixtures.miniLM()
        let dir = tmp + "/mlm"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        for f in ["vocab.txt", "tokenizer_config.json", "special_tokens_map.json"] {
            try FileManager.default.copyItem(atPath: model + "/" + f, toPath: dir + "/" + f)
        }
        let config = try JSONValue.read(file: model + "/config.json")
            .setting("architectures", to: .array([.string("BertForMaskedLM")])).setting("hidden_size", to: .int(Int64(hidden)))
        try config.serialized(.pretty).write(toFile: dir + "/config.json", atomically: true, encoding: .utf8)
        let e = values(vocabSize * hidden, seed: 1), b = values(vocabSize, seed: 2), d = values(hidden * hidden, seed: 3)
        func item(_ name: String, _ shape: [Int], _ v: [Float]) -> SafeTensorsWriter.Item {
            SafeTensorsWriter.Item(entry: TensorEntry(name: name, dtype: .F32, shape: shape)) { sink in try v.withUnsafeBytes { try sink($0) } }
        }
        try TorchWriter.write(
            [
                item(embedding, [vocabSize, hidden], e), item(bias, [vocabSize], b), item(dense, [hidden, hidden], d),
                item(decoder, [vocabSize, hidden], e), item(decoderBias, [vocabSize], b),
            ],
            ties: [decoder: embedding, decoderBias: bias], to: dir + "/pytorch_model.bin")
        return (dir, e, b)
    }

    private func floats(_ archive: TensorArchive, _ name: String) throws -> [Float] {
        try archive.withBytes(of: name) { Array($0.bindMemory(to: Float.self)) }
    }

    func testDecoderStaysTiedAndBiasesMoveWithTheIDs() throws {
        let tmp = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        let (dir, _, originalBias) = try maskedLMDirectory(in: tmp)
        let source = try TorchCheckpoint(path: dir + "/pytorch_model.bin")
        XCTAssertEqual(source.ties, [decoder: embedding, decoderBias: bias])
        let reference = try XCTUnwrap(Fixtures.json("seed-converter/minilm-llm123-f2-shuffle/mapping.json").objectValue)
        var mapping = Array(0..<vocabSize)
        for (old, new) in reference { mapping[try XCTUnwrap(Int(old))] = try XCTUnwrap(new.intValue) }
        XCTAssertNotEqual(mapping, Array(0..<vocabSize))

        for format in [WeightsFormat.pytorch, .safetensors] {
            let out = tmp + "/adapted-" + format.rawValue
            let report = try SeedConverter.convert(
                model: dir, output: out, passkey: "llm123",
                options: ConversionOptions(shuffle: true, glideSteps: 2, format: format))
            XCTAssertEqual(Set(report.changedTensors), [embedding, decoder, bias, decoderBias], format.rawValue)
            XCTAssertFalse(report.warnings.contains { $0.contains("vocabulary-sized") }, "\(report.warnings)")
            let adapted = try openTensorArchive(path: out + "/" + format.fileName)
            if let torch = adapted as? TorchCheckpoint {
                // Still one tensor each: the file holds 3 storages, not 5.
                XCTAssertEqual(Set(torch.sameObjectGroups.map { Set($0) }), [Set([embedding, decoder]), Set([bias, decoderBias])])
                XCTAssertEqual(torch.storages.count, 3)
            }
            let adaptedEmbedding = try floats(adapted, embedding)
            XCTAssertEqual(try floats(adapted, decoder), adaptedEmbedding, "the decoder is the adapted embedding matrix")
            for name in [bias, decoderBias] {
                let moved = try floats(adapted, name)
                for old in 0..<vocabSize where moved[mapping[old]] != originalBias[old] {
                    XCTFail("\(format.rawValue) \(name): adapted id \(mapping[old]) does not hold the bias of original id \(old)")
                    break
                }
            }
            XCTAssertEqual(try floats(adapted, dense), try floats(source, dense))
        }
    }
}
