import Foundation
import SentinelCore
@testable import SentinelEncoder
import SentinelTestSupport
import SentinelFormats
import XCTest

/// The encoder against HuggingFace transformers + PyTorch float32 outputs on the real MiniLM
/// (`../shared/fixtures/bert`, tolerances from its README / `tolerances.json`).
final class HuggingFaceParityTests: XCTestCase {
    /// The real model, loaded once for the class (XCTest runs the tests of a class one after another).
    nonisolated(unsafe) static let cachedModel: Result<BertModel, Error> = Result {
        let dir = try TestPaths.miniLM()
        return try BertModel(archive: SafeTensorsFile(path: dir + "/model.safetensors"), config: BertConfig.load(path: dir + "/config.json"))
    }

    func miniLM() throws -> BertModel { try Self.cachedModel.get() }

    func batch(_ fixture: SafeTensorsFile) throws -> EncoderBatch {
        try EncoderBatch(
            inputIDs: fixture.intRows("input_ids"), attentionMask: fixture.intRows("attention_mask"),
            tokenTypeIDs: fixture.intRows("token_type_ids"))
    }

    /// f01: the embedding output and every layer's output, last_hidden_state and pooler_output, for 6
    /// sentences (padding to 19 tokens, one sentence pair). Valid positions within atol 5e-5, padded
    /// positions within 1e-3, pooler within 2e-6.
    func testF01EveryHiddenStateAndPooler() throws {
        let model = try miniLM()
        let fixture = try SafeTensorsFile(path: TestPaths.bertFixtures + "/f01_forward.safetensors")
        let input = try batch(fixture)
        XCTAssertEqual(input.batchSize, 6)
        XCTAssertEqual(input.sequenceLength, 19)
        XCTAssertTrue(input.attentionMask.contains(0), "the fixture has padding")
        XCTAssertTrue(input.tokenTypeIDs.contains(1), "the fixture has a sentence pair")
        let out = try model.forward(input, outputHiddenStates: true)
        XCTAssertEqual(out.hiddenStates.count, 7)
        let h = model.config.hiddenSize
        let valid = { (i: Int) in input.attentionMask[i / h] != 0 }
        for (i, state) in out.hiddenStates.enumerated() {
            XCTAssertEqual(state.shape, [6, 19, 384])
            let ref = try fixture.floats("hidden_states.\(i)")
            let dValid = maxAbsDiff(state.values, ref, where: valid)
            let dAll = maxAbsDiff(state.values, ref)
            print("hidden_states.\(i): max abs diff valid \(dValid), all \(dAll)")
            XCTAssertLessThanOrEqual(dValid, 5e-5, "hidden_states.\(i) valid positions")
            XCTAssertLessThanOrEqual(dAll, 1e-3, "hidden_states.\(i) with padded positions")
        }
        let last = try fixture.floats("last_hidden_state")
        XCTAssertEqual(out.lastHiddenState.shape, [6, 19, 384])
        XCTAssertLessThanOrEqual(maxAbsDiff(out.lastHiddenState.values, last, where: valid), 5e-5)
        // The float64 run too: we should be as close to the exact result as torch's float32 is.
        let last64 = try fixture.floats("f64.last_hidden_state")
        XCTAssertLessThanOrEqual(maxAbsDiff(out.lastHiddenState.values, last64, where: valid), 5e-5)
        let pooled = try XCTUnwrap(out.poolerOutput)
        XCTAssertEqual(pooled.shape, [6, 384])
        XCTAssertLessThanOrEqual(maxAbsDiff(pooled.values, try fixture.floats("pooler_output")), 2e-6)
    }

    /// The same model written as a PyTorch zip checkpoint (read through SentinelFormats, weights copied out of
    /// the archive) gives bit-identical outputs to the memory-mapped safetensors file.
    func testTorchCheckpointGivesTheSameOutputs() throws {
        let dir = try TestPaths.miniLM()
        let tmp = try Fixtures.temporaryDirectory("encoder-torch")
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        try TorchWriter.write(archive: SafeTensorsFile(path: dir + "/model.safetensors"), to: tmp + "/pytorch_model.bin")
        let torch = try BertModel(
            archive: openTensorArchive(path: tmp + "/pytorch_model.bin"),
            config: BertConfig.load(path: dir + "/config.json"))
        let fixture = try SafeTensorsFile(path: TestPaths.bertFixtures + "/f01_forward.safetensors")
        let a = try torch.forward(batch(fixture))
        let b = try miniLM().forward(batch(fixture))
        XCTAssertEqual(a.lastHiddenState, b.lastHiddenState)
        XCTAssertEqual(a.poolerOutput, b.poolerOutput)
    }

    /// f02: BertForTokenClassification logits `[4, 16, 9]` with the fixture's classifier, atol 1e-5.
    func testF02TokenClassificationLogits() throws {
        let fixture = try SafeTensorsFile(path: TestPaths.bertFixtures + "/f02_token_classification.safetensors")
        let head = try ClassificationHead.load(
            from: fixture, hiddenSize: 384, weightName: "init.classifier.weight",
            biasName: "init.classifier.bias")
        XCTAssertEqual(head.labelCount, 9)
        let model = BertForTokenClassification(bert: try miniLM(), classifier: head)
        let logits = try model.forward(batch(fixture))
        XCTAssertEqual(logits.shape, [4, 16, 9])
        XCTAssertLessThanOrEqual(maxAbsDiff(logits.values, try fixture.floats("logits")), 1e-5)
    }

    /// f03: BertForSequenceClassification logits `[4, 2]` (pooler + classifier, one pair), atol 1e-5.
    func testF03SequenceClassificationLogits() throws {
        let fixture = try SafeTensorsFile(path: TestPaths.bertFixtures + "/f03_sequence_classification.safetensors")
        let head = try ClassificationHead.load(
            from: fixture, hiddenSize: 384, weightName: "init.classifier.weight",
            biasName: "init.classifier.bias")
        let model = BertForSequenceClassification(bert: try miniLM(), classifier: head)
        let logits = try model.forward(batch(fixture))
        XCTAssertEqual(logits.shape, [4, 2])
        XCTAssertLessThanOrEqual(maxAbsDiff(logits.values, try fixture.floats("logits")), 1e-5)
    }

    /// Padding never changes the valid positions: (a) another pad token id at padded positions gives
    /// bitwise-identical valid outputs; (b) a sentence alone equals the same sentence padded in a batch.
    func testPaddingDoesNotChangeOtherPositions() throws {
        let model = try miniLM()
        let fixture = try SafeTensorsFile(path: TestPaths.bertFixtures + "/f01_forward.safetensors")
        let input = try batch(fixture)
        let h = 384, l = input.sequenceLength
        var altered = input
        for i in 0..<altered.inputIDs.count where altered.attentionMask[i] == 0 {
            altered.inputIDs[i] = Int32(1000 + i)
            altered.tokenTypeIDs[i] = 1
        }
        let a = try model.forward(input).lastHiddenState.values
        let b = try model.forward(altered).lastHiddenState.values
        var compared = 0
        for i in 0..<a.count where input.attentionMask[i / h] != 0 {
            XCTAssertEqual(a[i], b[i], "valid position \(i / h) changed when padding changed")
            compared += 1
            if a[i] != b[i] { break }
        }
        XCTAssertGreaterThan(compared, 0)
        // Row 1 ("Hello world!") alone, unpadded.
        let row = 1
        let n = input.attentionMask[(row * l)..<((row + 1) * l)].filter { $0 != 0 }.count
        XCTAssertLessThan(n, l, "row 1 is padded in the fixture")
        let alone = try EncoderBatch(
            batchSize: 1, sequenceLength: n,
            inputIDs: Array(input.inputIDs[(row * l)..<(row * l + n)]))
        let single = try model.forward(alone)
        let padded = Array(a[(row * l * h)..<((row * l + n) * h)])
        XCTAssertLessThanOrEqual(maxAbsDiff(single.lastHiddenState.values, padded), 1e-5)
    }
}
