import Foundation
import SentinelScheme
import SentinelCore
import SentinelFormats
import SentinelTokenizer
import SentinelTestSupport
import XCTest

/// The seed scheme on the synthetic XLM-R (SentencePiece unigram) against the authors' converter
/// (`../shared/fixtures/xlmr/seed-converter-llm123`: key `llm123`, factor 2, `--shuffle`, F64 embeddings).
final class XLMRConverterTests: XCTestCase {
    static let golden = "xlmr/seed-converter-llm123"
    static let specials: Set<String> = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]

    func convert(model: String = Fixtures.fixture("xlmr/model")) throws -> (String, String, ConversionReport) {
        let tmp = try Fixtures.temporaryDirectory("xlmr-convert")
        let out = tmp + "/adapted"
        let report = try SeedConverter.convert(
            model: model, output: out, passkey: "llm123",
            options: ConversionOptions(shuffle: true, glideSteps: 2, embeddingDType: .F64))
        return (tmp, out, report)
    }

    func vocab(_ path: String) throws -> [String: Int] {
        Dictionary(uniqueKeysWithValues: try XCTUnwrap(try JSONValue.read(file: path).objectValue).map { ($0.0, $0.1.intValue!) })
    }

    func testVocabMappingAndEveryTensorAreTheReferences() throws {
        let (tmp, out, report) = try convert()
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        XCTAssertEqual(report.vocabSize, 8002)
        XCTAssertEqual(report.changedTensors, ["embeddings.word_embeddings.weight"])
        XCTAssertEqual(report.ignoredFiles, [])
        XCTAssertEqual(report.manifest["vocabulary"]?.stringValue, "unigram")
        // sentinel.json records the SentencePiece model among the source files.
        XCTAssertNotNil(report.manifest["source"]?["files"]?["sentencepiece.bpe.model"]?["sha256"])

        // vocab.json: the same digest → id pairs as the reference's.
        let ours = try vocab(out + "/vocab.json")
        XCTAssertEqual(ours.count, 8002)
        XCTAssertEqual(ours, try vocab(Fixtures.fixture(Self.golden + "/vocab.json")))

        // The mapping (mapping.json): the digest of original piece `old` (with its ▁) sits at id mapping[old].
        let pieces = try XCTUnwrap(try JSONValue.read(file: Fixtures.fixture("xlmr/model/tokenizer.json"))["model"]?["vocab"]?.arrayValue)
            .map { $0.arrayValue![0].stringValue! }
        XCTAssertEqual(pieces.count, 8002)
        let hasher = try TokenHasher(passkey: "llm123")
        let mapping = try XCTUnwrap(try Fixtures.json(Self.golden + "/mapping.json").objectValue)
        XCTAssertEqual(mapping.count, 8002)
        let oldToNew = Dictionary(uniqueKeysWithValues: mapping.map { (Int($0.0)!, $0.1.intValue!) })
        for (old, piece) in pieces.enumerated() {
            XCTAssertEqual(ours[Self.specials.contains(piece) ? piece : hasher.hexDigest(piece)], oldToNew[old], piece)
        }

        // Every tensor's dtype, shape and sha256 (tensors.json).
        try assertTensorsMatch(out + "/model.safetensors", golden: Self.golden + "/tensors.json", count: 39)
    }

    /// No plaintext: no `.model`, no piece and no score in any file; the adapted tokenizer maps digests to adapted ids.
    func testAdaptedDirectoryHoldsNoPlaintextTokenizer() throws {
        let (tmp, out, _) = try convert()
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        let files = try FileManager.default.contentsOfDirectory(atPath: out).sorted()
        XCTAssertEqual(files, ["config.json", "model.safetensors", "sentinel.json", "tokenizer.json", "tokenizer_config.json", "vocab.json"])
        let tokenizer = try JSONValue.read(file: out + "/tokenizer.json")
        XCTAssertEqual(tokenizer["model"]?["type"]?.stringValue, "Unigram")
        XCTAssertEqual(tokenizer["normalizer"], .null)
        let entries = try XCTUnwrap(tokenizer["model"]?["vocab"]?.arrayValue)
        XCTAssertEqual(entries.count, 8002)
        for e in entries {
            let token = try XCTUnwrap(e.arrayValue?[0].stringValue)
            XCTAssertTrue(Self.specials.contains(token) || Digest.isCanonical(token), token)
            XCTAssertEqual(e.arrayValue?[1].doubleValue, 0, token)  // no score survives
        }
        let original = try XCTUnwrap(try JSONValue.read(file: Fixtures.fixture("xlmr/model/tokenizer.json"))["model"]?["vocab"]?.arrayValue)
            .map { $0.arrayValue![0].stringValue! }.filter { !Self.specials.contains($0) && $0.unicodeScalars.count >= 2 }
        XCTAssertGreaterThan(original.count, 7000)
        let originalSet = Set(original)
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
            // Keys are the format's own field names, except those of vocab.json (the vocabulary).
            if name == "vocab.json" { for (k, _) in json.objectValue ?? [] { found.insert(k) } }
            XCTAssertEqual(found.intersection(originalSet), [], name)
        }
        XCTAssertFalse(try String(contentsOfFile: out + "/tokenizer.json", encoding: .utf8).contains("precompiled_charsmap"))

        // The adapted tokenizer maps the client's digests to mapping[original id].
        let adapted = try Tokenizers.load(directory: out)
        let originalTokenizer = try Tokenizers.load(directory: Fixtures.fixture("xlmr/model"))
        let encryptor = try Encryptor(modelDirectory: Fixtures.fixture("xlmr/model"), key: "llm123")
        let mapping = try XCTUnwrap(try Fixtures.json(Self.golden + "/mapping.json").objectValue)
        let oldToNew = Dictionary(uniqueKeysWithValues: mapping.map { (Int32($0.0)!, Int32($0.1.intValue!)) })
        let adaptedVocabulary = try AdaptedVocabulary(path: out)
        for text in ["the film is a charming ride", "Peter Blackburn lives in Berlin .", "Ünïcödé 日本語 😀"] {
            let expected = originalTokenizer.encode(text).inputIDs.map { oldToNew[$0]! }
            let digests = encryptor.encrypt(text: text).joined(separator: " ")
            XCTAssertEqual(adapted.encode(digests).inputIDs, expected, text)
            XCTAssertEqual(adaptedVocabulary.encode(digests[...]).inputIDs, expected, text)
        }
        XCTAssertEqual(adaptedVocabulary.style, .roberta)
    }

    /// A directory with only the SentencePiece `.model` (no tokenizer.json): the same vocab.json and tensors.
    func testSentencePieceModelWithoutTokenizerJSON() throws {
        let tmp = try Fixtures.temporaryDirectory("xlmr-spm")
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        try FileManager.default.createDirectory(atPath: tmp + "/in", withIntermediateDirectories: true)
        for name in ["sentencepiece.bpe.model", "tokenizer_config.json", "config.json", "model.safetensors"] {
            try FileManager.default.copyItem(atPath: Fixtures.fixture("xlmr/model/" + name), toPath: tmp + "/in/" + name)
        }
        let (tmp2, out, report) = try convert(model: tmp + "/in")
        defer { try? FileManager.default.removeItem(atPath: tmp2) }
        XCTAssertEqual(report.ignoredFiles, [])
        XCTAssertEqual(try vocab(out + "/vocab.json"), try vocab(Fixtures.fixture(Self.golden + "/vocab.json")))
        XCTAssertFalse(FileManager.default.fileExists(atPath: out + "/sentencepiece.bpe.model"))
        XCTAssertEqual(try Tokenizers.load(directory: out).vocabularySize, 8002)
    }

    /// The input of a conversion must not be an adapted model: its digests would be hashed again.
    func testAnAdaptedModelIsRefusedAsInput() throws {
        let (tmp, out, _) = try convert()
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        XCTAssertThrowsError(
            try SeedConverter.convert(model: out, output: tmp + "/twice", passkey: "llm123", options: ConversionOptions(shuffle: true))
        ) { error in
            guard let e = error as? InputError else { return XCTFail("\(error)") }
            XCTAssertEqual(e.code, .invalidStructure)
            XCTAssertEqual(e.file, out + "/sentinel.json")
            XCTAssertTrue(e.message.contains("already an adapted model"), e.message)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: tmp + "/twice"))
    }

    /// A seed conversion without shuffle says that no id moves.
    func testUnshuffledSeedConversionWarns() throws {
        let tmp = try Fixtures.temporaryDirectory("xlmr-noshuffle")
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        let r = try SeedConverter.convert(
            model: Fixtures.fixture("xlmr/model"), output: tmp + "/out", passkey: "llm123", options: ConversionOptions(shuffle: false))
        XCTAssertEqual(r.warnings.first, SeedScheme.unshuffledWarning)
        XCTAssertEqual(try vocab(tmp + "/out/vocab.json")[try TokenHasher(passkey: "llm123").hexDigest("\u{2581}the")], 5)
    }
}
