import SentinelCore
import SentinelTestSupport
@testable import SentinelTokenizer
import XCTest

/// ../shared/fixtures/tokenizer: tokens and ids of HF's fast tokenizer (tokenizers 0.23) on the real
/// all-MiniLM-L6-v2 vocabulary, for every string of the fixture.
final class WordPieceFixtureTests: XCTestCase {
    func testEveryFixtureStringMatchesTheFastTokenizer() throws {
        let tokenizer = try miniLMTokenizer.get()
        let cases = try jsonLines(shared("fixtures/tokenizer/wordpiece_cases.jsonl"))
        XCTAssertEqual(cases.count, 352)
        var failures = 0
        for (line, c) in cases.enumerated() {
            let text = try XCTUnwrap(c["text"]?.stringValue)
            let expectedTokens = try XCTUnwrap(c["tokens"]?.arrayValue).compactMap(\.stringValue)
            let expectedIDs = try XCTUnwrap(c["ids"]?.arrayValue).compactMap(\.int64Value).map(Int32.init)
            let pieces = tokenizer.pieces(of: text)
            let tokens = tokenizer.tokens(pieces.ids)
            if tokens != expectedTokens || pieces.ids != expectedIDs {
                failures += 1
                XCTFail(
                    "line \(line + 1) [\(c["category"]?.stringValue ?? "")] \(c["text"]!.serialized()): got \(tokens), expected \(expectedTokens)")
            }
        }
        XCTAssertEqual(failures, 0)
    }

    /// Where slow and fast Python tokenizers differ, we give the fast output.
    func testSlowFastDifferencesFollowTheFastTokenizer() throws {
        let tokenizer = try miniLMTokenizer.get()
        let cases = try jsonLines(shared("fixtures/tokenizer/slow_fast_differences.jsonl"))
        XCTAssertFalse(cases.isEmpty)
        for c in cases {
            let text = try XCTUnwrap(c["text"]?.stringValue)
            let fast = try XCTUnwrap(c["fast_tokens"]?.arrayValue).compactMap(\.stringValue)
            let slow = try XCTUnwrap(c["slow_tokens"]?.arrayValue).compactMap(\.stringValue)
            XCTAssertNotEqual(fast, slow)
            XCTAssertEqual(tokenizer.tokenize(text), fast, text)
            XCTAssertEqual(
                tokenizer.pieces(of: text).ids,
                try XCTUnwrap(c["fast_ids"]?.arrayValue).compactMap(\.int64Value).map(Int32.init))
        }
    }
}
