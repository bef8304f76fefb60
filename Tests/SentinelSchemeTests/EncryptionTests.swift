import SentinelScheme
import SentinelCore
import SentinelTestSupport
@testable import SentinelTokenizer
import XCTest

/// ../shared/fixtures/seed-converter/minilm-llm123-f2-shuffle: the authors' converter on MiniLM with key
/// llm123. Its vocab.txt IS the adapted vocabulary (line number = adapted id); reference.json's
/// `sentences[]` hold the original wordpieces, their hashes and the adapted ids.
final class EncryptionTests: XCTestCase {
    let fixture = shared("fixtures/seed-converter/minilm-llm123-f2-shuffle")

    func testFiveReferenceSentencesGiveTheAdaptedIDs() throws {
        let reference = try JSONValue.read(file: fixture + "/reference.json")
        XCTAssertEqual(reference["run"]?["key"]?.stringValue, "llm123")
        let sentences = try XCTUnwrap(reference["sentences"]?.arrayValue)
        XCTAssertEqual(sentences.count, 5)
        let encryptor = try Encryptor(tokenizer: try miniLMTokenizer.get(), key: "llm123")
        let adapted = try AdaptedVocabulary(path: fixture)
        XCTAssertEqual(adapted.vocabulary.count, 30522)
        for s in sentences {
            let wordpieces = try XCTUnwrap(s["wordpieces"]?.arrayValue).compactMap(\.stringValue)
            let hashes = try XCTUnwrap(s["hashes"]?.arrayValue).compactMap(\.stringValue)
            let adaptedIDs = try XCTUnwrap(s["adapted_ids"]?.arrayValue).compactMap(\.int64Value).map(Int32.init)
            let originalIDs = try XCTUnwrap(s["original_ids"]?.arrayValue).compactMap(\.int64Value).map(Int32.init)
            let text = textOf(wordpieces: wordpieces)
            XCTAssertEqual(encryptor.tokenizer.tokenize(text), wordpieces, text)
            XCTAssertEqual(encryptor.tokenizer.encode(text).inputIDs, originalIDs, text)
            let digests = encryptor.encrypt(text: text)
            XCTAssertEqual(digests, hashes, text)
            XCTAssertEqual(adapted.inputIDs(digests), adaptedIDs, text)
            // The adapted directory's own tokenizer (vocab.txt, BERT defaults) on the space-joined digests agrees.
            let adaptedTokenizer = try BertTokenizer.load(directory: fixture)
            XCTAssertEqual(adaptedTokenizer.encode(digests.joined(separator: " ")).inputIDs, adaptedIDs)
        }
    }

    func testSpecialTokensAndUnknownDigestsArePassedThrough() throws {
        let encryptor = try Encryptor(tokenizer: try miniLMTokenizer.get(), key: "llm123")
        let adapted = try AdaptedVocabulary(path: fixture)
        // [MASK] in the text is a special token: not hashed; "ＡＢＣ１２３" is one [UNK] piece.
        let out = encryptor.encrypt(text: "the [MASK] ＡＢＣ１２３")
        XCTAssertEqual(out.count, 3)
        XCTAssertEqual(Array(out[1...]), ["[MASK]", "[UNK]"])
        XCTAssertEqual(adapted.inputIDs(out, addSpecialTokens: false).suffix(2), [103, 100])
        // A digest made with another key is not in the adapted vocabulary → [UNK].
        let other = try Encryptor(tokenizer: try miniLMTokenizer.get(), key: "nlp2023")
        XCTAssertNotEqual(other.encrypt(text: "the")[0], out[0])
        XCTAssertEqual(adapted.inputIDs(other.encrypt(text: "the"), addSpecialTokens: false), [adapted.unknownID])
        // "the" is the first wordpiece of reference sentence 1.
        let first = try XCTUnwrap(try JSONValue.read(file: fixture + "/reference.json")["sentences"]?.arrayValue?.first)
        XCTAssertEqual(first["wordpieces"]?.arrayValue?.first?.stringValue, "the")
        XCTAssertEqual(Int64(adapted.inputIDs(out, addSpecialTokens: false)[0]), first["adapted_ids"]?.arrayValue?[1].int64Value)
    }

    func testKeysOverSixtyFourBytesAreRejected() throws {
        XCTAssertThrowsError(try Encryptor(tokenizer: try miniLMTokenizer.get(), key: String(repeating: "k", count: 65))) { error in
            XCTAssertTrue(error is TokenHasher.Error)
            XCTAssertFalse(String(describing: error).contains("kkkk"), "the key must not appear in errors")
        }
        XCTAssertNoThrow(try Encryptor(tokenizer: try miniLMTokenizer.get(), key: String(repeating: "k", count: 64)))
    }

    func testAdaptedVocabularyWithoutUnknownToken() throws {
        let dir = try Fixtures.temporaryDirectory()
        try "[PAD]\n[CLS]\n[SEP]\nhello\n".write(toFile: dir + "/vocab.txt", atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try AdaptedVocabulary(path: dir)) { error in
            XCTAssertEqual((error as? InputError)?.key, "[UNK]")
            XCTAssertEqual((error as? InputError)?.file, dir + "/vocab.txt")
        }
    }
}
