import SentinelCore
import XCTest

final class JSONTests: XCTestCase {
    func testKeyOrderExactIntegersAndNumberSpellingSurvive() throws {
        let text = #"{"z":1,"a":9223372036854775807,"big":18446744073709551615,"f":0.1000,"e":1e-12,"s":"café/✓\u0000x","n":null,"l":[true,false]}"#
        let v = try JSONValue.parse(text)
        XCTAssertEqual(v.objectValue?.map(\.0), ["z", "a", "big", "f", "e", "s", "n", "l"])
        XCTAssertEqual(v["a"], .int(Int64.max))
        XCTAssertEqual(v["big"], .uint(UInt64.max))
        XCTAssertEqual(v["s"]?.stringValue, "café/✓\u{0}x")
        XCTAssertEqual(v["f"]?.doubleValue, 0.1)
        // Same text back, except that json-c spells U+0000 as \u0000 (it was so in the source).
        XCTAssertEqual(v.serialized(), text)
    }

    func testRejectsTrailingGarbageInvalidUTF8AndEmptyInput() {
        XCTAssertThrowsError(try JSONValue.parse(#"{"a":1} x"#)) { e in
            XCTAssertEqual((e as? JSONValue.ParseError)?.offset, 8)
        }
        XCTAssertThrowsError(try JSONValue.parse(""))
        let bad: [UInt8] = Array(#"{"a":""#.utf8) + [0xff] + Array(#""}"#.utf8)
        XCTAssertThrowsError(try bad.withUnsafeBytes { try JSONValue.parse($0) })
    }

    func testSettingReplacesInPlace() throws {
        let v = try JSONValue.parse(#"{"a":1,"b":{"c":2},"d":3}"#)
        XCTAssertEqual(v.setting("b", to: .string("x")).serialized(), #"{"a":1,"b":"x","d":3}"#)
        XCTAssertEqual(v.setting("e", to: .null).serialized(), #"{"a":1,"b":{"c":2},"d":3,"e":null}"#)
    }
}
