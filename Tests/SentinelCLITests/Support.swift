import XCTest
import SentinelTestSupport
import SentinelTokenizer

/// The real MiniLM tokenizer, loaded once for all tests.
let miniLMTokenizer: Result<BertTokenizer, Error> = Result { try BertTokenizer.load(directory: try Fixtures.miniLM()) }

/// The f01 sentences of `../shared/fixtures/bert/cases_shared.json` as plain-text lines (a TAB before the pair's second
/// sentence).
func f01PlainText() throws -> String {
    var text = ""
    for item in try XCTUnwrap(Fixtures.json("bert/cases_shared.json")["f01"]?.arrayValue) {
        let pair = try XCTUnwrap(item.arrayValue)
        text += try XCTUnwrap(pair[0].stringValue) + (pair[1].stringValue.map { "\t" + $0 } ?? "") + "\n"
    }
    return text
}
