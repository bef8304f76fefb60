import Foundation
import SentinelCore
import SentinelTestSupport
@testable import SentinelTokenizer

/// The real MiniLM tokenizer, loaded once for all tests.
let miniLMTokenizer: Result<BertTokenizer, Error> = Result { try BertTokenizer.load(directory: try Fixtures.miniLM()) }
