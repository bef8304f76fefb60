import Foundation
import SentinelCore
import SentinelFormats
import SentinelTestSupport
@testable import SentinelTokenizer
import XCTest

/// The synthetic RoBERTa (`../shared/fixtures/roberta`): tokens and ids of HF's fast tokenizer
/// (tokenizers 0.23) for 488 strings, and the inputs of the forward-pass fixture (single texts, a pair, padding).
final class ByteLevelBPEFixtureTests: XCTestCase {
    static let modelDir = Fixtures.fixture("roberta/model")
    static let loaded = Result { try ByteLevelBPETokenizer.load(directory: modelDir) }

    func cases() throws -> [JSONValue] {
        try jsonLines(Fixtures.fixture("roberta/tokenizer_cases.jsonl"))
    }

    private func check(_ tokenizer: ByteLevelBPETokenizer, label: String) throws {
        let cases = try cases()
        XCTAssertEqual(cases.count, 488)
        var failures = 0
        for (line, c) in cases.enumerated() {
            let text = try XCTUnwrap(c["text"]?.stringValue)
            let expectedTokens = try XCTUnwrap(c["tokens"]?.arrayValue).compactMap(\.stringValue)
            let expectedIDs = try XCTUnwrap(c["ids"]?.arrayValue).compactMap(\.int64Value).map(Int32.init)
            let e = tokenizer.encode(text)
            let tokens = tokenizer.tokens(e.inputIDs)
            if tokens != expectedTokens || e.inputIDs != expectedIDs {
                failures += 1
                if failures <= 20 {
                    XCTFail(
                        "\(label) line \(line + 1) [\(c["category"]?.stringValue ?? "")] \(c["text"]!.serialized()): got \(tokens), expected \(expectedTokens)"
                    )
                }
            }
        }
        XCTAssertEqual(failures, 0, label)
    }

    func testEveryFixtureStringMatchesTheFastTokenizer() throws {
        try check(try Self.loaded.get(), label: "tokenizer.json")
    }

    /// `vocab.json` + `merges.txt` (+ tokenizer_config.json), without tokenizer.json, give the same ids.
    func testVocabJSONAndMergesTxtGiveTheSameTokens() throws {
        let dir = try Fixtures.temporaryDirectory("bpe-slow")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for name in ["vocab.json", "merges.txt", "tokenizer_config.json"] {
            try FileManager.default.copyItem(atPath: Self.modelDir + "/" + name, toPath: dir + "/" + name)
        }
        XCTAssertTrue(ByteLevelBPETokenizer.isPresent(inDirectory: dir))
        let tokenizer = try ByteLevelBPETokenizer.load(directory: dir)
        XCTAssertEqual(tokenizer.merges.count, 7739)
        XCTAssertEqual(tokenizer.vocabularySize, 8000)
        // Without tokenizer.json, `<mask>` is RobertaTokenizer's `AddedToken("<mask>", lstrip=True)`: the whitespace
        // before it goes with it. Expected ids: the fixture's, minus the whitespace pieces just before each `<mask>`
        // (the fixture's tokenizer.json says lstrip false).
        var maskCases = 0
        for c in try cases() {
            let text = try XCTUnwrap(c["text"]?.stringValue)
            var expected: [Int32] = []
            for id in try XCTUnwrap(c["ids"]?.arrayValue).compactMap(\.int64Value).map(Int32.init) {
                if id == 4 {
                    while let last = expected.last, let t = tokenizer.token(of: last), !t.isEmpty,
                        t.unicodeScalars.allSatisfy({ ByteLevel.byte(of: $0).map { Unicode.Scalar($0).properties.isWhitespace } ?? false })
                    {
                        expected.removeLast()
                    }
                    maskCases += 1
                }
                expected.append(id)
            }
            XCTAssertEqual(tokenizer.encode(text).inputIDs, expected, text)
        }
        XCTAssertGreaterThan(maskCases, 5)
    }

    /// The six inputs of forward.safetensors: single texts and the pair `<s> A </s></s> B </s>`, right-padded with `<pad>`.
    func testForwardInputsIncludingThePair() throws {
        let tokenizer = try Self.loaded.get()
        let fixture = try SafeTensorsFile(path: Fixtures.fixture("roberta/forward.safetensors"))
        let ids = try rows(fixture, "input_ids"), mask = try rows(fixture, "attention_mask")
        let json = try Fixtures.json("roberta/forward.json")
        let sentences = try XCTUnwrap(json["sentences"]?.arrayValue)
        XCTAssertEqual(sentences.count, 6)
        let inputs = sentences.map { ($0.arrayValue![0].stringValue!, $0.arrayValue![1].stringValue) }
        let batch = tokenizer.encodeBatch(inputs, truncation: .longestFirst(maxLength: 128))
        for (i, e) in batch.enumerated() {
            XCTAssertEqual(e.inputIDs.map(Int.init), ids[i], "row \(i)")
            XCTAssertEqual(e.attentionMask.map(Int.init), mask[i], "row \(i)")
            XCTAssertTrue(e.tokenTypeIDs.allSatisfy { $0 == 0 })
        }
        // The pair: `</s></s>` between the sequences, both parts' pieces as for the texts alone.
        let pair = batch[2]
        let a = tokenizer.pieces(of: inputs[2].0).ids, b = tokenizer.pieces(of: inputs[2].1!).ids
        XCTAssertEqual(Array(pair.inputIDs.prefix(a.count + b.count + 4)), [0] + a + [2, 2] + b + [2])
        XCTAssertEqual(pair.sequenceIDs.prefix(a.count + 2).compactMap { $0 }, [Int](repeating: 0, count: a.count))
    }

    /// Truncation keeps the first pieces and the closing `</s>` (HF `truncation=True, max_length=n`).
    func testTruncationKeepsThePrefixAndTheTemplate() throws {
        let tokenizer = try Self.loaded.get()
        var checked = 0
        for c in try cases() {
            let ids = try XCTUnwrap(c["ids"]?.arrayValue).compactMap(\.int64Value).map(Int32.init)
            guard ids.count > 12 else { continue }
            let text = try XCTUnwrap(c["text"]?.stringValue)
            let e = tokenizer.encode(text, truncation: .longestFirst(maxLength: 10))
            XCTAssertEqual(e.inputIDs, Array(ids.prefix(9)) + [2], text)
            checked += 1
        }
        XCTAssertGreaterThan(checked, 100)
    }

    /// `<mask>` is an added token: matched before pre-tokenizing, with `lstrip: false` as tokenizer.json says.
    func testAddedTokensAndSpecialIDs() throws {
        let tokenizer = try Self.loaded.get()
        XCTAssertEqual(tokenizer.template, SpecialTokenTemplate(style: .roberta, start: 0, end: 2, pad: 1))
        XCTAssertEqual(tokenizer.specialIDs, [0, 1, 2, 3, 4])
        XCTAssertEqual(tokenizer.unknownID, 3)
        XCTAssertEqual(tokenizer.id(of: "Ġthe"), 272)
        XCTAssertEqual(tokenizer.token(of: 272), "Ġthe")
        XCTAssertFalse(tokenizer.options.addPrefixSpace)
    }

    /// Offsets are UTF-8 byte ranges of the text, without the leading space of a `Ġ` piece; words are pre-tokens.
    func testOffsetsAndWords() throws {
        let tokenizer = try Self.loaded.get()
        let text = "Peter Blackburn lives in Berlin ."
        let p = tokenizer.pieces(of: text)
        let bytes = Array(text.utf8)
        let spelled = p.ids.indices.map { String(decoding: bytes[Int(p.starts[$0])..<Int(p.ends[$0])], as: UTF8.self) }
        // The fixture's tokens with Ġ removed are the text's substrings.
        XCTAssertEqual(spelled, ["P", "eter", "B", "lack", "burn", "lives", "in", "Ber", "lin", "."])
        XCTAssertEqual(p.words, [0, 0, 1, 1, 1, 2, 3, 4, 4, 5])
    }

    func testReadableSpellings() {
        XCTAssertEqual(ByteLevel.readable("Ġquick"), "\u{2423}quick")
        XCTAssertEqual(ByteLevel.readable("Ċ"), "<0x0A>")
        XCTAssertEqual(ByteLevel.readable("ĉ"), "<0x09>")
        // "é" is bytes C3 A9: spelled "Ã©"; alone, each byte is not a character.
        XCTAssertEqual(ByteLevel.readable(ByteLevel.spelling(of: Array("é".utf8))), "é")
        XCTAssertEqual(ByteLevel.readable(ByteLevel.spelling(of: [0xC3])), "<0xC3>")
        XCTAssertEqual(ByteLevel.readable("<s>"), "<s>")
        XCTAssertEqual(ByteLevel.spelling(of: Array(" ".utf8)), "Ġ")
        for b in 0..<256 { XCTAssertEqual(ByteLevel.byte(of: ByteLevel.scalars[b]), UInt8(b)) }
    }

    func testBadMergesAreTypedErrors() throws {
        let dir = try Fixtures.temporaryDirectory("bpe-bad")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.copyItem(atPath: Self.modelDir + "/vocab.json", toPath: dir + "/vocab.json")
        try "#version: 0.2\nĠ t\nno such\n".write(toFile: dir + "/merges.txt", atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try ByteLevelBPETokenizer.load(directory: dir)) { error in
            guard let e = error as? InputError else { return XCTFail("\(error)") }
            XCTAssertEqual(e.code, .invalidStructure)
            XCTAssertEqual(e.key, "line 3")
            XCTAssertEqual(e.offset, Array("#version: 0.2\nĠ t\n".utf8).count)
            XCTAssertTrue(e.file.hasSuffix("merges.txt"))
        }
        try "#version: 0.2\nĠ t\nthree parts here\n".write(toFile: dir + "/merges.txt", atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try ByteLevelBPETokenizer.load(directory: dir)) { error in
            XCTAssertEqual((error as? InputError)?.key, "line 3")
        }
    }

    private func rows(_ f: SafeTensorsFile, _ name: String) throws -> [[Int]] {
        let t = try XCTUnwrap(f.tensor(named: name))
        XCTAssertEqual(t.dtype, .I64)
        let cols = t.shape[1]
        let raw = f.bytes(of: t)
        return (0..<t.shape[0]).map { r in (0..<cols).map { Int(raw.loadUnaligned(fromByteOffset: 8 * (r * cols + $0), as: Int64.self)) } }
    }
}
