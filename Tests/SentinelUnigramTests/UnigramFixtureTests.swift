import Foundation
import SentinelCore
import SentinelFormats
import SentinelTestSupport
import XCTest
@testable import SentinelTokenizer

/// Reads a JSON-lines fixture.
func jsonLines(_ relative: String) throws -> [JSONValue] {
    let text = try String(contentsOfFile: Fixtures.fixture(relative), encoding: .utf8)
    return try text.split(separator: "\n", omittingEmptySubsequences: true).map { try JSONValue.parse(String($0)) }
}

func int32s(_ v: JSONValue?) -> [Int32] { (v?.arrayValue ?? []).map { Int32($0.intValue ?? -999) } }
func strings(_ v: JSONValue?) -> [String] { (v?.arrayValue ?? []).map { $0.stringValue ?? "\u{0}?" } }

/// The synthetic XLM-R tokenizer (from tokenizer.json and from the .model) and the real 128k model, loaded once.
let syntheticJSON = Result { try UnigramTokenizer.load(directory: Fixtures.fixture("xlmr/model")) }
let syntheticSPM = Result { try UnigramTokenizer.load(sentencePieceModel: Fixtures.fixture("xlmr/model/sentencepiece.bpe.model")) }
let realSPM = Result { try UnigramTokenizer.load(directory: Fixtures.fixture("xlmr/real_spm")) }

/// The HF fast tokenizer's ids and tokens (`xlmr/README.md`, "tokenizer cases") on every fixture string.
final class UnigramFixtureTests: XCTestCase {
    /// Compares `tokenizer` with every case of `file`; returns the number of cases checked.
    func check(_ tokenizer: UnigramTokenizer, _ file: String, label: String) throws -> Int {
        let cases = try jsonLines(file)
        var failures = 0
        for c in cases {
            let text = c["text"]!.stringValue!
            let encoding = tokenizer.encode(text)
            let ids = int32s(c["ids"])
            let tokens = strings(c["tokens"])
            if encoding.inputIDs != ids || tokenizer.tokens(encoding.inputIDs) != tokens {
                failures += 1
                if failures <= 10 {
                    XCTFail(
                        "\(label) \(JSONValue.string(text).serialized()): got \(tokenizer.tokens(encoding.inputIDs)) \(encoding.inputIDs), want \(tokens) \(ids)"
                    )
                }
            }
        }
        XCTAssertEqual(failures, 0, "\(label): \(failures) of \(cases.count) cases differ")
        return cases.count
    }

    func testSyntheticModelFromTokenizerJSON() throws {
        XCTAssertEqual(try check(try syntheticJSON.get(), "xlmr/tokenizer_cases.jsonl", label: "tokenizer.json"), 488)
    }

    func testSyntheticModelFromSentencePieceModel() throws {
        XCTAssertEqual(try check(try syntheticSPM.get(), "xlmr/tokenizer_cases.jsonl", label: ".model"), 488)
    }

    func testRealMultilingualModel() throws {
        XCTAssertEqual(try check(try realSPM.get(), "xlmr/real_spm_tokenizer_cases.jsonl", label: "real_spm"), 110)
    }

    /// Where sentencepiece (slow) and tokenizers (fast) disagree, the fast ids are produced.
    func testSlowFastDifferencesFollowFast() throws {
        for (file, tokenizer) in [
            ("xlmr/slow_fast_differences.jsonl", try syntheticJSON.get()),
            ("xlmr/real_spm_slow_fast_differences.jsonl", try realSPM.get()),
        ] {
            let cases = try jsonLines(file)
            XCTAssertEqual(cases.count, 2)
            for c in cases {
                let text = c["text"]!.stringValue!
                let ids = tokenizer.encode(text).inputIDs
                XCTAssertEqual(ids, int32s(c["fast_ids"]), file)
                XCTAssertNotEqual(ids, int32s(c["slow_ids"]), file)
            }
        }
    }

    /// The two loaders build the same vocabulary: tokenizer.json's [piece, score] list equals the .model's
    /// pieces with the fairseq offset (`<s>`=0 `<pad>`=1 `</s>`=2 `<unk>`=3, piece i → i + 1, `<mask>` last).
    func testModelFileConversionMatchesTokenizerJSON() throws {
        let a = try syntheticJSON.get(), b = try syntheticSPM.get()
        XCTAssertEqual(a.model.pieces, b.model.pieces)
        // tokenizer.json's scores are read as serde_json reads them (within one ulp of the .model's float32).
        XCTAssertEqual(a.model.scores.count, b.model.scores.count)
        for (x, y) in zip(a.model.scores, b.model.scores) { XCTAssertTrue(x == y || x.nextUp == y || x.nextDown == y, "\(x) \(y)") }
        XCTAssertEqual(a.vocabularySize, 8002)
        XCTAssertEqual(b.vocabularySize, 8002)
        XCTAssertEqual(a.addedTokens.map(\.id).sorted(), b.addedTokens.map(\.id).sorted())
        for t in [a, b] {
            XCTAssertEqual(t.template, SpecialTokenTemplate(style: .roberta, start: 0, end: 2, pad: 1))
            XCTAssertEqual(t.unknownID, 3)
            XCTAssertEqual(t.specialIDs, [0, 1, 2, 3, 8001])
            XCTAssertEqual(t.id(of: "<mask>"), 8001)
        }
        // The raw sentencepiece ids of the fixture are the fairseq ids minus one (pieces ≥ 3).
        let cases = try jsonLines("xlmr/tokenizer_cases.jsonl")
        for c in cases.prefix(50) {
            let spmPieces = strings(c["spm_pieces"]), spmIDs = int32s(c["spm_ids"])
            for (piece, id) in zip(spmPieces, spmIDs) where id >= 3 {
                XCTAssertEqual(b.id(of: piece), id + 1, piece)
            }
        }
        let real = try realSPM.get()
        XCTAssertEqual(real.vocabularySize, 128_002)
        XCTAssertEqual(real.id(of: "<mask>"), 128_001)
        XCTAssertEqual(real.id(of: "extra_token_id_1"), 4)
        XCTAssertFalse(real.specialIDs.contains(4), "user-defined pieces are added tokens, not special")
    }

    /// One workspace for every string, twice (the second pass comes from its word cache): the same ids.
    func testSharedWorkspaceAndWordCache() throws {
        for (file, tokenizer) in [
            ("xlmr/tokenizer_cases.jsonl", try syntheticJSON.get()), ("xlmr/real_spm_tokenizer_cases.jsonl", try realSPM.get()),
        ] {
            let cases = try jsonLines(file)
            let workspace = UnigramWorkspace()
            for _ in 0..<2 {
                for c in cases {
                    var pieces = Pieces()
                    tokenizer.append(c["text"]!.stringValue!, to: &pieces, workspace: workspace)
                    XCTAssertEqual(tokenizer.template.assemble(pieces, nil).inputIDs, int32s(c["ids"]), c["text"]!.serialized())
                }
            }
        }
    }

    /// A sentence pair: `<s> A </s></s> B </s>`, every token type 0.
    func testPairTemplate() throws {
        let t = try syntheticJSON.get()
        let a = t.encode("the film is a charming , often funny ride"), b = t.encode("it is not")
        let pair = t.encode("the film is a charming , often funny ride", pair: "it is not")
        XCTAssertEqual(pair.inputIDs, a.inputIDs + [2] + b.inputIDs.dropFirst())
        XCTAssertEqual(pair.tokenTypeIDs, [Int32](repeating: 0, count: pair.count))
    }
}

/// The model inputs of the synthetic XLM-R forward fixture (`xlmr/forward.json`): the template, longest-first
/// truncation to 128 and right padding with `<pad>` = 1.
final class UnigramForwardInputTests: XCTestCase {
    func testForwardFixtureInputIDs() throws {
        let t = try syntheticJSON.get()
        let meta = try Fixtures.json("xlmr/forward.json")
        let weights = try SafeTensorsFile(path: Fixtures.fixture("xlmr/forward.safetensors"))
        let sentences = meta["sentences"]!.arrayValue!
        XCTAssertEqual(sentences.count, 6)
        let ids = try weights.withBytes(of: "input_ids") { Array($0.bindMemory(to: Int64.self)) }
        let mask = try weights.withBytes(of: "attention_mask") { Array($0.bindMemory(to: Int64.self)) }
        XCTAssertEqual(ids.count, 6 * 128)
        for (row, s) in sentences.enumerated() {
            let pair = s.arrayValue!
            let e = t.encode(pair[0].stringValue!, pair: pair[1].stringValue, truncation: .longestFirst(maxLength: 128), padding: .toLength(128))
            XCTAssertEqual(e.inputIDs.map(Int64.init), Array(ids[row * 128..<(row + 1) * 128]), "row \(row)")
            XCTAssertEqual(e.attentionMask.map(Int64.init), Array(mask[row * 128..<(row + 1) * 128]), "row \(row)")
            XCTAssertEqual(e.attentionMask.reduce(0, +), Int32(meta["lengths"]!.arrayValue![row].intValue!), "row \(row)")
        }
    }
}
