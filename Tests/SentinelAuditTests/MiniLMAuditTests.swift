import Foundation
import SentinelScheme
import SentinelAudit
import SentinelCore
import SentinelTestSupport
import XCTest

/// The library on the real MiniLM: Sentinel's seed-scheme conversion (key llm123, shuffle, glide 2) is broken by the
/// brute force, which finds the reference converter's seed (475, `seed-converter/.../reference.json`) and its full
/// mapping without the key.
final class MiniLMAuditTests: XCTestCase {
    func testBruteForceFindsTheReferenceSeedOnMiniLM() throws {
        let model = try Fixtures.miniLM()
        let tmp = try Fixtures.temporaryDirectory("audit-minilm")
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        _ = try SeedConverter.convert(
            model: model, output: tmp + "/adapted", passkey: "llm123",
            options: ConversionOptions(shuffle: true, glideSteps: 2))
        let input = try AuditInput.load(adapted: tmp + "/adapted", original: model, passkey: "llm123")
        XCTAssertEqual(input.hiddenCount, 30517)
        XCTAssertEqual(Set(input.anchors.map(\.adapted)), [0, 100, 101, 102, 103])
        let reference = try Fixtures.json("seed-converter/minilm-llm123-f2-shuffle/reference.json")
        let report = IrreversibilityAudit.run(input, attacks: [.seedBruteForce, .fixedPoints])
        XCTAssertEqual(report.seedFound, reference["run"]?["seed"]?.intValue)
        XCTAssertEqual(report.attacks[0].recoveredTop1, 1.0)
        // The reference mapping's fixed points, less the 5 special ids, are what the fixed-point attack finds.
        let fixed = try XCTUnwrap(reference["mapping"]?["fixed_points"]?.arrayValue).count - 5
        XCTAssertEqual(report.attacks[1].values.first { $0.0 == "fixed_points" }?.1.intValue, fixed)
        XCTAssertEqual(report.attacks[1].recoveredTop1, Double(fixed) / 30517)
        XCTAssertTrue(report.attacks[1].passed)
    }
}
