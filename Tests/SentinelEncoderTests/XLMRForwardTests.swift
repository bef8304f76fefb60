import Foundation
import SentinelCore
import SentinelFormats
import SentinelTestSupport
@testable import SentinelEncoder
import XCTest

/// The synthetic XLM-R of `../shared/fixtures/xlmr` against transformers' `XLMRobertaModel` (forward.safetensors): the
/// RoBERTa architecture with `layer_norm_eps` 1e-5 from its config, padding_idx position ids, one token type, the
/// pooler; tolerance 1e-4 on valid positions (forward.json).
final class XLMRForwardTests: XCTestCase {
    static let modelDir = Fixtures.fixture("xlmr/model")

    func load() throws -> (BertModel, SafeTensorsFile) {
        let config = try BertConfig.load(path: Self.modelDir + "/config.json")
        let model = try BertModel(archive: SafeTensorsFile(path: Self.modelDir + "/model.safetensors"), config: config)
        return (model, try SafeTensorsFile(path: Fixtures.fixture("xlmr/forward.safetensors")))
    }

    func testConfigSaysXLMRobertaLayout() throws {
        let config = try BertConfig.load(path: Self.modelDir + "/config.json")
        XCTAssertEqual(config.modelType, "xlm-roberta")
        XCTAssertEqual(config.positionIDs, .roberta(paddingIndex: 1))
        XCTAssertEqual(config.layerNormEps, 1e-5)
        XCTAssertEqual(config.typeVocabSize, 1)
        XCTAssertEqual(config.vocabSize, 8002)
        XCTAssertEqual(config.maxSequenceLength, 128)
    }

    func testPositionIDsAreTheFixtures() throws {
        let (model, fixture) = try load()
        let batch = try EncoderBatch(inputIDs: try fixture.intRows("input_ids"), attentionMask: try fixture.intRows("attention_mask"))
        XCTAssertEqual(model.positionIDs(batch).map(Int.init), try fixture.intRows("position_ids").flatMap { $0 })
    }

    func testForwardMatchesTransformers() throws {
        let (model, fixture) = try load()
        let ids = try fixture.intRows("input_ids"), mask = try fixture.intRows("attention_mask")
        XCTAssertEqual(ids.map { $0.count }, [Int](repeating: 128, count: 6))
        let out = try model.forward(inputIDs: ids, attentionMask: mask)
        let expected = try fixture.floats("last_hidden_state")
        XCTAssertEqual(out.lastHiddenState.shape, [6, 128, 128])
        let h = 128
        let flatMask = mask.flatMap { $0 }
        let d = maxAbsDiff(out.lastHiddenState.values, expected) { flatMask[$0 / h] != 0 }
        XCTAssertLessThanOrEqual(d, 1e-4, "last_hidden_state max |Δ| \(d)")
        let dp = maxAbsDiff(try XCTUnwrap(out.poolerOutput).values, try fixture.floats("pooler_output"))
        XCTAssertLessThanOrEqual(dp, 1e-4, "pooler_output max |Δ| \(dp)")
        // BERT's default epsilon (1e-12) instead of the config's 1e-5 must not pass: the test sees layer_norm_eps.
        var wrongEps = model.config
        wrongEps.layerNormEps = 1e-12
        let wrong = try BertModel(archive: model.archive, config: wrongEps).forward(inputIDs: ids, attentionMask: mask)
        let dw = maxAbsDiff(wrong.lastHiddenState.values, expected) { flatMask[$0 / h] != 0 }
        print("XLM-R forward parity: last_hidden_state \(d), pooler \(dp); with eps 1e-12: \(dw)")
        XCTAssertGreaterThan(dw, 1e-4)
    }
}
