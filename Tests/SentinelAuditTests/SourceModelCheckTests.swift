import Foundation
import SentinelAudit
import SentinelCore
import SentinelFormats
import SentinelScheme
import SentinelTestSupport
import XCTest

/// ``SourceModelCheck`` (is `--original` the model converted?) and ``KeyCheck/probe(_:hasher:)`` (is the key the model's,
/// without the original?) on a conversion of the synthetic RoBERTa.
final class SourceModelCheckTests: XCTestCase {
    func converted() throws -> (String, String) {
        let tmp = try Fixtures.temporaryDirectory("source-check")
        _ = try SeedConverter.convert(
            model: Fixtures.fixture("roberta/model"), output: tmp + "/adapted", passkey: "llm123", options: ConversionOptions(shuffle: true))
        return (tmp, tmp + "/adapted")
    }

    func testRecordedDigestsThenConfigFields() throws {
        let (tmp, adapted) = try converted()
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        let roberta = try ModelDirectory(path: Fixtures.fixture("roberta/model"))
        let xlmr = try ModelDirectory(path: Fixtures.fixture("xlmr/model"))
        let same = try SourceModelCheck.check(adapted: ModelDirectory(path: adapted), original: roberta)
        XCTAssertTrue(same.passed, same.detail)
        XCTAssertEqual(same.json["by"]?.stringValue, "sha256")
        // model.safetensors, config.json, vocab.json, merges.txt, tokenizer.json, tokenizer_config.json
        XCTAssertEqual(same.json["compared"]?.arrayValue?.count, 6)
        // The manifest's files that xlmr/model has (config.json, model.safetensors, tokenizer.json, …) differ.
        let other = try SourceModelCheck.check(adapted: ModelDirectory(path: adapted), original: xlmr)
        XCTAssertFalse(other.passed)
        XCTAssertTrue(other.detail.contains("is not the model this was adapted from"), other.detail)
        // Without sentinel.json: config.json's shape fields decide (vocab_size 8000 vs 8002, model_type).
        try FileManager.default.removeItem(atPath: adapted + "/sentinel.json")
        let byConfig = try SourceModelCheck.check(adapted: ModelDirectory(path: adapted), original: xlmr)
        XCTAssertFalse(byConfig.passed)
        XCTAssertEqual(byConfig.json["differing"], .array([.string("model_type"), .string("vocab_size")]))
        XCTAssertTrue(try SourceModelCheck.check(adapted: ModelDirectory(path: adapted), original: roberta).passed)
    }

    func testKeyProbeFindsCommonTokensOnlyWithTheKey() throws {
        let (tmp, adapted) = try converted()
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        let vocabulary = try AdaptedVocabulary(path: adapted)
        let right = KeyCheck.probe(vocabulary, hasher: try TokenHasher(passkey: "llm123"))
        XCTAssertEqual(right.probed, KeyCheck.commonTokens.count)
        XCTAssertGreaterThanOrEqual(right.found, 5, "Ġthe, ',', '.', Ġa, Ġand, … are byte-level tokens")
        XCTAssertEqual(KeyCheck.probe(vocabulary, hasher: try TokenHasher(passkey: "wrong")).found, 0)
    }
}
