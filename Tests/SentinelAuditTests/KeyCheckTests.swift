import SentinelAudit
import XCTest

/// The key-match verdict shared by `verify` and `vocab`.
final class KeyCheckTests: XCTestCase {
    func testVerdictAtTheThreshold() {
        XCTAssertTrue(KeyCheck.keyMatches(hashed: 30517, hashedFound: 30517))
        XCTAssertTrue(KeyCheck.keyMatches(hashed: 0, hashedFound: 0))
        XCTAssertFalse(KeyCheck.keyMatches(hashed: 30517, hashedFound: 0))
        // 1 % of the hashed tokens is the least that counts as the right key (a partial vocabulary).
        XCTAssertTrue(KeyCheck.keyMatches(hashed: 1000, hashedFound: 10))
        XCTAssertFalse(KeyCheck.keyMatches(hashed: 1000, hashedFound: 9))
        let message = KeyCheck.mismatchMessage(hashed: 1000, hashedFound: 9, original: "orig", adapted: "ad")
        XCTAssertTrue(message.contains("9 of the 1000"), message)
        XCTAssertTrue(message.contains("orig") && message.contains("ad"), message)
    }
}
