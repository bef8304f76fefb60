import Foundation
import SentinelCore
import SentinelTestSupport
@testable import SentinelTokenizer
import XCTest

/// End-to-end: the built `sentinel` binary's `encrypt` and `vocab` subcommands (exit codes, outputs,
/// the passkey never printed).
final class EncryptCLITests: XCTestCase {
    let fixture = shared("fixtures/seed-converter/minilm-llm123-f2-shuffle")

    func run(_ arguments: [String], stdin: String = "", key: String? = "llm123") throws -> RunResult {
        try run(arguments, stdinBytes: Data(stdin.utf8), key: key)
    }

    func run(_ arguments: [String], stdinBytes: Data, key: String? = "llm123") throws -> RunResult {
        try Fixtures.sentinel(arguments, environment: ["SENTINEL_KEY": key], stdin: stdinBytes)
    }

    func testEncryptTextGivesTheReferenceHashes() throws {
        let model = try Fixtures.miniLM()
        let sentences = try XCTUnwrap(try readJSON(fixture + "/reference.json")["sentences"]?.arrayValue)
        let texts = sentences.map { s in textOf(wordpieces: s["wordpieces"]!.arrayValue!.compactMap(\.stringValue)) }
        let r = try run(["encrypt", model], stdin: texts.joined(separator: "\n") + "\n")
        XCTAssertEqual(r.status, 0, r.stderr)
        let lines = r.stdout.split(separator: "\n").map { $0.split(separator: " ").map(String.init) }
        XCTAssertEqual(lines, sentences.map { $0["hashes"]!.arrayValue!.compactMap(\.stringValue) })
        XCTAssertFalse(r.stdout.contains("llm123") || r.stderr.contains("llm123"))
        // A pair keeps its TAB; each side is encrypted as on its own line.
        let pair = try run(["encrypt", model], stdin: texts[0] + "\t" + texts[1] + "\n")
        XCTAssertEqual(pair.stdout, lines[0].joined(separator: " ") + "\t" + lines[1].joined(separator: " ") + "\n")
    }

    func testEncryptCoNLLWritesJSONLinesWithWordIDsAndLabels() throws {
        let model = try Fixtures.miniLM()
        let dir = try Fixtures.temporaryDirectory()
        let input = dir + "/in.conll", output = dir + "/out.jsonl"
        try "-DOCSTART- -X- -X- O\n\nEU NNP B-NP B-ORG\nrejects VBZ B-VP O\nseashells NNS I-NP O\n\nPeter NNP B-NP B-PER\n"
            .write(toFile: input, atomically: true, encoding: .utf8)
        let r = try run(["encrypt", model, "--format", "conll", "--input", input, "--output", output, "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let summary = try JSONValue.parse(r.stdout)
        XCTAssertEqual(summary["records"]?.intValue, 2)
        let rows = try jsonLines(output)
        XCTAssertEqual(rows.count, 2)
        let encryptor = try Encryptor(tokenizer: try miniLMTokenizer.get(), key: "llm123")
        let expected = encryptor.encrypt(words: ["EU", "rejects", "seashells"])
        XCTAssertEqual(rows[0]["tokens"]?.arrayValue?.compactMap(\.stringValue), expected.tokens)
        XCTAssertEqual(rows[0]["word_ids"]?.arrayValue?.compactMap(\.intValue), expected.wordIDs)
        XCTAssertEqual(rows[0]["labels"]?.arrayValue?.compactMap(\.stringValue), ["B-ORG", "O", "O"])
        XCTAssertGreaterThan(expected.tokens.count, 3)  // "seashells" is three pieces
        XCTAssertEqual(rows[1]["labels"]?.arrayValue?.compactMap(\.stringValue), ["B-PER"])
    }

    func testEncryptErrorsAndExitCodes() throws {
        let model = try Fixtures.miniLM()
        let bad = try run(["encrypt", model, "--format", "conll"], stdin: "EU NNP B-NP B-ORG\nrejects VBZ O\n")
        XCTAssertEqual(bad.status, 65)
        XCTAssertTrue(bad.stderr.contains("<stdin>") && bad.stderr.contains("line 2"), bad.stderr)
        let utf8 = try run(["encrypt", model], stdinBytes: Data(Array("ok\nbad ".utf8) + [0xC3, 0x28, 0x0A]))
        XCTAssertEqual(utf8.status, 65)
        XCTAssertTrue(utf8.stderr.contains("<stdin> (byte 7): line 2: invalid UTF-8"), utf8.stderr)
        XCTAssertTrue(utf8.stdout.isEmpty)
        let noKey = try run(["encrypt", model], stdin: "hello\n", key: nil)
        XCTAssertEqual(noKey.status, 64)
        let missing = try run(["encrypt", "/nonexistent-model-dir"], stdin: "hello\n")
        XCTAssertEqual(missing.status, 65)
        XCTAssertTrue(missing.stderr.contains("/nonexistent-model-dir"), missing.stderr)
    }

    func testVocabLinksTokenDigestAndIDs() throws {
        let model = try Fixtures.miniLM()
        let first = try XCTUnwrap(try readJSON(fixture + "/reference.json")["sentences"]?.arrayValue?.first)
        let r = try run(["vocab", fixture, "--original", model, "--token", "the", "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let entry = try XCTUnwrap(try JSONValue.parse(r.stdout)["entries"]?.arrayValue?.first)
        XCTAssertEqual(entry["digest"], first["hashes"]?.arrayValue?.first)
        XCTAssertEqual(entry["original_id"]?.int64Value, first["original_ids"]?.arrayValue?[1].int64Value)
        XCTAssertEqual(entry["adapted_id"]?.int64Value, first["adapted_ids"]?.arrayValue?[1].int64Value)
        // Without the key: the adapted directory alone shows digests and the 5 special tokens, no token text.
        let alone = try run(["vocab", fixture, "--json"], key: nil)
        XCTAssertEqual(alone.status, 0, alone.stderr)
        let summary = try XCTUnwrap(try JSONValue.parse(alone.stdout)["summary"])
        XCTAssertEqual(summary["adapted_digests"]?.intValue, 30517)
        XCTAssertEqual(summary["adapted_plain_tokens"]?.arrayValue?.count, 5)
        XCTAssertEqual(summary["key_given"]?.boolValue, false)
        XCTAssertEqual(summary["mapping_known"]?.boolValue, false)
        // The key alone (no original model) still finds a token's digest and adapted id.
        let keyOnly = try run(["vocab", fixture, "--token", "the", "--json"])
        let keyOnlyEntry = try XCTUnwrap(try JSONValue.parse(keyOnly.stdout)["entries"]?.arrayValue?.first)
        XCTAssertEqual(keyOnlyEntry["adapted_id"]?.int64Value, first["adapted_ids"]?.arrayValue?[1].int64Value)
        XCTAssertEqual(keyOnlyEntry["original_id"], .null)
        // With the key the whole vocabulary is found; the mapping fixes 14 ids (reference.json `mapping`).
        let keyed = try run(["vocab", fixture, "--original", model, "--json"])
        let s = try XCTUnwrap(try JSONValue.parse(keyed.stdout)["summary"])
        let fixed = try XCTUnwrap(try readJSON(fixture + "/reference.json")["mapping"]?["fixed_points"]?.arrayValue?.count)
        XCTAssertEqual(s["original_tokens_found"]?.intValue, 30522)
        XCTAssertEqual(s["original_tokens_moved"]?.intValue, 30522 - fixed)
    }
}
