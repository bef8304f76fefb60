import SentinelScheme
import SentinelCore
import SentinelTestSupport
import SentinelTokenizer
import XCTest

/// ``UnknownTokenCheck`` against the ground truth: the fast tokenizer's ids of
/// `../shared/fixtures/tokenizer/wordpiece_cases.jsonl` (which hold every `[UNK]` HF produces) and the reference
/// converter's adapted vocabulary and digests in `../shared/fixtures/seed-converter/minilm-llm123-f2-shuffle`.
final class UnknownTokenCheckTests: XCTestCase {
    let adaptedFixture = shared("fixtures/seed-converter/minilm-llm123-f2-shuffle")

    func testPlainTextCountsEveryUnknownTheReferenceTokenizerProduces() throws {
        let tokenizer = try miniLMTokenizer.get()
        let unk = try XCTUnwrap(tokenizer.id(of: "[UNK]"))
        var check = UnknownTokenCheck(encoder: .plain(tokenizer), model: "minilm", file: "cases")
        var expectedTokens = 0, expectedUnknown = 0
        for c in try jsonLines(Fixtures.fixture("tokenizer/wordpiece_cases.jsonl")) {
            let ids = try XCTUnwrap(c["ids"]?.arrayValue).compactMap(\.int64Value).map(Int32.init)
            expectedTokens += ids.count
            expectedUnknown += ids.filter { $0 == unk }.count
            // [CLS] and [SEP] of the template are not counted.
            check.count(tokenizer.encode(try XCTUnwrap(c["text"]?.stringValue)))
        }
        XCTAssertGreaterThan(expectedUnknown, 0)
        XCTAssertEqual(check.tokens, expectedTokens)
        XCTAssertEqual(check.unknown, expectedUnknown)
        XCTAssertEqual(check.fraction, Double(expectedUnknown) / Double(expectedTokens))
        XCTAssertFalse(check.modelIsAdapted)
        // Judged against the limit: at the fraction it passes, just below it fails.
        XCTAssertNil(check.failure(maxFraction: check.fraction))
        let failure = try XCTUnwrap(check.failure(maxFraction: check.fraction * 0.99))
        XCTAssertEqual(failure.unknown, expectedUnknown)
        XCTAssertEqual(failure.tokens, expectedTokens)
        XCTAssertTrue(failure.description.contains("\(expectedUnknown) of \(expectedTokens) tokens"), failure.description)
        XCTAssertTrue(failure.description.contains("cases"), failure.description)
    }

    func testDigestsOfTheRightKeyAreKnownAndOfAWrongKeyAreNot() throws {
        let reference = try JSONValue.read(file: adaptedFixture + "/reference.json")
        XCTAssertEqual(reference["run"]?["key"]?.stringValue, "llm123")
        let adapted = try AdaptedVocabulary(path: adaptedFixture)
        let sentences = try XCTUnwrap(reference["sentences"]?.arrayValue)
        let hashes = sentences.map { ($0["hashes"]?.arrayValue ?? []).compactMap(\.stringValue) }
        let wordpieces = sentences.map { ($0["wordpieces"]?.arrayValue ?? []).compactMap(\.stringValue) }
        let total = hashes.reduce(0) { $0 + $1.count }
        XCTAssertGreaterThan(total, 0)

        var right = UnknownTokenCheck(encoder: .encrypted(adapted), model: adaptedFixture, file: "right.txt")
        for h in hashes { right.count(adapted.encode(h.joined(separator: " ")[...], maxLength: 512)) }
        XCTAssertTrue(right.modelIsAdapted)
        XCTAssertEqual(right.tokens, total)
        XCTAssertEqual(right.unknown, 0)
        XCTAssertNil(right.failure(maxFraction: 0))

        // The same wordpieces hashed with another key: none is in the adapted vocabulary.
        let other = try TokenHasher(passkey: "not the key")
        var wrong = UnknownTokenCheck(encoder: .encrypted(adapted), model: adaptedFixture, file: "wrong.txt")
        for w in wordpieces { wrong.count(adapted.encode(other.hexDigests(of: w, keeping: []).joined(separator: " ")[...], maxLength: 512)) }
        XCTAssertEqual(wrong.tokens, total)
        XCTAssertEqual(wrong.unknown, total)
        let failure = try XCTUnwrap(wrong.failure(maxFraction: UnknownTokenCheck.defaultMaxFraction))
        XCTAssertEqual(failure.fraction, 1)
        XCTAssertTrue(failure.message.contains("fraction 1.000"), failure.message)
        XCTAssertTrue(failure.message.contains("another key"), failure.message)
        XCTAssertFalse(failure.message.contains("not the key"), "the key must never appear in a message")
    }

    func testTheLikelyCauseNamesWhatWasGivenToWhat() throws {
        let plainVocabulary = try miniLMTokenizer.get().vocabulary.tokens
        let adaptedVocabulary = try AdaptedVocabulary(path: adaptedFixture).vocabulary.tokens
        XCTAssertFalse(UnknownTokenCheck.isAdapted(vocabulary: plainVocabulary))
        XCTAssertTrue(UnknownTokenCheck.isAdapted(vocabulary: adaptedVocabulary))
        func cause(_ input: UnknownTokenCheck.Input, _ vocabulary: [String]) -> String {
            UnknownTokenCheck(input: input, unknownID: 100, vocabulary: vocabulary, model: "M", file: "F").likelyCause
        }
        XCTAssertTrue(cause(.plainText, adaptedVocabulary).contains("adapted model"))
        XCTAssertTrue(cause(.plainText, adaptedVocabulary).contains("--encrypted"))
        XCTAssertTrue(cause(.encryptedText, plainVocabulary).contains("not an adapted model"))
        XCTAssertTrue(cause(.encryptedText, adaptedVocabulary).contains("another key"))
        XCTAssertTrue(cause(.encryption, adaptedVocabulary).contains("ORIGINAL"))
        // Nothing counted: never a failure.
        XCTAssertNil(
            UnknownTokenCheck(input: .plainText, unknownID: 100, vocabulary: plainVocabulary, model: "M", file: "F")
                .failure(maxFraction: 0))
    }
}
