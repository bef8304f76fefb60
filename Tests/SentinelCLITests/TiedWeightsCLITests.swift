import Foundation
import SentinelCore
import SentinelFormats
import SentinelTestSupport
import XCTest

/// A `BertForMaskedLM` checkpoint built from MiniLM (`bert.` names, a masked-LM head whose decoder is tied to
/// the word embeddings): export keeps the tie (the file does not grow by a second embedding matrix), convert
/// moves the head with the ids, verify passes it with the right key and fails it with a wrong one.
final class TiedWeightsCLITests: XCTestCase {
    let env: [String: String?] = ["SENTINEL_KEY": "llm123"]

    private func maskedLMModel(in tmp: String) throws -> String {
        let model = try Fixtures.miniLM()
        let dir = tmp + "/mlm"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        for f in ["vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"] {
            try FileManager.default.copyItem(atPath: model + "/" + f, toPath: dir + "/" + f)
        }
        let config = try JSONValue.read(file: model + "/config.json").setting("architectures", to: .array([.string("BertForMaskedLM")]))
        try config.serialized(.pretty).write(toFile: dir + "/config.json", atomically: true, encoding: .utf8)
        let base = try SafeTensorsFile(path: model + "/model.safetensors")
        var items = base.entries.filter { !$0.name.hasPrefix("pooler.") }.map { e in
            SafeTensorsWriter.Item(entry: TensorEntry(name: "bert." + e.name, dtype: e.dtype, shape: e.shape)) { sink in
                try base.withBytes(of: e.name) { try sink($0) }
            }
        }
        var state: UInt64 = 42
        func item(_ name: String, _ shape: [Int], scale: Float, offset: Float = 0) -> SafeTensorsWriter.Item {
            let v = (0..<shape.reduce(1, *)).map { _ -> Float in
                state = state &* 6364136223846793005 &+ 1442695040888963407
                return offset + scale * (Float(state >> 40) / Float(1 << 24) - 0.5)
            }
            return SafeTensorsWriter.Item(entry: TensorEntry(name: name, dtype: .F32, shape: shape)) { sink in try v.withUnsafeBytes { try sink($0) }
            }
        }
        items += [
            item("cls.predictions.bias", [30522], scale: 1),
            item("cls.predictions.transform.dense.weight", [384, 384], scale: 0.1),
            item("cls.predictions.transform.dense.bias", [384], scale: 0.1),
            item("cls.predictions.transform.LayerNorm.weight", [384], scale: 0.1, offset: 1),
            item("cls.predictions.transform.LayerNorm.bias", [384], scale: 0.1),
        ]
        let embedding = try XCTUnwrap(items.first { $0.entry.name == "bert.embeddings.word_embeddings.weight" })
        items.append(
            SafeTensorsWriter.Item(
                entry: TensorEntry(name: "cls.predictions.decoder.weight", dtype: .F32, shape: embedding.entry.shape),
                produce: embedding.produce))
        try TorchWriter.write(
            items, ties: ["cls.predictions.decoder.weight": "bert.embeddings.word_embeddings.weight"],
            to: dir + "/pytorch_model.bin")
        return dir
    }

    private func fileSize(_ path: String) throws -> Int {
        (try FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.intValue ?? -1
    }

    func testExportKeepsTiesAndConvertAndVerifyHandleTheMaskedLMHead() throws {
        let tmp = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        let original = try maskedLMModel(in: tmp)
        let bin = original + "/pytorch_model.bin"
        let embeddingBytes = 30522 * 384 * 4

        let export = try Fixtures.sentinel(["export", bin, "--output", tmp + "/exported.bin", "--format", "pytorch", "--json"])
        XCTAssertEqual(export.status, 0, export.stderr)
        XCTAssertEqual(try JSONValue.parse(export.stdout)["tied"]?.intValue, 1)
        let inSize = try fileSize(bin), outSize = try fileSize(tmp + "/exported.bin")
        XCTAssertLessThan(abs(outSize - inSize), embeddingBytes / 10, "exported \(outSize) bytes from \(inSize)")
        let exported = try TorchCheckpoint(path: tmp + "/exported.bin")
        XCTAssertEqual(exported.sameObjectGroups, [["bert.embeddings.word_embeddings.weight", "cls.predictions.decoder.weight"]])

        let adapted = tmp + "/adapted"
        let c = try Fixtures.sentinel(
            ["convert", "--scheme", "seed", original, "--output", adapted, "--shuffle", "--format", "pytorch", "--json"], environment: env)
        XCTAssertEqual(c.status, 0, c.stderr)
        let changed = try XCTUnwrap(JSONValue.parse(c.stdout)["changed_tensors"]?.arrayValue).compactMap(\.stringValue)
        XCTAssertEqual(Set(changed), ["bert.embeddings.word_embeddings.weight", "cls.predictions.decoder.weight", "cls.predictions.bias"])
        XCTAssertLessThan(abs(try fileSize(adapted + "/pytorch_model.bin") - inSize), embeddingBytes / 10)
        let out = try TorchCheckpoint(path: adapted + "/pytorch_model.bin")
        XCTAssertEqual(out.sameObjectGroups, [["bert.embeddings.word_embeddings.weight", "cls.predictions.decoder.weight"]])

        let ok = try Fixtures.sentinel(["verify", adapted, "--original", original, "--json"], environment: env)
        XCTAssertEqual(ok.status, 0, ok.stdout + ok.stderr)
        let checks = Dictionary(
            uniqueKeysWithValues: (try JSONValue.parse(ok.stdout)["checks"]?.arrayValue ?? []).map { ($0["name"]?.stringValue ?? "", $0) })
        XCTAssertEqual(checks["tensors"]?["moved_with_ids"]?.intValue, 2)
        let wrong = try Fixtures.sentinel(["verify", adapted, "--original", original], environment: ["SENTINEL_KEY": "wrong key"])
        XCTAssertEqual(wrong.status, 1)
    }
}
