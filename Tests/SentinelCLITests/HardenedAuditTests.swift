import Foundation
import SentinelCore
import SentinelTestSupport
import XCTest

/// The audit on hardened conversions (the synthetic RoBERTa fixture, a byte-level BPE model of 8,000 ids): with
/// every hidden row re-initialised, no attack recovers more than chance + 1 % and the verdict is PASS; with the
/// function-preserving setting (no transform) the rows keep their shape and the audit fails.
final class HardenedAuditTests: XCTestCase {
    let env: [String: String?] = ["SENTINEL_KEY": "hardened audit"]

    private func audit(_ adapted: String, _ original: String) throws -> (status: Int32, doc: JSONValue, output: String) {
        let r = try Fixtures.sentinel(["audit", adapted, "--original", original, "--json"], environment: env)
        return (r.status, try JSONValue.parse(r.stdout), r.stdout + r.stderr)
    }

    func testReinitialisedRowsHideThePermutation() throws {
        let original = Fixtures.fixture("roberta/model")
        let dir = try Fixtures.temporaryDirectory("hardened-audit")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let kdf = ["--kdf-ops", "1", "--kdf-mem", "8MiB"]
        for (name, options) in [("reinit", ["--reinit-fraction", "1"]), ("identity", ["--reinit-fraction", "0"])] {
            let c = try Fixtures.sentinel(
                ["convert", original, "--output", dir + "/" + name, "--scheme", "hardened"] + kdf + options,
                environment: env)
            XCTAssertEqual(c.status, 0, c.stderr)
        }
        let hidden = try audit(dir + "/reinit", original)
        XCTAssertEqual(hidden.status, 0, hidden.output)
        XCTAssertEqual(hidden.doc["passed"]?.boolValue, true)
        let attacks = try XCTUnwrap(hidden.doc["attacks"]?.arrayValue)
        XCTAssertGreaterThanOrEqual(attacks.count, 6)
        for a in attacks {
            let name = a["name"]?.stringValue ?? "?"
            let top1 = try XCTUnwrap(a["recovered_top1"]?.doubleValue, name)
            let chance = a["chance_top1"]?.doubleValue ?? 0
            XCTAssertLessThanOrEqual(top1, chance + 0.01, name)
        }
        XCTAssertFalse(hidden.output.contains("hardened audit"))
        // Without a transform the permutation alone hides nothing from the mean-centred matcher.
        let plain = try audit(dir + "/identity", original)
        XCTAssertEqual(plain.status, 1, plain.output)
        let centred = try XCTUnwrap(plain.doc["attacks"]?.arrayValue?.first { $0["name"]?.stringValue == "nearest_centred_cosine" })
        XCTAssertGreaterThanOrEqual(try XCTUnwrap(centred["recovered_top1"]?.doubleValue), 0.99)
    }
}
