import Foundation
import SentinelCore
import SentinelTestSupport
@testable import SentinelTokenizer
import XCTest

/// The real data in ../shared/data (counts from its README) and malformed inputs.
final class DatasetTests: XCTestCase {
    func testCoNLL2003SplitsLoadAndEveryWordKeepsOneLabel() throws {
        let tokenizer = try miniLMTokenizer.get()
        let expected = [("train.txt", 14041, 203_621), ("valid.txt", 3250, 51_362), ("test.txt", 3453, 46_435)]
        for (name, sentenceCount, wordCount) in expected {
            let sentences = try NERCorpus.read(path: shared("data/conll2003/" + name), columns: 4)
            XCTAssertEqual(sentences.count, sentenceCount, name)
            XCTAssertEqual(sentences.reduce(0) { $0 + $1.words.count }, wordCount, name)
            let names = NERCorpus.labelNames(sentences)
            XCTAssertEqual(Set(names), ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"])
            let ids = Dictionary(uniqueKeysWithValues: names.enumerated().map { ($1, Int32($0)) })
            var workspace = TokenizerWorkspace()
            for s in sentences {
                let wordLabels = s.labels.map { ids[$0]! }
                let aligned = tokenizer.alignLabels(words: s.words, labels: wordLabels, workspace: &workspace)
                let kept = aligned.labels.filter { $0 != NERCorpus.ignoreIndex }
                XCTAssertEqual(kept, wordLabels, "\(name) line \(s.line)")
                // Every piece belongs to a word, in order, and each word's first piece carries its label.
                XCTAssertEqual(Set(aligned.pieces.words).count, s.words.count)
            }
        }
    }

    func testWNUTTwitterNERSeparatorLinesHoldATab() throws {
        let sentences = try NERCorpus.read(path: shared("data/wnut16-twitter/ner.txt"), columns: 2)
        XCTAssertEqual(sentences.count, 2394)
        XCTAssertEqual(sentences.reduce(0) { $0 + $1.words.count }, 46_469)
        XCTAssertEqual(NERCorpus.labelNames(sentences).count, 21)
        let original = try NERCorpus.read(path: shared("data/wnut16-twitter/original/train"))
        XCTAssertEqual(original.count, 2394)
    }

    func testGLUESizes() throws {
        let sst2Train = try GLUETSV.read(path: shared("data/glue/SST-2/train.tsv"))
        XCTAssertEqual(sst2Train.count, 67_349)
        XCTAssertEqual(sst2Train.filter { $0.label == "0" }.count, 29_780)
        XCTAssertNil(sst2Train[0].pair)
        XCTAssertEqual(try GLUETSV.read(path: shared("data/glue/SST-2/dev.tsv")).count, 872)
        let rte = try GLUETSV.read(path: shared("data/glue/RTE/train.tsv"))
        XCTAssertEqual(rte.count, 2490)
        XCTAssertEqual(rte.filter { $0.label == "entailment" }.count, 1249)
        XCTAssertNotNil(rte[0].pair)
        XCTAssertEqual(try GLUETSV.read(path: shared("data/glue/RTE/dev.tsv")).count, 277)
        let mrpc = try GLUETSV.read(path: shared("data/glue/MRPC/train.reconstructed.tsv"))
        XCTAssertEqual(mrpc.count, 3668)
        XCTAssertEqual(mrpc.filter { $0.label == "1" }.count, 2474)
        XCTAssertEqual(try GLUETSV.read(path: shared("data/glue/MRPC/dev.tsv")).count, 408)
    }

    // MARK: Bad input

    func write(_ bytes: [UInt8], _ name: String) throws -> String {
        let path = try Fixtures.temporaryDirectory() + "/" + name
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    func assertInputError(
        _ body: @autoclosure () throws -> Any, _ code: InputError.Code, file: String,
        line: Int, offset: Int?, sourceLine: UInt = #line
    ) {
        XCTAssertThrowsError(try body(), line: sourceLine) { error in
            guard let e = error as? InputError else { return XCTFail("\(error) is not an InputError", line: sourceLine) }
            XCTAssertEqual(e.code, code, line: sourceLine)
            XCTAssertEqual(e.file, file, line: sourceLine)
            XCTAssertEqual(e.offset, offset, line: sourceLine)
            XCTAssertTrue(e.message.hasPrefix("line \(line):"), e.message, line: sourceLine)
        }
    }

    func testCoNLLLineWithWrongColumnCount() throws {
        let text = "-DOCSTART- -X- -X- O\n\nEU NNP B-NP B-ORG\nrejects VBZ B-VP O\n\nPeter NNP B-NP\n"
        let path = try write(Array(text.utf8), "bad.conll")
        let offset = text.utf8.count - "Peter NNP B-NP\n".utf8.count
        assertInputError(try NERCorpus.read(path: path), .invalidStructure, file: path, line: 6, offset: offset)
        assertInputError(try NERCorpus.read(path: path, columns: 2), .invalidStructure, file: path, line: 3, offset: 22)
    }

    func testInvalidUTF8() throws {
        let bytes = Array("EU B-ORG\nbad O\n".utf8) + [0x62, 0xC3, 0x28, 0x20, 0x4F, 0x0A]
        let path = try write(bytes, "bad-utf8.txt")
        assertInputError(try NERCorpus.read(path: path), .notText, file: path, line: 3, offset: 16)
        // Every cut-off or overlong sequence is caught.
        for bad: [UInt8] in [[0xE2, 0x82], [0xC0, 0xAF], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0xFF], [0x80]] {
            let p = try write(Array("ok\n".utf8) + bad, "cut.txt")
            assertInputError(try NERCorpus.read(path: p), .notText, file: p, line: 2, offset: 3)
            XCTAssertThrowsError(try WordPieceVocabulary.read(vocabTxt: p)) { error in
                XCTAssertEqual((error as? InputError)?.code, .notText)
                XCTAssertEqual((error as? InputError)?.key, "line 2")
            }
        }
    }

    func testEmptyFiles() throws {
        let path = try write([], "empty.txt")
        assertInputError(try NERCorpus.read(path: path), .fileTooSmall, file: path, line: 1, offset: 0)
        assertInputError(try GLUETSV.read(path: path), .fileTooSmall, file: path, line: 1, offset: 0)
        XCTAssertThrowsError(try WordPieceVocabulary.read(vocabTxt: path)) { error in
            XCTAssertEqual((error as? InputError)?.code, .missing)
            XCTAssertEqual((error as? InputError)?.file, path)
        }
        let blank = try write(Array("\n\t\n\n".utf8), "blank.txt")
        assertInputError(try NERCorpus.read(path: blank), .missing, file: blank, line: 1, offset: 0)
    }

    func testGLUERowWithWrongFieldCount() throws {
        let text = "sentence\tlabel\ngood film \t1\nno label here\n"
        let path = try write(Array(text.utf8), "bad.tsv")
        assertInputError(try GLUETSV.read(path: path), .invalidStructure, file: path, line: 3, offset: 28)
        let unknown = try write(Array("a\tb\n1\t2\n".utf8), "unknown.tsv")
        assertInputError(try GLUETSV.read(path: unknown), .unknownFormat, file: unknown, line: 1, offset: 0)
    }

    func testVocabularyWithoutUnknownToken() throws {
        let dir = try Fixtures.temporaryDirectory()
        try "[PAD]\n[CLS]\n[SEP]\nhello\n".write(toFile: dir + "/vocab.txt", atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try BertTokenizer.load(directory: dir)) { error in
            guard let e = error as? InputError else { return XCTFail("\(error)") }
            XCTAssertEqual(e.code, .missing)
            XCTAssertEqual(e.file, dir + "/vocab.txt")
            XCTAssertEqual(e.key, "[UNK]")
        }
    }
}

/// Hostile or unsupported tokenizer.json files are refused with the key named.
final class TokenizerJSONTests: XCTestCase {
    func write(_ json: String) throws -> String {
        let dir = try Fixtures.temporaryDirectory()
        try json.write(toFile: dir + "/tokenizer.json", atomically: true, encoding: .utf8)
        return dir
    }

    func assertRefused(_ json: String, _ code: InputError.Code, key: String, line: UInt = #line) throws {
        let dir = try write(json)
        XCTAssertThrowsError(try BertTokenizer.load(directory: dir), line: line) { error in
            guard let e = error as? InputError else { return XCTFail("\(error)", line: line) }
            XCTAssertEqual(e.code, code, line: line)
            XCTAssertEqual(e.key, key, line: line)
            XCTAssertEqual(e.file, dir + "/tokenizer.json", line: line)
        }
    }

    func testRefusals() throws {
        let vocab = #"{"[PAD]":0,"[UNK]":1,"[CLS]":2,"[SEP]":3,"a":4}"#
        try assertRefused(#"{"model":{"type":"BPE","vocab":{}}}"#, .unknownFormat, key: "model.type")
        try assertRefused(
            #"{"model":{"type":"WordPiece","vocab":\#(vocab),"max_input_chars_per_word":1000000000}}"#,
            .outOfRange, key: "model.max_input_chars_per_word")
        try assertRefused(#"{"model":{"type":"WordPiece","vocab":{"[UNK]":0,"a":0}}}"#, .invalidStructure, key: "model.vocab")
        try assertRefused(#"{"model":{"type":"WordPiece","vocab":{"[UNK]":0,"a":7}}}"#, .invalidStructure, key: "model.vocab")
        try assertRefused(
            #"{"normalizer":{"type":"NFKC"},"model":{"type":"WordPiece","vocab":\#(vocab)}}"#,
            .unknownFormat, key: "normalizer.type")
        try assertRefused(#"{"model":{"type":"WordPiece","vocab":{"[PAD]":0,"[CLS]":1,"[SEP]":2}}}"#, .missing, key: "[UNK]")
        // A minimal valid file loads and tokenizes; without a normalizer nothing is lowercased.
        let ok = try BertTokenizer.load(directory: try write(#"{"model":{"type":"WordPiece","vocab":\#(vocab)}}"#))
        XCTAssertEqual(ok.tokenize("A a b"), ["[UNK]", "a", "[UNK]"])
        let lower = try BertTokenizer.load(
            directory: try write(
                #"{"normalizer":{"type":"BertNormalizer","lowercase":true},"model":{"type":"WordPiece","vocab":\#(vocab)}}"#))
        XCTAssertEqual(lower.tokenize("A a b"), ["a", "a", "[UNK]"])
    }
}
