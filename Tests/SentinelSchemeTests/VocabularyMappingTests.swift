import SentinelCore
import SentinelScheme
import SentinelTestSupport
import SentinelTokenizer
import XCTest

/// The one digest rule and the vocabulary mapping (token ↔ digest ↔ original id ↔ adapted id), against the
/// authors' converter output on MiniLM (../shared/fixtures/seed-converter/minilm-llm123-f2-shuffle).
final class VocabularyMappingTests: XCTestCase {
    let fixture = shared("fixtures/seed-converter/minilm-llm123-f2-shuffle")

    func testDigestSpelling() {
        let d = "0123456789abcdef0123456789abcdef"
        XCTAssertEqual(Digest.canonical(d.uppercased()), d)
        XCTAssertEqual(Digest.canonical(d), d)
        XCTAssertEqual(Digest.canonical("[CLS]"), "[CLS]")
        // Not 32 hex characters: left as it is (a special token or an unknown token).
        XCTAssertEqual(Digest.canonical("0123456789ABCDEF"), "0123456789ABCDEF")
        XCTAssertEqual(Digest.canonical(String(d.dropLast()) + "G"), String(d.dropLast()) + "G")
        XCTAssertTrue(Digest.isDigest(d.uppercased()))
        XCTAssertFalse(Digest.isCanonical(d.uppercased()))
        XCTAssertTrue(Digest.isCanonical(d))
        XCTAssertFalse(Digest.isDigest(d + "0"))
    }

    func testMappingMatchesTheReferenceConverter() throws {
        let adapted = try AdaptedVocabulary(path: fixture)
        let tokenizer = try BertTokenizer.load(directory: try Fixtures.miniLM())
        let mapping = VocabularyMapping(adapted: adapted, encryptor: try Encryptor(tokenizer: tokenizer, key: "llm123"))
        let reference = try Fixtures.json("seed-converter/minilm-llm123-f2-shuffle/mapping.json")
        let coverage = try XCTUnwrap(mapping.coverage)
        XCTAssertEqual(coverage.originalTokens, 30522)
        XCTAssertEqual(coverage.found, 30522)
        XCTAssertEqual(coverage.hashed, 30522 - 5)
        XCTAssertEqual(coverage.hashedFound, 30522 - 5)
        // Every original id's adapted id is the converter's mapping (old id → new id).
        let pairs = try XCTUnwrap(reference.objectValue)
        XCTAssertEqual(pairs.count, 30522)
        var moved = 0
        for (key, new) in pairs {
            let old = try XCTUnwrap(Int(key)), expected = try XCTUnwrap(new.intValue)
            XCTAssertEqual(mapping.entry(originalID: old)?.adaptedID, expected)
            if expected != old { moved += 1 }
        }
        XCTAssertEqual(coverage.moved, moved)
        // Lookups by token, digest (either case) and adapted id agree.
        let hasher = try TokenHasher(passkey: "llm123")
        let hello = mapping.entry(token: "hello", hasher: hasher)
        XCTAssertEqual(hello.originalID, Int(try XCTUnwrap(tokenizer.id(of: "hello"))))
        XCTAssertEqual(hello.digest, hasher.hexDigest("hello"))
        XCTAssertEqual(mapping.entry(encryptedToken: hello.digest!.uppercased()), hello)
        XCTAssertEqual(mapping.entry(adaptedID: hello.adaptedID!), hello)
        // Without the key only the adapted side is known.
        let alone = VocabularyMapping(adapted: adapted, encryptor: nil)
        XCTAssertNil(alone.coverage)
        XCTAssertEqual(alone.entry(adaptedID: hello.adaptedID!), VocabularyMapping.Entry(digest: hello.digest, adaptedID: hello.adaptedID))
        XCTAssertEqual(alone.digestCount, 30522 - 5)
        XCTAssertEqual(Set(alone.plainAdaptedTokens.map(\.token)), ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])
        // A wrong key links nothing but the special tokens.
        let wrong = VocabularyMapping(adapted: adapted, encryptor: try Encryptor(tokenizer: tokenizer, key: "wrong"))
        XCTAssertEqual(wrong.coverage?.hashedFound, 0)
        XCTAssertEqual(wrong.coverage?.found, 5)
    }

    func testEncryptedTextBecomesInputIDsWithTheTemplate() throws {
        let adapted = try AdaptedVocabulary(path: fixture)
        let hasher = try TokenHasher(passkey: "llm123")
        let a = hasher.hexDigest("hello"), b = hasher.hexDigest("world")
        let e = adapted.encode("\(a) \(b.uppercased()) ffffffffffffffffffffffffffffffff", pair: "[MASK]")
        XCTAssertEqual(
            e.inputIDs,
            [
                adapted.clsID, adapted.id(of: a), adapted.id(of: b), adapted.unknownID, adapted.sepID,
                adapted.id(of: "[MASK]"), adapted.sepID,
            ])
        XCTAssertEqual(e.tokenTypeIDs, [0, 0, 0, 0, 0, 1, 1])
        XCTAssertNotEqual(adapted.id(of: a), adapted.unknownID)
        XCTAssertEqual(adapted.encode("\(a) \(b) \(a)", maxLength: 4).inputIDs, [adapted.clsID, adapted.id(of: a), adapted.id(of: b), adapted.sepID])
    }
}
