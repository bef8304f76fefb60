import Foundation
import SentinelCore
import SentinelEncoder
import SentinelFormats
import SentinelTestSupport
import XCTest

/// `sentinel predict` on a RoBERTa sequence-classification checkpoint built from the fixture's `RobertaModel`
/// (`roberta.`-prefixed) with a seeded head: its logits against ``RobertaForSequenceClassification`` on the
/// fixture's ids (the head's own check against transformers is ``RobertaHeadTests`` in SentinelEncoderTests).
final class RobertaPredictCommandTests: XCTestCase {
    static let model = Fixtures.fixture("roberta/model")
    let h = 128, labels = 3

    func archive(sequence: Bool) throws -> MemoryArchive {
        try robertaTaskArchive(base: Self.model, sequence: sequence, hidden: h, labels: labels)
    }

    /// `sentinel predict --task classification` on a RobertaForSequenceClassification directory.
    func testPredictCommandUsesTheRobertaHead() throws {
        let dir = try Fixtures.temporaryDirectory("roberta-predict")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let a = try archive(sequence: true)
        try SafeTensorsWriter.write(a.entries.map { .copy($0, from: a) }, to: dir + "/model.safetensors")
        for name in ["config.json", "tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt"] {
            try FileManager.default.copyItem(atPath: Self.model + "/" + name, toPath: dir + "/" + name)
        }
        let r = try Fixtures.sentinel(
            ["predict", dir, "--task", "classification", "--json"],
            stdin: Data("Peter Blackburn lives in Berlin .\n".utf8))
        XCTAssertEqual(r.status, 0, r.stderr)
        let logits = try XCTUnwrap(try JSONValue.parse(r.stdout)["predictions"]?.arrayValue?.first?["logits"]?.arrayValue)
            .compactMap(\.doubleValue)
        let config = try BertConfig.load(path: Self.model + "/config.json")
        // The ids are the fixture's (tokenizer_cases.jsonl, HF fast tokenizer) for this sentence.
        let expected = try RobertaForSequenceClassification(archive: a, config: config)
            .forward(EncoderBatch(inputIDs: [[0, 52, 2803, 446, 3842, 6140, 2595, 297, 3744, 2258, 293, 2]])).values
        XCTAssertEqual(logits.count, labels)
        for k in 0..<labels { XCTAssertEqual(logits[k], Double(expected[k]), accuracy: 1e-5) }
    }
}
