import Foundation
import SentinelCore
import SentinelTestSupport
import XCTest

/// `sentinel audit` and `sentinel verify --audit` on Sentinel's seed-scheme conversions of the real MiniLM (key llm123,
/// --shuffle, glide 2 and 3): the mean-centred matchers recover ≥ 99.9 % of the ids, the brute force finds the seed
/// and the full mapping, the verdict is FAIL with exit 1, and neither the key nor the seed is printed.
final class AuditCLITests: XCTestCase {
    let env: [String: String?] = ["SENTINEL_KEY": "llm123"]

    private func attacks(_ doc: JSONValue) -> [String: JSONValue] {
        Dictionary(uniqueKeysWithValues: (doc["attacks"]?.arrayValue ?? []).map { ($0["name"]?.stringValue ?? "", $0) })
    }

    private func checkSeedSchemeVerdict(_ audit: JSONValue, file: StaticString = #filePath, line: UInt = #line) throws {
        let byName = attacks(audit)
        for name in ["nearest_centred_cosine", "nearest_centred_l2"] {
            let top1 = try XCTUnwrap(byName[name]?["recovered_top1"]?.doubleValue, name, file: file, line: line)
            XCTAssertGreaterThanOrEqual(top1, 0.999, name, file: file, line: line)
            XCTAssertEqual(byName[name]?["verdict"]?.stringValue, "fail", file: file, line: line)
        }
        XCTAssertEqual(byName["seed_brute_force"]?["seed_found"]?.boolValue, true, file: file, line: line)
        XCTAssertEqual(byName["seed_brute_force"]?["recovered_top1"]?.doubleValue, 1.0, file: file, line: line)
        XCTAssertEqual(audit["passed"]?.boolValue, false, file: file, line: line)
        XCTAssertEqual(audit["hidden_ids"]?.intValue, 30517, file: file, line: line)
        // The stable shape: every attack has these fields.
        for (name, a) in byName {
            for field in ["name", "recovered_top1", "recovered_top10", "seconds", "verdict"] {
                XCTAssertNotNil(a[field], "\(name).\(field)", file: file, line: line)
            }
            XCTAssertNil(a["seed"], file: file, line: line)
        }
    }

    func testSeedSchemeConversionsFailTheAudit() throws {
        let model = try Fixtures.miniLM()
        let tmp = try Fixtures.temporaryDirectory("audit-cli")
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        for glide in ["2", "3"] {
            let c = try Fixtures.sentinel(
                ["convert", "--scheme", "seed", model, "--output", tmp + "/f" + glide, "--shuffle", "--glide-steps", glide],
                environment: env)
            XCTAssertEqual(c.status, 0, c.stderr)
        }

        // Glide 2: the whole audit, with a report directory.
        let r = try Fixtures.sentinel(["audit", tmp + "/f2", "--original", model, "--json", "--report", tmp + "/report"], environment: env)
        XCTAssertEqual(r.status, 1, r.stderr)
        let doc = try JSONValue.parse(r.stdout)
        try checkSeedSchemeVerdict(doc)
        let byName = attacks(doc)
        XCTAssertEqual(
            Set(byName.keys),
            [
                "nearest_raw_cosine", "nearest_raw_l2", "nearest_centred_cosine", "nearest_centred_l2",
                "procrustes_icp", "seed_brute_force", "fixed_points",
            ])
        // Without mean-centring the reference measured cosine 79.1 %, L2 85.5 % (seed-converter/README.md).
        XCTAssertEqual(try XCTUnwrap(byName["nearest_raw_cosine"]?["recovered_top1"]?.doubleValue), 0.791, accuracy: 0.006)
        XCTAssertEqual(try XCTUnwrap(byName["nearest_raw_l2"]?["recovered_top1"]?.doubleValue), 0.855, accuracy: 0.006)
        XCTAssertGreaterThanOrEqual(try XCTUnwrap(byName["procrustes_icp"]?["recovered_top1"]?.doubleValue), 0.999)
        XCTAssertEqual(byName["fixed_points"]?["verdict"]?.stringValue, "pass")
        XCTAssertTrue(FileManager.default.fileExists(atPath: tmp + "/report/audit.json"))
        XCTAssertEqual(try JSONValue.parse(String(contentsOfFile: tmp + "/report/audit.json", encoding: .utf8))["passed"]?.boolValue, false)
        let text = try String(contentsOfFile: tmp + "/report/audit.txt", encoding: .utf8)
        XCTAssertTrue(text.contains("FAIL  seed_brute_force"), text)
        for output in [r.stdout, r.stderr, text] { XCTAssertFalse(output.contains("llm123")) }

        // Ciphertext frequency analysis: the CoNLL-2003 validation set encrypted on the client, against the training
        // set's wordpiece frequencies. Digests are deterministic, so frequent tokens are decoded.
        let enc = try Fixtures.sentinel(
            [
                "encrypt", model, "--input", Fixtures.shared + "/data/conll2003/valid.txt", "--format", "conll",
                "--output", tmp + "/valid.enc.jsonl",
            ], environment: env)
        XCTAssertEqual(enc.status, 0, enc.stderr)
        let f = try Fixtures.sentinel(
            [
                "audit", tmp + "/f2", "--original", model, "--attacks", "ciphertext_frequency",
                "--ciphertext", tmp + "/valid.enc.jsonl", "--corpus", Fixtures.shared + "/data/conll2003/train.txt",
                "--json",
            ], environment: env)
        XCTAssertEqual(f.status, 1, f.stderr)
        let freq = try XCTUnwrap(attacks(try JSONValue.parse(f.stdout))["ciphertext_frequency"])
        XCTAssertGreaterThan(try XCTUnwrap(freq["recovered_top1"]?.doubleValue), 0.1)
        XCTAssertEqual(freq["verdict"]?.stringValue, "fail")
        XCTAssertEqual(freq["unknown_digests"]?.intValue, 0)

        // Glide 3 under verify --audit: parity passes, the audit fails, exit 1.
        let v = try Fixtures.sentinel(["verify", tmp + "/f3", "--original", model, "--audit", "--json"], environment: env)
        XCTAssertEqual(v.status, 1, v.stderr)
        let vdoc = try JSONValue.parse(v.stdout)
        XCTAssertTrue((vdoc["checks"]?.arrayValue ?? []).allSatisfy { $0["passed"]?.boolValue == true }, v.stdout)
        XCTAssertEqual(vdoc["passed"]?.boolValue, false)
        try checkSeedSchemeVerdict(try XCTUnwrap(vdoc["audit"]))
        XCTAssertFalse(v.stdout.contains("llm123") || v.stderr.contains("llm123"))
        // Plain verify checks parity and integrity only: it passes and runs no attack.
        let plain = try Fixtures.sentinel(["verify", tmp + "/f3", "--original", model, "--json"], environment: env)
        XCTAssertEqual(plain.status, 0, plain.stderr)
        XCTAssertNil(try JSONValue.parse(plain.stdout)["audit"])

        // Usage errors: an unknown attack, a threshold out of range, no key.
        let bad = try Fixtures.sentinel(["audit", tmp + "/f2", "--original", model, "--attacks", "nearest_raw_cosine,guess"], environment: env)
        XCTAssertEqual(bad.status, 64)
        let range = try Fixtures.sentinel(["audit", tmp + "/f2", "--original", model, "--max-recovered", "2"], environment: env)
        XCTAssertEqual(range.status, 64)
        let nokey = try Fixtures.sentinel(["audit", tmp + "/f2", "--original", model], environment: ["SENTINEL_KEY": nil])
        XCTAssertEqual(nokey.status, 64)
        // A directory that is not a model: bad input, 65.
        let notModel = try Fixtures.sentinel(["audit", tmp + "/report", "--original", model], environment: env)
        XCTAssertEqual(notModel.status, 65, notModel.stderr)
    }
}
