import Foundation
import SentinelCore
import SentinelScheme
import SentinelTestSupport
import XCTest
@testable import SentinelTokenizer

/// `sentinel encrypt`'s encryptor (``Encryptor/init(modelDirectory:key:)``) on the real 128k SentencePiece model
/// (`xlmr/real_spm`, as XLM-R): the digests of the HF fast tokenizer's pieces of every multilingual string.
final class UnigramEncryptionTests: XCTestCase {
    func testRealModelEncryptsTheHFPieces() throws {
        let dir = Fixtures.fixture("xlmr/real_spm")
        let encryptor = try Encryptor(modelDirectory: dir, key: "llm123")
        XCTAssertEqual(encryptor.tokenizer.vocabularySize, 128_002)
        let hasher = try TokenHasher(passkey: "llm123")
        let specials: Set<String> = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
        var checked = 0, hashed = 0, unknown = 0
        for c in try jsonLines("xlmr/real_spm_tokenizer_cases.jsonl") {
            let text = try XCTUnwrap(c["text"]?.stringValue)
            // HF's tokens without <s> and </s>; a piece HF maps to <unk> reads <unk>, which is never hashed.
            let tokens = strings(c["tokens"]).dropFirst().dropLast()
            let expected = tokens.map { specials.contains($0) ? $0 : hasher.hexDigest($0) }
            XCTAssertEqual(encryptor.encrypt(text: text), Array(expected), text)
            checked += 1
            hashed += tokens.filter { !specials.contains($0) }.count
            unknown += tokens.filter { $0 == "<unk>" }.count
        }
        XCTAssertEqual(checked, 110)
        XCTAssertEqual(hashed, 849)
        XCTAssertGreaterThan(unknown, 0)
        // A digest is the keyed BLAKE2b of the piece with its ▁ (SCHEME.md step 3), 32 hex characters.
        XCTAssertEqual(encryptor.encrypt(text: "Über"), [hasher.hexDigest("\u{2581}Über")])
    }
}
