import Foundation
import SentinelScheme
import SentinelCore
import SentinelTestSupport
@testable import SentinelTokenizer
import XCTest

/// Client-side encryption with the synthetic RoBERTa: every piece of HF's fast tokenizer
/// (`../shared/fixtures/roberta/tokenizer_cases.jsonl`) becomes its keyed digest; `<s>`, `<mask>`, … stay as they are.
final class ByteLevelEncryptionTests: XCTestCase {
    static let model = Fixtures.fixture("roberta/model")
    static let specials: Set<String> = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]

    func expectedDigests(_ c: JSONValue, _ hasher: TokenHasher) throws -> [String] {
        let tokens = try XCTUnwrap(c["tokens"]?.arrayValue).compactMap(\.stringValue)
        return tokens.dropFirst().dropLast().map { Self.specials.contains($0) ? $0 : hasher.hexDigest($0) }
    }

    func testEncryptorGivesTheDigestsOfTheFastTokenizersPieces() throws {
        let encryptor = try Encryptor(modelDirectory: Self.model, key: "llm123")
        XCTAssertTrue(encryptor.tokenizer is ByteLevelBPETokenizer)
        let hasher = try TokenHasher(passkey: "llm123")
        let cases = try jsonLines(Fixtures.fixture("roberta/tokenizer_cases.jsonl"))
        XCTAssertEqual(cases.count, 488)
        for c in cases {
            let text = try XCTUnwrap(c["text"]?.stringValue)
            XCTAssertEqual(encryptor.encrypt(text: text), try expectedDigests(c, hasher), text)
        }
    }

    func testEncryptCommandOnTextLines() throws {
        let dir = try Fixtures.temporaryDirectory("roberta-encrypt")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let hasher = try TokenHasher(passkey: "llm123")
        // One case per line: those without line breaks, TABs (field separators) or other control characters.
        let cases = try jsonLines(Fixtures.fixture("roberta/tokenizer_cases.jsonl")).filter { c in
            guard let t = c["text"]?.stringValue, !t.isEmpty else { return false }
            return !t.unicodeScalars.contains {
                $0.value < 0x20 || $0.value == 0x7F || (0x80...0x9F).contains($0.value) || $0 == "\u{2028}" || $0 == "\u{2029}"
            }
        }
        XCTAssertGreaterThan(cases.count, 380)
        let input = cases.map { $0["text"]!.stringValue! }.joined(separator: "\n") + "\n"
        try input.write(toFile: dir + "/in.txt", atomically: true, encoding: .utf8)
        let r = try Fixtures.sentinel(
            ["encrypt", Self.model, "--input", dir + "/in.txt", "--output", dir + "/out.txt"],
            environment: ["SENTINEL_KEY": "llm123"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let lines = try String(contentsOfFile: dir + "/out.txt", encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false).dropLast()
        XCTAssertEqual(lines.count, cases.count)
        for (line, c) in zip(lines, cases) {
            XCTAssertEqual(line.split(separator: " ").map(String.init), try expectedDigests(c, hasher), c["text"]!.serialized())
        }
    }
}

/// `sentinel vocab` on an adapted RoBERTa: token ↔ digest ↔ original id ↔ adapted id (the reference converter's
/// vocab.json), with the byte-level spelling shown readably.
final class ByteLevelVocabCommandTests: XCTestCase {
    func testVocabLinksByteLevelTokensToTheReferenceIDs() throws {
        let dir = try Fixtures.temporaryDirectory("roberta-vocab")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let key: [String: String?] = ["SENTINEL_KEY": "llm123"]
        let model = Fixtures.fixture("roberta/model")
        let c = try Fixtures.sentinel(["convert", "--scheme", "seed", model, "--output", dir + "/adapted", "--shuffle"], environment: key)
        XCTAssertEqual(c.status, 0, c.stderr)
        let reference = try XCTUnwrap(Fixtures.json("roberta/seed-converter-llm123/vocab.json").objectValue)
        let referenceID = Dictionary(uniqueKeysWithValues: reference.map { ($0.0, $0.1.intValue!) })
        let hasher = try TokenHasher(passkey: "llm123")
        for (token, readable) in [("Ġthe", "\u{2423}the"), ("Ċ", "<0x0A>"), ("Ã", "<0xC3>")] {
            let r = try Fixtures.sentinel(["vocab", dir + "/adapted", "--original", model, "--token", token, "--json"], environment: key)
            XCTAssertEqual(r.status, 0, r.stderr)
            let entry = try XCTUnwrap(try JSONValue.parse(r.stdout)["entries"]?.arrayValue?.first)
            let digest = hasher.hexDigest(token)
            XCTAssertEqual(entry["digest"]?.stringValue, digest)
            XCTAssertEqual(entry["adapted_id"]?.intValue, referenceID[digest], token)
            XCTAssertEqual(entry["original_id"]?.intValue, try XCTUnwrap(Fixtures.json("roberta/model/vocab.json")[token]?.intValue))
            XCTAssertEqual(entry["readable"]?.stringValue, readable)
        }
        let wrong = try Fixtures.sentinel(["vocab", dir + "/adapted", "--original", model], environment: ["SENTINEL_KEY": "wrong"])
        XCTAssertEqual(wrong.status, 1)
        // verify: vocabulary, unchanged tensors, glide rows and forward parity on the byte-level model.
        let verified = try Fixtures.sentinel(["verify", dir + "/adapted", "--original", model, "--json"], environment: key)
        XCTAssertEqual(verified.status, 0, verified.stdout + verified.stderr)
        let checks = try XCTUnwrap(try JSONValue.parse(verified.stdout)["checks"]?.arrayValue)
        XCTAssertEqual(checks.compactMap { $0["name"]?.stringValue }, ["manifest", "source", "vocabulary", "tensors", "embeddings", "forward"])
        XCTAssertTrue(checks.allSatisfy { $0["passed"]?.boolValue == true })
        let refused = try Fixtures.sentinel(["verify", dir + "/adapted", "--original", model], environment: ["SENTINEL_KEY": "wrong"])
        XCTAssertEqual(refused.status, 1)
        // inspect: the tokenizer summary of the adapted byte-level directory.
        let inspected = try Fixtures.sentinel(["inspect", dir + "/adapted", "--json"])
        XCTAssertEqual(inspected.status, 0, inspected.stderr)
        let summary = try JSONValue.parse(inspected.stdout)["tokenizer"]
        XCTAssertEqual(summary?["vocab_size"]?.intValue, 8000)
        XCTAssertEqual(summary?["vocabulary"]?.stringValue, "byte_level_bpe")
        XCTAssertEqual(summary?["files"]?.arrayValue?.compactMap(\.stringValue), ["vocab.json", "tokenizer.json", "tokenizer_config.json"])
    }
}
