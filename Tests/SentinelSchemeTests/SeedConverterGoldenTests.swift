import Foundation
import SentinelFormats
import SentinelScheme
import SentinelCore
import SentinelTestSupport
import XCTest

/// The seed scheme against the authors' converter run on the real MiniLM
/// (`../shared/fixtures/seed-converter/minilm-llm123-f{2,3}-shuffle`, key `llm123`).
final class SeedConverterGoldenTests: XCTestCase {
    static let key = "llm123"

    func testGlideScalarsMatchReference() throws {
        for factor in [2, 3] {
            let reference = try Fixtures.json("seed-converter/minilm-llm123-f\(factor)-shuffle/reference.json")
            var global = PythonRandom(seed: SeedScheme.seed(forKey: Self.key))
            let passes = SeedScheme.glidePasses(factor, generator: &global)
            let expected = try XCTUnwrap(reference["glide_values"]?["passes"]?.arrayValue)
            XCTAssertEqual(passes.count, expected.count)
            for (p, e) in zip(passes, expected) {
                XCTAssertEqual(String(p.line.bitPattern, radix: 16), e["line"]?["bits"]?.stringValue?.trimmingLeadingZeros)
                XCTAssertEqual(String(p.translation.bitPattern, radix: 16), e["translation"]?["bits"]?.stringValue?.trimmingLeadingZeros)
            }
        }
    }

    func testFactor2F64IsBitExact() throws { try checkConversion(factor: 2, dtype: .F64) }
    func testFactor3F64IsBitExact() throws { try checkConversion(factor: 3, dtype: .F64) }
    func testFactor2KeepIsReferenceRoundedToF32() throws { try checkConversion(factor: 2, dtype: .keep) }

    private func checkConversion(factor: Int, dtype: ConversionOptions.EmbeddingDType) throws {
        let model = try Fixtures.miniLM()
        let golden = "seed-converter/minilm-llm123-f\(factor)-shuffle"
        let reference = try Fixtures.json(golden + "/reference.json")
        let tmp = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        let out = tmp + "/adapted"
        let report = try SeedConverter.convert(
            model: model, output: out, passkey: Self.key,
            options: ConversionOptions(shuffle: true, glideSteps: factor, embeddingDType: dtype))
        XCTAssertEqual(report.vocabSize, 30522)
        XCTAssertEqual(report.changedTensors, ["embeddings.word_embeddings.weight"])

        // vocab.txt byte for byte.
        XCTAssertEqual(try Fixtures.sha256(file: out + "/vocab.txt"), try Fixtures.sha256(file: Fixtures.fixture(golden + "/vocab.txt")))

        // The id mapping equals mapping.json.
        let mappingJSON = try Fixtures.json(golden + "/mapping.json")
        let mapping = SeedScheme.mapping(vocabSize: 30522, specialIDs: [0, 100, 101, 102, 103], seed: 475, shuffle: true)
        let expectedPairs = try XCTUnwrap(mappingJSON.objectValue)
        XCTAssertEqual(expectedPairs.count, 30522)
        for (old, new) in expectedPairs { XCTAssertEqual(mapping[try XCTUnwrap(Int(old))], new.intValue, "mapping[\(old)]") }

        // tokenizer.json: the canonical digest of model.vocab, and nothing else changed but model.vocab.
        let tokenizer = try JSONValue.read(file: out + "/tokenizer.json")
        let vocab = try XCTUnwrap(tokenizer["model"]?["vocab"]?.objectValue)
        let canonical = vocab.sorted { ($0.1.intValue ?? 0) < ($1.1.intValue ?? 0) }.map { "\($0.0)\t\($0.1.intValue ?? -1)" }.joined(separator: "\n")
        XCTAssertEqual(
            SHA256Stream.hex(UnsafeRawBufferPointer(start: canonical, count: canonical.utf8.count)),
            reference["files"]?["tokenizer_json_vocab_canonical_sha256"]?.stringValue)
        let original = try JSONValue.read(file: model + "/tokenizer.json")
        XCTAssertEqual(tokenizer.setting("model", to: .null), original.setting("model", to: .null))
        XCTAssertEqual(tokenizer["model"]?.setting("vocab", to: .null), original["model"]?.setting("vocab", to: .null))

        // Weights: every other tensor byte-identical; the embedding rows as the reference computed them.
        let weights = try SafeTensorsFile(path: out + "/model.safetensors")
        let originalSHA = try XCTUnwrap(reference["tensor_sha256"]?["original"]?.objectValue)
        XCTAssertEqual(weights.tensors.count, originalSHA.count)
        for (name, info) in originalSHA where name != "embeddings.word_embeddings.weight" {
            let t = try XCTUnwrap(weights.tensor(named: name), name)
            XCTAssertEqual(SHA256Stream.hex(weights.bytes(of: t)), info["sha256"]?.stringValue, name)
        }
        let embedding = try XCTUnwrap(weights.tensor(named: "embeddings.word_embeddings.weight"))
        XCTAssertEqual(embedding.shape, [30522, 384])
        let bytes = weights.bytes(of: embedding)
        if dtype == .F64 {
            XCTAssertEqual(embedding.dtype, .F64)
            // The whole matrix, bit for bit.
            XCTAssertEqual(
                SHA256Stream.hex(bytes),
                reference["tensor_sha256"]?["adapted"]?["embeddings.word_embeddings.weight"]?["sha256"]?.stringValue)
        } else {
            XCTAssertEqual(embedding.dtype, .F32)
        }
        let rows = try XCTUnwrap(reference["rows"]?.arrayValue)
        XCTAssertEqual(rows.count, 16)
        for row in rows {
            let id = try XCTUnwrap(row["adapted_id"]?.intValue)
            let bits = try XCTUnwrap(row["bits"]?.arrayValue).compactMap { UInt64($0.stringValue ?? "", radix: 16) }
            XCTAssertEqual(bits.count, 384)
            var maxDiff = 0.0
            for (i, b) in bits.enumerated() {
                let expected = Double(bitPattern: b)
                if dtype == .F64 {
                    let got = bytes.loadUnaligned(fromByteOffset: (id * 384 + i) * 8, as: Double.self)
                    XCTAssertEqual(got.bitPattern, b, "row \(id)[\(i)]")
                    maxDiff = max(maxDiff, abs(got - expected))
                } else {
                    let got = bytes.loadUnaligned(fromByteOffset: (id * 384 + i) * 4, as: Float.self)
                    XCTAssertEqual(got, Float(expected), "row \(id)[\(i)]")
                }
            }
            XCTAssertLessThanOrEqual(maxDiff, 1e-13)
        }

        // sentinel.json records the scheme and never the key or the seed.
        let manifest = try JSONValue.read(file: out + "/sentinel.json")
        XCTAssertEqual(manifest["scheme"]?.stringValue, "seed")
        XCTAssertEqual(manifest["glide_steps"]?.intValue, factor)
        XCTAssertEqual(manifest["shuffle"]?.boolValue, true)
        XCTAssertEqual(
            manifest["source"]?["files"]?["model.safetensors"]?["sha256"]?.stringValue,
            "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db")
        XCTAssertNil(manifest["seed"])
        XCTAssertNil(manifest["key"])
    }
}

private extension String {
    var trimmingLeadingZeros: String {
        let t = drop(while: { $0 == "0" })
        return t.isEmpty ? "0" : String(t)
    }
}
