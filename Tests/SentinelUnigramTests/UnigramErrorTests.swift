import Foundation
import SentinelCore
import SentinelTestSupport
import XCTest
@testable import SentinelTokenizer

/// Bad inputs give typed errors naming the file and key (and the byte offset inside a charsmap).
final class UnigramErrorTests: XCTestCase {
    func expectInputError(_ code: InputError.Code, key: String?, offset: Int? = nil, _ body: () throws -> Void) {
        XCTAssertThrowsError(try body()) { error in
            guard let e = error as? InputError else { return XCTFail("not an InputError: \(error)") }
            XCTAssertEqual(e.code, code, e.description)
            XCTAssertEqual(e.key, key, e.description)
            if let offset { XCTAssertEqual(e.offset, offset, e.description) }
        }
    }

    func testTruncatedModelFile() throws {
        let dir = try Fixtures.temporaryDirectory("sentinel-spm-bad")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let original = try Data(contentsOf: URL(fileURLWithPath: Fixtures.fixture("xlmr/model/sentencepiece.bpe.model")))
        let path = dir + "/sentencepiece.bpe.model"
        try original.prefix(1000).write(to: URL(fileURLWithPath: path))
        expectInputError(.unknownFormat, key: nil) { _ = try SentencePieceModel(contentsOf: path) }
        try Data("not a model".utf8).write(to: URL(fileURLWithPath: path))
        expectInputError(.unknownFormat, key: nil) { _ = try UnigramTokenizer.load(directory: dir) }
    }

    func testCharsmapChecks() throws {
        let key = "normalizer_spec.precompiled_charsmap"
        expectInputError(.truncated, key: key, offset: 0) { _ = try PrecompiledCharsmap([1, 0], file: "m", key: key) }
        expectInputError(.invalidStructure, key: key, offset: 0) { _ = try PrecompiledCharsmap([6, 0, 0, 0, 0, 0, 0, 0, 0, 0], file: "m", key: key) }
        expectInputError(.truncated, key: key, offset: 0) { _ = try PrecompiledCharsmap([8, 0, 0, 0, 1, 2, 3, 4], file: "m", key: key) }
        // Replacement strings that are not UTF-8 (a lone continuation byte after an empty trie).
        expectInputError(.invalidStructure, key: key, offset: 4) { _ = try PrecompiledCharsmap([0, 0, 0, 0, 0x80, 0], file: "m", key: key) }
        // The real charsmap parses, and maps as the fast tokenizer does (xlmr/README.md: U+0302 dropped).
        let spm = try SentencePieceModel(contentsOf: Fixtures.fixture("xlmr/real_spm/sentencepiece.bpe.model"))
        XCTAssertEqual(spm.normalizerName, "nmt_nfkc")
        let map = try PrecompiledCharsmap(spm.precompiledCharsmap, file: "real", key: key)
        XCTAssertEqual(map.normalize("e\u{301}\u{302} combining").unicodeScalars.map(\.value), Array("\u{E9} combining".unicodeScalars.map(\.value)))
    }

    func testUnsupportedTokenizerJSON() throws {
        let dir = try Fixtures.temporaryDirectory("sentinel-spm-bad")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/tokenizer.json"
        let original = try JSONValue.read(file: Fixtures.fixture("xlmr/model/tokenizer.json"))
        func write(_ v: JSONValue) throws { try v.serialized().write(toFile: path, atomically: true, encoding: .utf8) }
        let model = original["model"]!
        try write(original.setting("model", to: model.setting("type", to: .string("BPE"))))
        expectInputError(.unknownFormat, key: "model.type") { _ = try UnigramTokenizer.load(tokenizerJSON: path) }
        try write(original.setting("model", to: model.setting("unk_id", to: .int(9000))))
        expectInputError(.invalidStructure, key: "model.unk_id") { _ = try UnigramTokenizer.load(tokenizerJSON: path) }
        try write(original.setting("model", to: model.setting("vocab", to: .array([.array([.string("a"), .string("x")])]))))
        expectInputError(.invalidStructure, key: "model.vocab[0]") { _ = try UnigramTokenizer.load(tokenizerJSON: path) }
        try write(original.setting("pre_tokenizer", to: .object([("type", .string("ByteLevel"))])))
        expectInputError(.unknownFormat, key: "pre_tokenizer") { _ = try UnigramTokenizer.load(tokenizerJSON: path) }
        try write(original.setting("normalizer", to: .object([("type", .string("Precompiled")), ("precompiled_charsmap", .string("%%%"))])))
        expectInputError(.invalidStructure, key: "normalizer.precompiled_charsmap") { _ = try UnigramTokenizer.load(tokenizerJSON: path) }
        try write(original.setting("normalizer", to: .object([("type", .string("NFKC"))])))
        expectInputError(.unknownFormat, key: "normalizer.type") { _ = try UnigramTokenizer.load(tokenizerJSON: path) }
    }
}
