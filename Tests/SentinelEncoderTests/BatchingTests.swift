@testable import SentinelEncoder
import SentinelCore
import XCTest

/// Length-bucketed batching gives the same outputs as one row at a time, in input order.
final class BatchingTests: XCTestCase {
    func testBucketsSortByLengthAndKeepEveryRowOnce() {
        let batches = LengthBuckets.batches(lengths: [5, 1, 3, 1, 9, 3], batchSize: 4)
        XCTAssertEqual(batches, [[1, 3, 2, 5], [0, 4]])
        XCTAssertEqual(LengthBuckets.batches(lengths: [], batchSize: 3), [])
    }

    func testRunMatchesSingleRowForwardPasses() throws {
        let config = BertConfig(vocabSize: 50, hiddenSize: 16, layerCount: 2, headCount: 2, intermediateSize: 32, maxPositions: 32)
        let model = try BertModel(archive: MemoryArchive.randomBert(config, seed: 3), config: config)
        let rows = [
            EncoderRow(ids: [2, 7, 9, 3], types: [0, 0, 0, 0]), EncoderRow(ids: [2, 5, 3], types: [0, 0, 0]),
            EncoderRow(ids: [2, 11, 12, 13, 14, 3, 8, 3], types: [0, 0, 0, 0, 0, 0, 1, 1]),
        ]
        let out = try model.run(rows, batchSize: 2)
        XCTAssertEqual(out.length, 8)
        let h = config.hiddenSize
        for (r, row) in rows.enumerated() {
            let single = try model.forward(inputIDs: [row.ids.map(Int.init)], tokenTypeIDs: [row.types.map(Int.init)])
            let got = Array(out.lastHiddenState[(r * 8 * h)..<(r * 8 * h + row.ids.count * h)])
            XCTAssertLessThan(maxDiff(got, single.lastHiddenState.values), 1e-5, "row \(r)")
            XCTAssertLessThan(maxDiff(Array(out.poolerOutput[(r * h)..<((r + 1) * h)]), single.poolerOutput!.values), 1e-5)
            // Padded positions hold zeros; the mask marks the valid ones.
            XCTAssertTrue(out.lastHiddenState[(r * 8 * h + row.ids.count * h)..<((r + 1) * 8 * h)].allSatisfy { $0 == 0 })
            XCTAssertEqual(out.attentionMask[(r * 8)..<((r + 1) * 8)].reduce(0, +), Int32(row.ids.count))
        }
        let archive = out.archive()
        XCTAssertEqual(archive.entries.map(\.name), ["input_ids", "attention_mask", "token_type_ids", "last_hidden_state", "pooler_output"])
        XCTAssertEqual(archive.entry(named: "input_ids")?.shape, [3, 8])
    }

    func testLogitsAndArgmax() {
        XCTAssertEqual(Logits.argmax([1, 3, 3, 2][...]), 1)
        let p = Logits.softmax([0, log(3)][...])
        XCTAssertEqual(p[0], 0.25, accuracy: 1e-6)
        XCTAssertEqual(p[1], 0.75, accuracy: 1e-6)
        let t = TaskLogits(kind: .ner, labelCount: 3, rows: [[0, 1, 0, 5, 1, 1]])
        XCTAssertEqual(t.predictedLabels(row: 0), [1, 0])
    }

    private func maxDiff(_ a: [Float], _ b: [Float]) -> Float {
        zip(a, b).map { abs($0 - $1) }.max() ?? 0
    }
}
