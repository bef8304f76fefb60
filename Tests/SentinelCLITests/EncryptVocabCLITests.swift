import Foundation
import SentinelCore
import SentinelScheme
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
        let sentences = try XCTUnwrap(try JSONValue.read(file: fixture + "/reference.json")["sentences"]?.arrayValue)
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
        // HF conll2003 field names: ner_tags holds each digest's word label.
        XCTAssertEqual(rows[0]["ner_tags"]?.arrayValue?.compactMap(\.stringValue), expected.wordIDs.map { ["B-ORG", "O", "O"][$0] })
        XCTAssertGreaterThan(expected.tokens.count, 3)  // "seashells" is three pieces
        XCTAssertEqual(rows[1]["ner_tags"]?.arrayValue?.compactMap(\.stringValue), ["B-PER"])
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
        // A directory that does not exist is an I/O problem (74), not a bad model (65).
        let missing = try run(["encrypt", "/nonexistent-model-dir"], stdin: "hello\n")
        XCTAssertEqual(missing.status, 74, missing.stderr)
        XCTAssertTrue(missing.stderr.contains("/nonexistent-model-dir: open directory failed: No such file or directory"), missing.stderr)
        let missingJSON = try run(["encrypt", "/nonexistent-model-dir", "--output", "/tmp/unused", "--json"], stdin: "hello\n")
        XCTAssertEqual(missingJSON.status, 74)
        XCTAssertEqual(try JSONValue.parse(missingJSON.stdout)["error"]?["code"]?.stringValue, "io")
        let vocabMissing = try run(["vocab", "/nonexistent-model-dir"], key: nil)
        XCTAssertEqual(vocabMissing.status, 74, vocabMissing.stderr)
        // An existing directory without a vocabulary is still a bad model directory (65).
        let empty = try Fixtures.temporaryDirectory()
        let noVocab = try run(["encrypt", empty], stdin: "hello\n")
        XCTAssertEqual(noVocab.status, 65, noVocab.stderr)
        XCTAssertTrue(noVocab.stderr.contains("neither tokenizer.json nor vocab.txt"), noVocab.stderr)
    }

    func testLoadingAMissingDirectoryThrowsOutputError() {
        XCTAssertThrowsError(try BertTokenizer.load(directory: "/nonexistent-model-dir/")) { error in
            XCTAssertEqual(error as? OutputError, OutputError(path: "/nonexistent-model-dir", operation: "open directory", errno: ENOENT))
        }
    }

    func testEncryptEmptyInput() throws {
        let model = try Fixtures.miniLM()
        // Text: zero lines in, zero lines out.
        let piped = try run(["encrypt", model], stdin: "")
        XCTAssertEqual(piped.status, 0, piped.stderr)
        XCTAssertEqual(piped.stdout, "")
        let dir = try Fixtures.temporaryDirectory()
        let input = dir + "/empty.txt", output = dir + "/out.txt"
        try "".write(toFile: input, atomically: true, encoding: .utf8)
        let file = try run(["encrypt", model, "--input", input, "--output", output, "--json"])
        XCTAssertEqual(file.status, 0, file.stderr)
        let summary = try JSONValue.parse(file.stdout)
        XCTAssertEqual(summary["records"]?.intValue, 0)
        XCTAssertEqual(summary["tokens"]?.intValue, 0)
        XCTAssertEqual(try String(contentsOfFile: output, encoding: .utf8), "")
        // CoNLL without a sentence and TSV without a header stay bad input.
        let conll = try run(["encrypt", model, "--format", "conll"], stdin: "")
        XCTAssertEqual(conll.status, 65, conll.stderr)
        XCTAssertTrue(conll.stderr.contains("<stdin>") && conll.stderr.contains("empty"), conll.stderr)
        let tsv = try run(["encrypt", model, "--format", "tsv", "--input", input])
        XCTAssertEqual(tsv.status, 65, tsv.stderr)
        XCTAssertTrue(tsv.stderr.contains(input), tsv.stderr)
    }

    func testKeyErrorsExit74ForFilesAnd64ForBadKeys() throws {
        let model = try Fixtures.miniLM()
        let longKey = String(repeating: "k", count: 65)
        let missingFile = "/nonexistent-dir/key"
        for arguments in [["encrypt", model], ["vocab", fixture, "--original", model], ["vocab", fixture]] {
            let noFile = try run(arguments + ["--key-file", missingFile], stdin: "hello\n", key: nil)
            XCTAssertEqual(noFile.status, 74, "\(arguments): \(noFile.stderr)")
            XCTAssertTrue(noFile.stderr.contains(missingFile), noFile.stderr)
            let long = try run(arguments, stdin: "hello\n", key: longKey)
            XCTAssertEqual(long.status, arguments == ["vocab", fixture] ? 0 : 64, "\(arguments): \(long.stderr)")
            XCTAssertFalse(long.stderr.contains(longKey) || long.stdout.contains(longKey))
            let empty = try run(arguments, stdin: "hello\n", key: "")
            XCTAssertEqual(empty.status, 64, "\(arguments): \(empty.stderr)")
            XCTAssertTrue(empty.stderr.contains("SENTINEL_KEY is set but empty"), empty.stderr)
        }
        // --token hashes with the key even without --original: a key over 64 bytes is a usage error.
        XCTAssertEqual(try run(["vocab", fixture, "--token", "the"], key: longKey).status, 64)
    }

    func testVocabWithTheWrongKeyFailsTheCheck() throws {
        let model = try Fixtures.miniLM()
        let wrongKey = "not-llm123-but-7391"
        let r = try run(["vocab", fixture, "--original", model, "--json"], key: wrongKey)
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains("the key does not match this adapted model"), r.stderr)
        XCTAssertFalse(r.stderr.contains(wrongKey) || r.stdout.contains(wrongKey))
        let doc = try JSONValue.parse(r.stdout)
        XCTAssertEqual(doc["error"]?["code"]?.stringValue, "key_mismatch")
        let summary = try XCTUnwrap(doc["summary"])
        XCTAssertEqual(summary["key_matches"]?.boolValue, false)
        XCTAssertEqual(summary["original_hashed_tokens_found"]?.intValue, 0)
        // Only the special tokens, which are never hashed, are found.
        XCTAssertEqual(summary["original_tokens_found"]?.intValue, summary["adapted_plain_tokens"]?.arrayValue?.count)
        XCTAssertEqual(summary["original_hashed_tokens"]?.intValue, try miniLMTokenizer.get().vocabulary.count - 5)
        // A query with the wrong key fails the same way; the text summary is printed.
        let query = try run(["vocab", fixture, "--original", model, "--token", "hello"], key: wrongKey)
        XCTAssertEqual(query.status, 1, query.stderr)
        XCTAssertTrue(query.stdout.contains("key_matches: false"), query.stdout)
        // The right key matches.
        let right = try run(["vocab", fixture, "--original", model, "--json"])
        XCTAssertEqual(right.status, 0, right.stderr)
        let rs = try XCTUnwrap(try JSONValue.parse(right.stdout)["summary"])
        XCTAssertEqual(rs["key_matches"]?.boolValue, true)
        XCTAssertEqual(rs["original_hashed_tokens_found"], rs["original_hashed_tokens"])
    }

    func testVocabTokenNotInTheAdaptedVocabularySaysSo() throws {
        let digest = try Encryptor(tokenizer: try miniLMTokenizer.get(), key: "wrong")
            .encryptedToken(id: try XCTUnwrap(try miniLMTokenizer.get().vocabulary.id(of: "hello")))
        // A wrong key without --original: the lookup fails (exit 1), and no common token is found either, so the key is named.
        let json = try run(["vocab", fixture, "--token", "hello", "--json"], key: "wrong")
        XCTAssertEqual(json.status, 1, json.stderr)
        XCTAssertEqual(try JSONValue.parse(json.stdout)["error"]?["code"]?.stringValue, "key_mismatch")
        XCTAssertTrue(json.stderr.contains("the key does not match"), json.stderr)
        let entry = try XCTUnwrap(try JSONValue.parse(json.stdout)["entries"]?.arrayValue?.first)
        XCTAssertEqual(entry["digest"]?.stringValue, digest)
        XCTAssertEqual(entry["adapted_id"], .null)
        XCTAssertTrue(entry["note"]?.stringValue?.contains("is not in the adapted vocabulary") == true, "\(entry)")
        let text = try run(["vocab", fixture, "--token", "hello"], key: "wrong")
        XCTAssertEqual(text.status, 1, text.stderr)
        XCTAssertEqual(text.stdout.split(separator: "\n").dropFirst().first, "\"hello\"\t\(digest)\t?\tnone")
        XCTAssertTrue(text.stdout.contains("note: the digest of \"hello\" is not in the adapted vocabulary"), text.stdout)
        // With the right key the token is found and no note is added.
        let found = try run(["vocab", fixture, "--token", "hello", "--json"])
        XCTAssertEqual(found.status, 0, found.stderr)
        let foundEntry = try XCTUnwrap(try JSONValue.parse(found.stdout)["entries"]?.arrayValue?.first)
        XCTAssertNotEqual(foundEntry["adapted_id"], .null)
        XCTAssertNil(foundEntry["note"])
        // The right key and a token the vocabulary lacks: also a failed lookup, but not called a key mismatch.
        let absent = try run(["vocab", fixture, "--token", "zzzqqqxxj", "--json"])
        XCTAssertEqual(absent.status, 1, absent.stderr)
        XCTAssertEqual(try JSONValue.parse(absent.stdout)["error"]?["code"]?.stringValue, "not_found")
    }

    func testVocabDigestMustBeADigestOrSpecialToken() throws {
        let first = try XCTUnwrap(try JSONValue.read(file: fixture + "/reference.json")["sentences"]?.arrayValue?.first)
        let digest = try XCTUnwrap(first["hashes"]?.arrayValue?.first?.stringValue)
        for bad in ["xyz", digest + "0", String(digest.dropLast()) + "g", ""] {
            let r = try run(["vocab", fixture, "--digest", bad], key: nil)
            XCTAssertEqual(r.status, 64, "\(bad): \(r.stderr)")
            XCTAssertTrue(r.stderr.contains("is neither a digest"), r.stderr)
        }
        // One digest rule for every command (Digest.canonical): upper-case hex is the same digest.
        let upper = try run(["vocab", fixture, "--digest", digest.uppercased(), "--json"], key: nil)
        XCTAssertEqual(upper.status, 0, upper.stderr)
        let good = try run(["vocab", fixture, "--digest", digest, "--json"], key: nil)
        XCTAssertEqual(good.status, 0, good.stderr)
        XCTAssertEqual(try JSONValue.parse(upper.stdout)["entries"], try JSONValue.parse(good.stdout)["entries"])
        let entry = try XCTUnwrap(try JSONValue.parse(good.stdout)["entries"]?.arrayValue?.first)
        XCTAssertEqual(entry["adapted_id"]?.int64Value, first["adapted_ids"]?.arrayValue?[1].int64Value)
        let special = try run(["vocab", fixture, "--digest", "[CLS]", "--json"], key: nil)
        XCTAssertEqual(special.status, 0, special.stderr)
        let plain = try XCTUnwrap(try JSONValue.parse(special.stdout)["summary"]?["adapted_plain_tokens"]?.arrayValue)
        let cls = try XCTUnwrap(plain.first { $0["token"]?.stringValue == "[CLS]" })
        XCTAssertEqual(try JSONValue.parse(special.stdout)["entries"]?.arrayValue?.first?["adapted_id"], cls["adapted_id"])
    }

    func testBenchTokenizeRejectsZeroThreadsAndRepeats() throws {
        let model = try Fixtures.miniLM()
        for arguments in [["--threads", "0"], ["--threads", "1", "0"], ["--threads=-2"], ["--repeats", "0"]] {
            let r = try run(["bench-tokenize", model] + arguments, key: nil)
            XCTAssertEqual(r.status, 64, "\(arguments): \(r.stderr)")
            XCTAssertTrue(r.stderr.contains("at least 1"), r.stderr)
        }
        // A key file that can't be read is an I/O error, not silently replaced by the benchmark key.
        let r = try run(["bench-tokenize", model, "--key-file", "/nonexistent-dir/key"], key: nil)
        XCTAssertEqual(r.status, 74, r.stderr)
    }

    func testVocabLinksTokenDigestAndIDs() throws {
        let model = try Fixtures.miniLM()
        let first = try XCTUnwrap(try JSONValue.read(file: fixture + "/reference.json")["sentences"]?.arrayValue?.first)
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
        let fixed = try XCTUnwrap(try JSONValue.read(file: fixture + "/reference.json")["mapping"]?["fixed_points"]?.arrayValue?.count)
        XCTAssertEqual(s["original_tokens_found"]?.intValue, 30522)
        XCTAssertEqual(s["original_tokens_moved"]?.intValue, 30522 - fixed)
    }
}
