import SentinelCore
import SentinelEncoder
import SentinelTestSupport
import XCTest

/// Entity and classification scores against seqeval and scikit-learn on `Formats/metrics/vectors.json`
/// (made by `Formats/metrics/make-vectors.py`, `Formats/metrics.md`).
final class MetricsTests: XCTestCase {
    static let tolerance = 1e-12

    func vectors() throws -> JSONValue {
        try JSONValue.read(file: Fixtures.packageRoot + "/Formats/metrics/vectors.json")
    }

    static func strings(_ v: JSONValue?) throws -> [String] {
        try XCTUnwrap(v?.arrayValue).map { try XCTUnwrap($0.stringValue) }
    }

    static func sentences(_ v: JSONValue?) throws -> [[String]] {
        try XCTUnwrap(v?.arrayValue).map { try strings($0) }
    }

    static func ints(_ v: JSONValue?) throws -> [Int] {
        try XCTUnwrap(v?.arrayValue).map { try XCTUnwrap($0.intValue) }
    }

    func assertClose(_ got: Double, _ expected: JSONValue?, _ what: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let e = try XCTUnwrap(expected?.doubleValue, what, file: file, line: line)
        XCTAssertEqual(got, e, accuracy: Self.tolerance, what, file: file, line: line)
    }

    /// `get_entities` on every sentence: hand-written adversarial ones and random IOB2/IOBES/mixed ones.
    func testChunksMatchSeqevalGetEntities() throws {
        let sentences = try XCTUnwrap(vectors()["sentences"]?.arrayValue)
        XCTAssertGreaterThanOrEqual(sentences.count, 80)
        for s in sentences {
            let tags = try Self.strings(s["tags"])
            let expected = try XCTUnwrap(s["entities"]?.arrayValue).map { e -> EntitySpan in
                let a = try XCTUnwrap(e.arrayValue)
                return EntitySpan(type: try XCTUnwrap(a[0].stringValue), start: try XCTUnwrap(a[1].intValue), end: try XCTUnwrap(a[2].intValue))
            }
            XCTAssertEqual(SequenceLabeling.entities(tags), expected, "\(tags)")
        }
    }

    /// Micro precision/recall/F1, support, per-type rows of `classification_report` and `accuracy_score`.
    func testEntityScoresMatchSeqeval() throws {
        let cases = try XCTUnwrap(vectors()["entity_cases"]?.arrayValue)
        XCTAssertGreaterThanOrEqual(cases.count, 100)
        var nonTrivial = 0
        for c in cases {
            let name = try XCTUnwrap(c["name"]?.stringValue)
            let s = SequenceLabeling.entityScores(gold: try Self.sentences(c["gold"]), predicted: try Self.sentences(c["predicted"]))
            try assertClose(s.precision, c["precision"], name + " precision")
            try assertClose(s.recall, c["recall"], name + " recall")
            try assertClose(s.f1, c["f1"], name + " f1")
            XCTAssertEqual(s.support, c["support"]?.intValue, name + " support")
            if let accuracy = c["token_accuracy"], accuracy != .null { try assertClose(s.tokenAccuracy, accuracy, name + " accuracy") }
            let perType = try XCTUnwrap(c["per_type"]?.objectValue)
            XCTAssertEqual(s.types, perType.map(\.0), name + " types")
            for (type, row) in perType {
                let got = try XCTUnwrap(s.perType[type], name + " " + type)
                try assertClose(got.precision, row["precision"], "\(name) \(type) precision")
                try assertClose(got.recall, row["recall"], "\(name) \(type) recall")
                try assertClose(got.f1, row["f1"], "\(name) \(type) f1")
                XCTAssertEqual(got.support, row["support"]?.intValue, "\(name) \(type) support")
            }
            if s.f1 > 0 && s.f1 < 1 { nonTrivial += 1 }
        }
        XCTAssertGreaterThan(nonTrivial, 30)
    }

    /// Accuracy, binary F1 (label 1), macro F1 and the per-label rows of scikit-learn.
    func testClassificationScoresMatchScikitLearn() throws {
        let cases = try XCTUnwrap(vectors()["classification_cases"]?.arrayValue)
        XCTAssertGreaterThanOrEqual(cases.count, 25)
        for c in cases {
            let name = try XCTUnwrap(c["name"]?.stringValue), n = try XCTUnwrap(c["label_count"]?.intValue)
            let s = ClassificationScores.compute(gold: try Self.ints(c["gold"]), predicted: try Self.ints(c["predicted"]), labelCount: n)
            try assertClose(s.accuracy, c["accuracy"], name + " accuracy")
            try assertClose(s.macroF1, c["macro_f1"], name + " macro F1")
            if n == 2 {
                try assertClose(try XCTUnwrap(s.binaryF1, name), c["binary_f1"], name + " binary F1")
            } else {
                XCTAssertNil(s.binaryF1, name)
            }
            let rows = try XCTUnwrap(c["per_label"]?.arrayValue)
            XCTAssertEqual(s.perLabel.count, rows.count, name)
            for (l, row) in rows.enumerated() {
                try assertClose(s.perLabel[l].precision, row["precision"], "\(name) label \(l) precision")
                try assertClose(s.perLabel[l].recall, row["recall"], "\(name) label \(l) recall")
                try assertClose(s.perLabel[l].f1, row["f1"], "\(name) label \(l) f1")
                XCTAssertEqual(s.perLabel[l].support, row["support"]?.intValue, "\(name) label \(l) support")
            }
        }
    }

    /// A small case worked by hand: the IOB1 chunk and the type change count as seqeval counts them.
    func testWorkedExample() {
        let gold = [["B-PER", "I-PER", "O", "B-LOC"], ["I-ORG", "O"]]
        let predicted = [["B-PER", "I-PER", "O", "B-ORG"], ["B-ORG", "O"]]
        let s = SequenceLabeling.entityScores(gold: gold, predicted: predicted)
        // Gold: PER(0,1), LOC(3,3), ORG(5,5); predicted: PER(0,1), ORG(3,3), ORG(5,5): 2 of 3 correct.
        XCTAssertEqual(s.overall.correct, 2)
        XCTAssertEqual(s.precision, 2.0 / 3.0)
        XCTAssertEqual(s.recall, 2.0 / 3.0)
        XCTAssertEqual(s.f1, 2.0 / 3.0, accuracy: 1e-15)
        XCTAssertEqual(s.perType["LOC"]?.recall, 0)
        XCTAssertEqual(s.perType["ORG"]?.precision, 0.5)
        XCTAssertEqual(s.tokenAccuracy, 4.0 / 6.0)
        XCTAssertEqual(s.types, ["LOC", "ORG", "PER"])
    }
}
