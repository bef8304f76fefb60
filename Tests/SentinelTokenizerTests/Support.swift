import Foundation
import SentinelCore
import SentinelTestSupport
@testable import SentinelTokenizer

/// The real MiniLM tokenizer, loaded once for all tests.
let miniLMTokenizer: Result<BertTokenizer, Error> = Result { try BertTokenizer.load(directory: try Fixtures.miniLM()) }

/// Path of `relative` inside the vendored copy of `../shared` (`Fixtures.shared`).
func shared(_ relative: String) -> String { Fixtures.shared + "/" + relative }

/// Reads a JSON-lines file into parsed values.
func jsonLines(_ path: String) throws -> [JSONValue] {
    let text = try String(contentsOfFile: path, encoding: .utf8)
    return try text.split(separator: "\n", omittingEmptySubsequences: true).map { try JSONValue.parse(String($0)) }
}

/// A sentence's text rebuilt from its wordpieces (`##` pieces join the previous one), for fixtures that
/// store only the pieces (seed-converter reference.json).
func textOf(wordpieces: [String]) -> String {
    var text = ""
    for piece in wordpieces {
        if piece.hasPrefix("##") {
            text += piece.dropFirst(2)
        } else {
            text += (text.isEmpty ? "" : " ") + piece
        }
    }
    return text
}
