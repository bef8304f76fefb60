import Foundation
import SentinelScheme
import SentinelCore
import SentinelTestSupport
import XCTest
@testable import SentinelTokenizer

/// The seed scheme's vocabulary side on the synthetic XLM-R, against the authors' converter
/// (`xlmr/seed-converter-llm123/`: key `llm123`, `--shuffle`).
final class UnigramAdaptationTests: XCTestCase {
    static let key = "llm123"

    /// The original tokenizer as the adaptation's input; specials are the special-tokens map's values
    /// (SCHEME.md step 2), read as the BERT converter reads them.
    func source(_ t: UnigramTokenizer, directory: String) throws -> UnigramVocabularyAdaptation.Source {
        UnigramVocabularyAdaptation.Source(tokenizer: t, specialTokens: try SpecialTokensMap.read(directory: directory).all)
    }

    func adapted() throws -> (UnigramTokenizer, UnigramVocabularyAdaptation.Adapted) {
        let dir = Fixtures.fixture("xlmr/model")
        let t = try syntheticJSON.get()
        let s = try source(t, directory: dir)
        XCTAssertEqual(s.specialIDs, [0, 1, 2, 3, 8001])
        let seed = SeedScheme.seed(forKey: Self.key)
        let mapping = SeedScheme.mapping(vocabSize: t.model.count, specialIDs: s.specialIDs, seed: seed, shuffle: true)
        return (t, try UnigramVocabularyAdaptation.adapt(s, hasher: try TokenHasher(passkey: Self.key), mapping: mapping, file: dir))
    }

    /// vocab.json and mapping.json equal the reference's, entry for entry (digests of the pieces with their `▁`).
    func testVocabularyAndMappingEqualTheReference() throws {
        let (_, a) = try adapted()
        let checks = try Fixtures.json("xlmr/seed-converter-llm123/checks.json")
        XCTAssertEqual(SeedScheme.seed(forKey: Self.key), checks["seed"]?.intValue)
        let reference = try Fixtures.json("xlmr/seed-converter-llm123/vocab.json").objectValue!
        XCTAssertEqual(reference.count, 8002)
        let ours = Dictionary(uniqueKeysWithValues: a.vocabJSON.objectValue!.map { ($0.0, $0.1.intValue!) })
        XCTAssertEqual(ours.count, 8002)
        for (token, id) in reference { XCTAssertEqual(ours[token], id.intValue, token) }
        let mapping = try Fixtures.json("xlmr/seed-converter-llm123/mapping.json").objectValue!
        XCTAssertEqual(mapping.count, 8002)
        for (old, new) in mapping { XCTAssertEqual(a.mapping[Int(old)!], new.intValue, old) }
        XCTAssertEqual(a.mapping.enumerated().filter { $0.offset == $0.element }.count, checks["vocab"]?["fixed_points"]?.intValue)
    }

    /// The adapted tokenizer.json loads, maps the client's space-separated digests to the adapted ids
    /// (= mapping[original ids]) and an unknown digest to `<unk>`, and holds no plaintext piece.
    func testAdaptedTokenizerMapsDigestsToAdaptedIDs() throws {
        let (original, a) = try adapted()
        let dir = try Fixtures.temporaryDirectory("sentinel-unigram")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let json = a.tokenizerJSON.serialized(.pretty)
        try json.write(toFile: dir + "/tokenizer.json", atomically: true, encoding: .utf8)
        let adaptedTokenizer = try UnigramTokenizer.load(tokenizerJSON: dir + "/tokenizer.json")
        XCTAssertEqual(adaptedTokenizer.vocabularySize, 8002)
        let hasher = try TokenHasher(passkey: Self.key)
        let cases = try jsonLines("xlmr/tokenizer_cases.jsonl")
        var checked = 0
        for c in cases {
            let text = c["text"]!.stringValue!
            let plain = original.pieces(of: text).ids
            let encrypted = plain.map { id in
                original.specialIDs.contains(id) ? original.token(of: id)! : hasher.hexDigest(original.token(of: id)!)
            }.joined(separator: " ")
            let ids = adaptedTokenizer.encode(encrypted).inputIDs
            XCTAssertEqual(ids, [0] + plain.map { Int32(a.mapping[Int($0)]) } + [2], text)
            checked += 1
        }
        XCTAssertEqual(checked, 488)
        // xlmr/README.md (transformers 4 run): "the film is a charming ride" is [0, 5, 28, 15, 7, 526, 769, 2] in plain ids.
        XCTAssertEqual(original.encode("the film is a charming ride").inputIDs, [0, 5, 28, 15, 7, 526, 769, 2])
        XCTAssertEqual(
            adaptedTokenizer.encode(String(repeating: "0", count: 32) + " " + hasher.hexDigest("▁the")).inputIDs,
            [0, 3, Int32(a.mapping[5]), 2])
        // No plaintext piece: every vocabulary entry is a digest or a special token.
        let hex = Set("0123456789abcdef")
        for token in adaptedTokenizer.model.pieces where !["<s>", "<pad>", "</s>", "<unk>", "<mask>"].contains(token) {
            XCTAssertTrue(token.count == 32 && token.allSatisfy(hex.contains), token)
        }
        XCTAssertFalse(json.contains("\"\u{2581}the\""))
        XCTAssertFalse(json.contains("precompiled_charsmap"))
    }

    /// The reference's own tokenizer.json (a `{digest: id}` map as `model.vocab`) does not load in tokenizers;
    /// Sentinel's loader refuses it with a typed error naming the key.
    func testReferenceTokenizerJSONIsRefused() throws {
        let path = Fixtures.fixture("xlmr/seed-converter-llm123/tokenizer.json")
        XCTAssertThrowsError(try UnigramTokenizer.load(tokenizerJSON: path)) { error in
            guard let e = error as? InputError else { return XCTFail("\(error)") }
            XCTAssertEqual(e.code, .invalidStructure)
            XCTAssertEqual(e.key, "model.vocab")
            XCTAssertEqual(e.file, path)
        }
    }
}
