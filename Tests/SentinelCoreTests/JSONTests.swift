import XCTest
@testable import SentinelCore

final class JSONTests: XCTestCase {
    func testKeyOrderAndExactIntegersSurvive() throws {
        let text = #"{"z":1,"a":9223372036854775807,"big":18446744073709551615,"f":0.1000,"s":"café/✓","n":null,"l":[true,false]}"#
        let v = try JSONValue.parse(text)
        XCTAssertEqual(v.objectValue?.map(\.0), ["z", "a", "big", "f", "s", "n", "l"])
        XCTAssertEqual(v["a"], .int(Int64.max))
        XCTAssertEqual(v["big"], .uint(UInt64.max))
        XCTAssertEqual(v.serialized(), text)
    }

    func testDuplicateKeysAreVisible() throws {
        let v = try JSONValue.parse(#"{"a":1,"b":2,"a":3}"#)
        print(v.serialized(.pretty))
        XCTAssertEqual(v.duplicateKeys, ["a"])
    }
}
