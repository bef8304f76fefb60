import Foundation
import SentinelCore
import SentinelFormats
import SentinelTestSupport
@testable import SentinelEncoder
import XCTest

/// The synthetic RoBERTa of `../shared/fixtures/roberta` against transformers' `RobertaModel` (forward.safetensors):
/// RoBERTa position ids, one token type, the pooler; tolerance 1e-4 on valid positions (forward.json).
final class RobertaForwardTests: XCTestCase {
    static let modelDir = Fixtures.fixture("roberta/model")

    func load() throws -> (BertModel, SafeTensorsFile) {
        let config = try BertConfig.load(path: Self.modelDir + "/config.json")
        let model = try BertModel(archive: SafeTensorsFile(path: Self.modelDir + "/model.safetensors"), config: config)
        return (model, try SafeTensorsFile(path: Fixtures.fixture("roberta/forward.safetensors")))
    }

    func testConfigSaysRoBERTaPositions() throws {
        let config = try BertConfig.load(path: Self.modelDir + "/config.json")
        XCTAssertEqual(config.modelType, "roberta")
        XCTAssertEqual(config.positionIDs, .roberta(paddingIndex: 1))
        XCTAssertEqual(config.typeVocabSize, 1)
        XCTAssertEqual(config.maxPositions, 130)
        XCTAssertEqual(config.maxSequenceLength, 128)
    }

    func testPositionIDsAreTheFixtures() throws {
        let (model, fixture) = try load()
        let ids = try fixture.intRows("input_ids"), mask = try fixture.intRows("attention_mask")
        let batch = try EncoderBatch(inputIDs: ids, attentionMask: mask)
        XCTAssertEqual(model.positionIDs(batch).map(Int.init), try fixture.intRows("position_ids").flatMap { $0 })
    }

    func testForwardMatchesTransformers() throws {
        let (model, fixture) = try load()
        let ids = try fixture.intRows("input_ids"), mask = try fixture.intRows("attention_mask")
        let out = try model.forward(inputIDs: ids, attentionMask: mask)
        let expected = try fixture.floats("last_hidden_state")
        XCTAssertEqual(out.lastHiddenState.shape, [6, 63, 128])
        let l = 63, h = 128
        let flatMask = mask.flatMap { $0 }
        let d = maxAbsDiff(out.lastHiddenState.values, expected) { flatMask[$0 / h] != 0 }
        XCTAssertLessThanOrEqual(d, 1e-4, "last_hidden_state max |Δ| \(d)")
        let pooled = try XCTUnwrap(out.poolerOutput)
        let dp = maxAbsDiff(pooled.values, try fixture.floats("pooler_output"))
        XCTAssertLessThanOrEqual(dp, 1e-4, "pooler_output max |Δ| \(dp)")
        print("RoBERTa forward parity: last_hidden_state \(d), pooler \(dp), L \(l)")
        // Plain BERT positions (0..<L) must not pass: the test sees the position ids.
        var bertConfig = model.config
        bertConfig.positionIDs = .absolute
        let bert = try BertModel(archive: model.archive, config: bertConfig)
        let wrong = try bert.forward(inputIDs: ids, attentionMask: mask)
        XCTAssertGreaterThan(maxAbsDiff(wrong.lastHiddenState.values, expected) { flatMask[$0 / h] != 0 }, 1e-2)
    }

    func testOverlongInputIsRefused() throws {
        let (model, _) = try load()
        XCTAssertThrowsError(try model.forward(inputIDs: [[Int](repeating: 5, count: 129)])) { error in
            XCTAssertEqual((error as? InputError)?.code, .outOfRange)
        }
        XCTAssertNoThrow(try model.forward(inputIDs: [[Int](repeating: 5, count: 128)]))
    }
}
