import SentinelCore
import SentinelTestSupport
@testable import SentinelTokenizer
import XCTest

/// The BERT template, token_type_ids, truncation, padding and offsets, built on fixture strings whose
/// pieces are known from ../shared/fixtures/tokenizer.
final class EncodingTests: XCTestCase {
    /// Fixture rows by text.
    func fixture(_ text: String) throws -> [Int32] {
        let rows = try jsonLines(shared("fixtures/tokenizer/wordpiece_cases.jsonl"))
        let row = try XCTUnwrap(rows.first { $0["text"]?.stringValue == text }, "fixture has \(text)")
        return try XCTUnwrap(row["ids"]?.arrayValue).compactMap(\.int64Value).map(Int32.init)
    }

    func testSingleAndPairTemplates() throws {
        let t = try miniLMTokenizer.get()
        let a = "She sells seashells by the seashore.", b = "Hello, world!"
        let ia = try fixture(a), ib = try fixture(b)
        let single = t.encode(a)
        XCTAssertEqual(single.inputIDs, [t.clsID] + ia + [t.sepID])
        XCTAssertEqual(single.tokenTypeIDs, Array(repeating: 0, count: ia.count + 2))
        XCTAssertEqual(single.attentionMask, Array(repeating: 1, count: ia.count + 2))
        XCTAssertEqual(single.sequenceIDs.first!, nil)
        let pair = t.encode(a, pair: b)
        XCTAssertEqual(pair.inputIDs, [t.clsID] + ia + [t.sepID] + ib + [t.sepID])
        XCTAssertEqual(pair.tokenTypeIDs, Array(repeating: 0, count: ia.count + 2) + Array(repeating: 1, count: ib.count + 1))
        XCTAssertEqual(t.tokens([t.clsID, t.sepID, t.padID, t.unknownID]), ["[CLS]", "[SEP]", "[PAD]", "[UNK]"])
    }

    func testOffsetsPointIntoTheOriginalText() throws {
        let t = try miniLMTokenizer.get()
        let text = "She sells SEASHELLS, naïve café — 東京!"
        let e = t.encode(text)
        let bytes = Array(text.utf8)
        var slices: [String] = []
        for (i, range) in e.offsets.enumerated() where e.sequenceIDs[i] != nil {
            slices.append(String(decoding: bytes[range], as: UTF8.self))
        }
        XCTAssertEqual(slices.prefix(2), ["She", "sells"])
        XCTAssertEqual(slices.suffix(3), ["東", "京", "!"])
        // Each piece's text, lowercased and without accents, is the token without its ## prefix.
        let tokens = t.tokens(e.inputIDs)
        for (i, range) in e.offsets.enumerated() where e.sequenceIDs[i] != nil {
            let original = String(decoding: bytes[range], as: UTF8.self)
            let folded = original.lowercased().decomposedStringWithCanonicalMapping.unicodeScalars
                .filter { $0.properties.generalCategory != .nonspacingMark }
            XCTAssertEqual(String(String.UnicodeScalarView(folded)), tokens[i].hasPrefix("##") ? String(tokens[i].dropFirst(2)) : tokens[i])
        }
        XCTAssertEqual(e.offsets.first, 0..<0)
        XCTAssertEqual(e.wordIDs.compactMap { $0 }.max(), 9)  // she sells seashells , naive cafe — 東 京 !
    }

    func testTruncationAndPadding() throws {
        let t = try miniLMTokenizer.get()
        let a = "The weather today is sunny with a chance of rain in the evening.", b = "Hello, world!"
        let ia = try fixture(a), ib = try fixture(b)  // 14 and 4 pieces
        XCTAssertEqual([ia.count, ib.count], [14, 4])
        let single = t.encode(a, truncation: .longestFirst(maxLength: 8))
        XCTAssertEqual(single.inputIDs, [t.clsID] + ia.prefix(6) + [t.sepID])
        // longest_first on a pair: budget 12 - 3 = 9; the shorter (4) keeps all, the longer gets 5.
        let pair = t.encode(a, pair: b, truncation: .longestFirst(maxLength: 12))
        XCTAssertEqual(pair.inputIDs, [t.clsID] + ia.prefix(5) + [t.sepID] + ib + [t.sepID])
        // Both over half: budget 7 → 3 + 4 (the second sequence gets the odd position).
        XCTAssertTrue(SpecialTokenTemplate.longestFirst(14, 14, 7) == (3, 4))
        XCTAssertTrue(SpecialTokenTemplate.longestFirst(4, 14, 9) == (4, 5))
        XCTAssertTrue(SpecialTokenTemplate.longestFirst(14, 4, 9) == (5, 4))
        XCTAssertTrue(SpecialTokenTemplate.longestFirst(20, 30, 10) == (5, 5))
        let onlySecond = t.encode(a, pair: b, truncation: .onlySecond(maxLength: 19))
        XCTAssertEqual(onlySecond.inputIDs, [t.clsID] + ia + [t.sepID] + ib.prefix(2) + [t.sepID])
        let padded = t.encode(b, padding: .toLength(10))
        XCTAssertEqual(padded.inputIDs, [t.clsID] + ib + [t.sepID] + Array(repeating: t.padID, count: 4))
        XCTAssertEqual(padded.attentionMask, Array(repeating: 1, count: 6) + Array(repeating: 0, count: 4))
        let batch = t.encodeBatch([(a, nil), (b, nil)])
        XCTAssertEqual(batch.map(\.count), [16, 16])
        XCTAssertEqual(batch[1].attentionMask.reduce(0, +), 6)
    }

    func testFirstPieceWordsAlignLabels() throws {
        let t = try miniLMTokenizer.get()
        let text = "Seashells by Schleswig-Holstein"
        let e = t.encode(text, pair: "ignored here")
        let words = e.firstPieceWords(in: text[...])
        XCTAssertEqual(words.map(\.text), ["Seashells", "by", "Schleswig", "-", "Holstein"])
        // Each word's position is its first wordpiece ([CLS] is position 0).
        XCTAssertEqual(words.first?.position, 1)
        for w in words { XCTAssertFalse(t.tokens([e.inputIDs[w.position]])[0].hasPrefix("##"), w.text) }
    }

    func testPreSplitWordsKeepTheirIndex() throws {
        let t = try miniLMTokenizer.get()
        let e = t.encode(words: ["Seashells", "\u{200B}", "EU"])
        // The zero-width space normalizes to nothing: encode and pieces(ofWords:) drop it as HF does,
        // labelPieces(ofWords:) gives it [UNK]; appendWords is labelPieces' fast path.
        XCTAssertEqual(e.wordIDs, [nil, 0, 0, 0, 2, nil])
        XCTAssertEqual(t.pieces(ofWords: ["Seashells", "\u{200B}", "EU"]).words, [0, 0, 0, 2])
        let p = t.labelPieces(ofWords: ["Seashells", "\u{200B}", "EU"])
        XCTAssertEqual(p.words, [0, 0, 0, 1, 2])
        XCTAssertEqual(p.ids[3], t.unknownID)
        var fast = Pieces()
        var workspace = TokenizerWorkspace()
        t.appendWords(["Seashells", "\u{200B}", "EU"], to: &fast, workspace: &workspace)
        XCTAssertEqual(fast, p)
    }
}

/// Raw bytes that break the valid-UTF-8 contract of the low-level API never make it read out of bounds.
final class RawBytesTests: XCTestCase {
    func testCutOffAndStrayBytesDoNotCrash() throws {
        let t = try miniLMTokenizer.get()
        for bytes: [UInt8] in [[0x61, 0xF0], [0x80, 0x61], [0x61, 0xE2, 0x82], [0xFF, 0xFE, 0x62]] {
            var pieces = Pieces()
            var workspace = TokenizerWorkspace()
            bytes.withUnsafeBytes { t.append($0, to: &pieces, workspace: &workspace) }
            XCTAssertTrue(pieces.ends.allSatisfy { Int($0) <= bytes.count })
            XCTAssertFalse(pieces.ids.isEmpty)
        }
    }
}
