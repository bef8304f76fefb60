import Foundation
import SentinelCore
import SentinelFormats
import SentinelTestSupport
import SentinelTokenizer
import XCTest

/// The real MiniLM tokenizer, loaded once for all tests.
let miniLMTokenizer: Result<BertTokenizer, Error> = Result { try BertTokenizer.load(directory: try Fixtures.miniLM()) }

/// Every tensor of `weights` has the dtype, shape and sha256 of the reference converter's `tensors.json` (`golden`),
/// and there are `count` of them.
func assertTensorsMatch(_ weights: String, golden: String, count: Int, file: StaticString = #filePath, line: UInt = #line) throws {
    let tensors = try XCTUnwrap(try Fixtures.json(golden).objectValue)
    let st = try SafeTensorsFile(path: weights)
    XCTAssertEqual(st.tensors.count, tensors.count, file: file, line: line)
    XCTAssertEqual(tensors.count, count, file: file, line: line)
    for (name, expected) in tensors {
        let t = try XCTUnwrap(st.tensor(named: name), name)
        XCTAssertEqual(t.shape, expected["shape"]?.arrayValue?.compactMap(\.intValue), name, file: file, line: line)
        XCTAssertEqual(
            t.dtype == .F64 ? "float64" : t.dtype == .F32 ? "float32" : "\(t.dtype)", expected["dtype"]?.stringValue, name, file: file,
            line: line)
        XCTAssertEqual(SHA256Stream.hex(st.bytes(of: t)), expected["sha256"]?.stringValue, name, file: file, line: line)
    }
}
