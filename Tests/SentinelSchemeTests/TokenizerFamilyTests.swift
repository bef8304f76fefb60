import Foundation
import SentinelCore
import SentinelScheme
import SentinelTestSupport
import SentinelTokenizer
import XCTest

/// `Tokenizers.load`, the one family loader: each fixture directory gives its family's tokenizer (whatever files
/// it holds), and that tokenizer gives the HF fast tokenizer's ids of the fixture cases. On the adapted RoBERTa,
/// the digest tokenizer and `AdaptedVocabulary` give the original ids moved by the reference converter's mapping.
final class TokenizerFamilyTests: XCTestCase {
    /// Checks `tokenizer` on the first `limit` cases of `file` (`ids` with special tokens, or bare with `bare`).
    func check(
        _ tokenizer: any SubwordTokenizer, _ file: String, bare: Bool = false, limit: Int = 100,
        _ line: UInt = #line
    ) throws {
        let cases = try jsonLines(Fixtures.fixture(file))
        XCTAssertGreaterThan(cases.count, 300, line: line)
        for c in cases.prefix(limit) {
            let text = try XCTUnwrap(c["text"]?.stringValue)
            let ids = try XCTUnwrap(c["ids"]?.arrayValue).compactMap(\.int64Value).map(Int32.init)
            XCTAssertEqual(
                tokenizer.encode(text, addSpecialTokens: !bare).inputIDs, ids, "\(file): \(JSONValue.string(text).serialized())", line: line)
        }
    }

    /// A temporary copy of `files` of a fixture directory.
    func copy(_ directory: String, _ files: [String]) throws -> String {
        let dir = try Fixtures.temporaryDirectory("tokenizer-family")
        for name in files {
            try FileManager.default.copyItem(atPath: Fixtures.fixture(directory + "/" + name), toPath: dir + "/" + name)
        }
        return dir
    }

    func testByteLevelBPEFromTokenizerJSONOrVocabJSONAndMerges() throws {
        let full = try Tokenizers.load(directory: Fixtures.fixture("roberta/model"))
        XCTAssertTrue(full is ByteLevelBPETokenizer)
        try check(full, "roberta/tokenizer_cases.jsonl")
        let dir = try copy("roberta/model", ["vocab.json", "merges.txt", "tokenizer_config.json", "config.json"])
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let files = try Tokenizers.load(directory: dir + "/")
        XCTAssertTrue(files is ByteLevelBPETokenizer)
        try check(files, "roberta/tokenizer_cases.jsonl")
    }

    func testUnigramFromTokenizerJSONOrSentencePieceModel() throws {
        let full = try Tokenizers.load(directory: Fixtures.fixture("xlmr/model"))
        XCTAssertTrue(full is UnigramTokenizer)
        try check(full, "xlmr/tokenizer_cases.jsonl")
        let dir = try copy("xlmr/model", ["sentencepiece.bpe.model", "tokenizer_config.json", "config.json"])
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let spm = try Tokenizers.load(directory: dir)
        XCTAssertTrue(spm is UnigramTokenizer)
        try check(spm, "xlmr/tokenizer_cases.jsonl")
    }

    func testWordPiece() throws {
        let tokenizer = try Tokenizers.load(directory: try Fixtures.miniLM())
        XCTAssertTrue(tokenizer is BertTokenizer)
        try check(tokenizer, "tokenizer/wordpiece_cases.jsonl", bare: true)
    }

    /// convert → the adapted directory's tokenizer.json is the digest tokenizer (`WordLevel`); encrypted text through it,
    /// and through `AdaptedVocabulary` (embed/predict --encrypted), gives `mapping[original id]` of the reference
    /// converter (`roberta/seed-converter-llm123/mapping.json`) with `<s> … </s>` around.
    func testAdaptedByteLevelModel() throws {
        let tmp = try Fixtures.temporaryDirectory("tokenizer-family-adapted")
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        let model = Fixtures.fixture("roberta/model")
        _ = try SeedConverter.convert(
            model: model, output: tmp + "/adapted", passkey: "llm123",
            options: ConversionOptions(shuffle: true, glideSteps: 2, embeddingDType: .F64))
        let digests = try Tokenizers.load(directory: tmp + "/adapted")
        XCTAssertTrue(digests is WordLevelTokenizer)
        let adapted = try AdaptedVocabulary(path: tmp + "/adapted")
        XCTAssertEqual(adapted.style, .roberta)
        let mapping = try XCTUnwrap(Fixtures.json("roberta/seed-converter-llm123/mapping.json").objectValue)
        let moved = Dictionary(uniqueKeysWithValues: mapping.map { (Int32($0.0)!, Int32($0.1.intValue!)) })
        let encryptor = try Encryptor(modelDirectory: model, key: "llm123")
        var checked = 0
        for c in try jsonLines(Fixtures.fixture("roberta/tokenizer_cases.jsonl")).prefix(150) {
            let text = try XCTUnwrap(c["text"]?.stringValue)
            let ids = try XCTUnwrap(c["ids"]?.arrayValue).compactMap(\.int64Value).map(Int32.init)
            // Texts holding `<s>`/`<mask>` stay unhashed; specials keep their ids under the mapping too.
            let expected = ids.map { moved[$0]! }
            let encrypted = encryptor.encrypt(text: text).joined(separator: " ")
            XCTAssertEqual(digests.encode(encrypted).inputIDs, expected, text)
            XCTAssertEqual(adapted.encode(encrypted[...]).inputIDs, expected, text)
            checked += 1
        }
        XCTAssertEqual(checked, 150)
        // A pair: `<s> A </s></s> B </s>`, every token type 0 (RoBERTa).
        let a = encryptor.encrypt(text: "Peter lives in Berlin").joined(separator: " ")
        let b = encryptor.encrypt(text: "the film").joined(separator: " ")
        let pair = adapted.encode(a[...], pair: b[...])
        XCTAssertEqual(pair.inputIDs, digests.encode(a, pair: b).inputIDs)
        XCTAssertEqual(pair.inputIDs.filter { $0 == adapted.sepID }.count, 3)
        XCTAssertTrue(pair.tokenTypeIDs.allSatisfy { $0 == 0 })
    }
}
