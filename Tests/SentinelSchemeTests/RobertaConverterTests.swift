import Foundation
import SentinelScheme
import SentinelCore
import SentinelFormats
import SentinelTestSupport
import XCTest

/// The seed scheme on the synthetic RoBERTa against the authors' converter
/// (`../shared/fixtures/roberta/seed-converter-llm123`: key `llm123`, factor 2, `--shuffle`, F64 embeddings).
final class RobertaConverterTests: XCTestCase {
    static let golden = "roberta/seed-converter-llm123"

    func convert() throws -> (String, String, ConversionReport) {
        let tmp = try Fixtures.temporaryDirectory("roberta-convert")
        let out = tmp + "/adapted"
        let report = try SeedConverter.convert(
            model: Fixtures.fixture("roberta/model"), output: out, passkey: "llm123",
            options: ConversionOptions(shuffle: true, glideSteps: 2, embeddingDType: .F64))
        return (tmp, out, report)
    }

    func testVocabMappingAndEveryTensorAreTheReferences() throws {
        let (tmp, out, report) = try convert()
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        XCTAssertEqual(report.vocabSize, 8000)
        XCTAssertEqual(report.changedTensors, ["embeddings.word_embeddings.weight"])
        XCTAssertEqual(report.ignoredFiles, [])

        // vocab.json: the same token → id pairs (the reference's byte order is a per-run hash-map order).
        let ours = try XCTUnwrap(try JSONValue.read(file: out + "/vocab.json").objectValue)
        let theirs = try XCTUnwrap(try Fixtures.json(Self.golden + "/vocab.json").objectValue)
        XCTAssertEqual(ours.count, 8000)
        XCTAssertEqual(
            Dictionary(uniqueKeysWithValues: ours.map { ($0.0, $0.1.intValue!) }),
            Dictionary(uniqueKeysWithValues: theirs.map { ($0.0, $0.1.intValue!) }))

        // The mapping (mapping.json of the --debug run): digest of original token `old` sits at id mapping[old].
        let original = try XCTUnwrap(try JSONValue.read(file: Fixtures.fixture("roberta/model/vocab.json")).objectValue)
        let hasher = try TokenHasher(passkey: "llm123")
        let adaptedID = Dictionary(uniqueKeysWithValues: ours.map { ($0.0, $0.1.intValue!) })
        let mapping = try XCTUnwrap(try Fixtures.json(Self.golden + "/mapping.json").objectValue)
        XCTAssertEqual(mapping.count, 8000)
        let oldToNew = Dictionary(uniqueKeysWithValues: mapping.map { (Int($0.0)!, $0.1.intValue!) })
        for (token, id) in original {
            let old = id.intValue!
            let spelled = old < 5 ? token : hasher.hexDigest(token)
            XCTAssertEqual(adaptedID[spelled], oldToNew[old], token)
        }

        // Every tensor's dtype, shape and sha256 (tensors.json).
        try assertTensorsMatch(out + "/model.safetensors", golden: Self.golden + "/tensors.json", count: 39)
    }

    /// No plaintext: no merges.txt, no merge list, no byte-level token in any file; the tokenizer maps digests.
    func testAdaptedDirectoryHoldsNoPlaintextTokenizer() throws {
        let (tmp, out, _) = try convert()
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        let files = try FileManager.default.contentsOfDirectory(atPath: out).sorted()
        XCTAssertEqual(files, ["config.json", "model.safetensors", "sentinel.json", "tokenizer.json", "tokenizer_config.json", "vocab.json"])
        let tokenizer = try JSONValue.read(file: out + "/tokenizer.json")
        XCTAssertEqual(tokenizer["model"]?["type"]?.stringValue, "WordLevel")
        XCTAssertNil(tokenizer["model"]?["merges"])
        XCTAssertEqual(tokenizer["pre_tokenizer"]?["type"]?.stringValue, "WhitespaceSplit")
        XCTAssertEqual(tokenizer["post_processor"]?["type"]?.stringValue, "RobertaProcessing")
        let vocab = try XCTUnwrap(tokenizer["model"]?["vocab"]?.objectValue)
        XCTAssertEqual(vocab.count, 8000)
        let specials: Set<String> = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
        for (token, _) in vocab where !specials.contains(token) {
            XCTAssertTrue(token.utf8.count == 32 && token.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }, token)
        }
        // No original non-special token is a string value or vocabulary key of the tokenizer files; no file holds a `Ġ`.
        // (config.json is the input's, unchanged; sentinel.json is Sentinel's own record.)
        let original = Set(
            try XCTUnwrap(try JSONValue.read(file: Fixtures.fixture("roberta/model/vocab.json")).objectValue)
                .map(\.0).filter { !specials.contains($0) && $0.unicodeScalars.count >= 2 })
        XCTAssertGreaterThan(original.count, 7000)
        func strings(_ v: JSONValue, into out: inout Set<String>) {
            switch v {
            case let .string(s): out.insert(s)
            case let .array(a): for x in a { strings(x, into: &out) }
            case let .object(o): for (_, x) in o { strings(x, into: &out) }
            default: break
            }
        }
        for name in ["tokenizer.json", "vocab.json", "tokenizer_config.json"] {
            var found = Set<String>()
            let json = try JSONValue.read(file: out + "/" + name)
            strings(json, into: &found)
            // Keys are the format's own field names, except those of a vocabulary.
            let vocab = name == "vocab.json" ? json : json["model"]?["vocab"] ?? .null
            for (k, _) in vocab.objectValue ?? [] { found.insert(k) }
            XCTAssertEqual(found.intersection(original), [], name)
        }
        for name in files where name.hasSuffix(".json") {
            XCTAssertFalse(try String(contentsOfFile: out + "/" + name, encoding: .utf8).contains("Ġ"), name)
        }
        let config = try JSONValue.read(file: out + "/tokenizer_config.json")
        XCTAssertEqual(config["tokenizer_class"]?.stringValue, "PreTrainedTokenizerFast")
        XCTAssertEqual(config["model_max_length"]?.intValue, 128)
    }

    /// A directory with vocab.json + merges.txt and no tokenizer.json: the same vocab.json, and a digest tokenizer built
    /// from the special tokens (`<s> A </s>`).
    func testVocabJSONWithoutTokenizerJSON() throws {
        let tmp = try Fixtures.temporaryDirectory("roberta-slow")
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        try FileManager.default.createDirectory(atPath: tmp + "/in", withIntermediateDirectories: true)
        for name in ["vocab.json", "merges.txt", "tokenizer_config.json", "config.json", "model.safetensors"] {
            try FileManager.default.copyItem(atPath: Fixtures.fixture("roberta/model/" + name), toPath: tmp + "/in/" + name)
        }
        let report = try SeedConverter.convert(
            model: tmp + "/in", output: tmp + "/out", passkey: "llm123",
            options: ConversionOptions(shuffle: true, glideSteps: 2, embeddingDType: .F64))
        XCTAssertEqual(report.ignoredFiles, [])
        let ours = try XCTUnwrap(try JSONValue.read(file: tmp + "/out/vocab.json").objectValue)
        let theirs = try XCTUnwrap(try Fixtures.json(Self.golden + "/vocab.json").objectValue)
        XCTAssertEqual(
            Dictionary(uniqueKeysWithValues: ours.map { ($0.0, $0.1.intValue!) }),
            Dictionary(uniqueKeysWithValues: theirs.map { ($0.0, $0.1.intValue!) }))
        let tokenizer = try JSONValue.read(file: tmp + "/out/tokenizer.json")
        XCTAssertEqual(tokenizer["model"]?["type"]?.stringValue, "WordLevel")
        XCTAssertEqual(tokenizer["post_processor"]?["cls"], .array([.string("<s>"), .int(0)]))
        XCTAssertEqual(tokenizer["post_processor"]?["sep"], .array([.string("</s>"), .int(2)]))
        XCTAssertEqual(tokenizer["added_tokens"]?.arrayValue?.count, 5)
        XCTAssertFalse(FileManager.default.fileExists(atPath: tmp + "/out/merges.txt"))
    }
}
