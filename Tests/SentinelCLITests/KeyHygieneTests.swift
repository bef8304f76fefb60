import Foundation
import SentinelCore
import SentinelTestSupport
import XCTest

/// Issue 12, item 5: where the passkey comes from (SENTINEL_KEY, --key-file, --key with a warning), which one
/// is used when several are given, a warning for a key file others may read, and a key that appears in no
/// output file, log, or message of a full run, as bytes, hex or base64.
final class KeyHygieneTests: XCTestCase {
    var model: String { Fixtures.fixture("roberta/model") }
    static let key = "Leak-Canary-7f3Q-π-passkey"

    private func write(_ text: String, to path: String, mode: mode_t) throws {
        try text.write(toFile: path, atomically: false, encoding: .utf8)
        XCTAssertEqual(chmod(path, mode), 0)
    }

    private func encrypt(_ extra: [String], environment: [String: String?], input: String) throws -> RunResult {
        try Fixtures.sentinel(["encrypt", model, "--input", input, "--output", "-"] + extra, environment: environment)
    }

    func testSourcesPrecedenceAndWarnings() throws {
        let tmp = try Fixtures.temporaryDirectory("key-hygiene")
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        try "hello world\n".write(toFile: tmp + "/in.txt", atomically: false, encoding: .utf8)
        try write("file key\n", to: tmp + "/key-600", mode: 0o600)
        try write("file key\n", to: tmp + "/key-644", mode: 0o644)
        let input = tmp + "/in.txt"

        let env = try encrypt([], environment: ["SENTINEL_KEY": "env key"], input: input)
        XCTAssertEqual(env.status, 0, env.stderr)
        XCTAssertFalse(env.stderr.contains("warning: the key file") || env.stderr.contains("note:"), env.stderr)
        let file = try encrypt(["--key-file", tmp + "/key-600"], environment: ["SENTINEL_KEY": nil], input: input)
        XCTAssertEqual(file.status, 0, file.stderr)
        XCTAssertFalse(file.stderr.contains("warning"), file.stderr)
        XCTAssertNotEqual(file.stdout, env.stdout)

        // A key file readable by others works, with a warning naming the file and its mode (not the key).
        let wide = try encrypt(["--key-file", tmp + "/key-644"], environment: ["SENTINEL_KEY": nil], input: input)
        XCTAssertEqual(wide.status, 0, wide.stderr)
        XCTAssertEqual(wide.stdout, file.stdout)
        XCTAssertTrue(wide.stderr.contains("warning: the key file \(tmp)/key-644 has mode 0644"), wide.stderr)
        XCTAssertTrue(wide.stderr.contains("chmod 600"), wide.stderr)

        // Both given: --key-file wins, and stderr says so.
        let both = try encrypt(["--key-file", tmp + "/key-600"], environment: ["SENTINEL_KEY": "env key"], input: input)
        XCTAssertEqual(both.status, 0, both.stderr)
        XCTAssertEqual(both.stdout, file.stdout)
        XCTAssertTrue(both.stderr.contains("note: the passkey is taken from --key-file; SENTINEL_KEY is also given and ignored"), both.stderr)

        // On the command line: accepted, with a warning that others can see it; it wins over the others.
        let argument = try encrypt(["--key", "env key"], environment: ["SENTINEL_KEY": nil], input: input)
        XCTAssertEqual(argument.status, 0, argument.stderr)
        XCTAssertEqual(argument.stdout, env.stdout)
        XCTAssertTrue(argument.stderr.contains("warning: a passkey given with --key is visible to other users"), argument.stderr)
        XCTAssertFalse(argument.stderr.contains("env key"), argument.stderr)
        let all = try encrypt(["--key", "env key", "--key-file", tmp + "/key-600"], environment: ["SENTINEL_KEY": "other"], input: input)
        XCTAssertEqual(all.stdout, env.stdout)
        XCTAssertTrue(all.stderr.contains("taken from --key; --key-file and SENTINEL_KEY are also given and ignored"), all.stderr)

        let none = try encrypt([], environment: ["SENTINEL_KEY": nil], input: input)
        XCTAssertEqual(none.status, 64, none.stderr)
        let empty = try encrypt(["--key", ""], environment: ["SENTINEL_KEY": nil], input: input)
        XCTAssertEqual(empty.status, 64, empty.stderr)
    }

    /// The forms in which a leaked key could be written: its UTF-8 bytes, hex (both cases), base64 (standard
    /// and URL-safe, with and without padding).
    static var forms: [String] {
        let bytes = Array(key.utf8)
        let hex = bytes.map { String(format: "%02x", $0) }.joined()
        let b64 = Data(bytes).base64EncodedString()
        let url = b64.replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
        return [key, hex, hex.uppercased(), b64, url, String(b64.prefix { $0 != "=" }), String(url.prefix { $0 != "=" })]
    }

    private func assertNoKey(in data: Data, _ what: String) {
        for form in Self.forms where data.range(of: Data(form.utf8)) != nil {
            XCTFail("\(what) holds the key (as \(form))")
        }
    }

    func testAFullRunWritesTheKeyNowhere() throws {
        let tmp = try Fixtures.temporaryDirectory("key-hygiene")
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        try write(Self.key + "\n", to: tmp + "/key", mode: 0o600)
        try "The quick brown fox jumps over the lazy dog.\nHello, world!\n".write(toFile: tmp + "/in.txt", atomically: false, encoding: .utf8)
        try "EU\tB-ORG\nrejects\tO\n\nPeter\tB-PER\n".write(toFile: tmp + "/in.conll", atomically: false, encoding: .utf8)
        let env: [String: String?] = ["SENTINEL_KEY": Self.key]
        // A model whose weights are cut short (exit 65).
        let bad = tmp + "/bad-model"
        try FileManager.default.createDirectory(atPath: bad, withIntermediateDirectories: false)
        for name in try FileManager.default.contentsOfDirectory(atPath: model) {
            var data = try Data(contentsOf: URL(fileURLWithPath: model + "/" + name))
            if name == "model.safetensors" { data = data.prefix(1000) }
            try data.write(to: URL(fileURLWithPath: bad + "/" + name))
        }
        let out = tmp + "/out"
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: false)
        let runs: [([String], [String: String?])] = [
            (["convert", "--scheme", "seed", model, "--output", out + "/seed", "--shuffle", "--progress"], env),
            (
                [
                    "convert", "--scheme", "seed", model, "--output", out + "/seed-json", "--shuffle", "--json", "--progress", "--key-file",
                    tmp + "/key",
                ],
                ["SENTINEL_KEY": nil]
            ),
            (
                ["convert", "--scheme", "seed", model, "--output", out + "/seed", "--shuffle", "--force", "--key-file", tmp + "/key"],
                ["SENTINEL_KEY": nil]
            ),
            (
                [
                    "convert", model, "--output", out + "/hardened", "--scheme", "hardened", "--kdf-ops", "1", "--kdf-mem", "8MiB", "--progress",
                    "--json",
                ],
                env
            ),
            (["encrypt", model, "--input", tmp + "/in.txt", "--output", out + "/enc.txt", "--progress"], env),
            (["encrypt", model, "--input", tmp + "/in.conll", "--format", "conll", "--output", out + "/enc.jsonl", "--json"], env),
            (["encrypt", model, "--input", tmp + "/in.txt", "--manifest", out + "/hardened", "--output", out + "/enc-hardened.txt"], env),
            (["vocab", out + "/seed", "--original", model, "--all"], env),
            (["vocab", out + "/seed", "--original", model, "--token", "Ġthe", "--json"], env),
            (["verify", out + "/seed", "--original", model, "--json"], env),
            // Failures: a wrong key, an output that exists, bad input, the key on the command line.
            (["vocab", out + "/seed", "--original", model, "--token", "Ġthe"], ["SENTINEL_KEY": "wrong key"]),
            (["convert", "--scheme", "seed", model, "--output", out + "/seed"], env),
            (["convert", "--scheme", "seed", bad, "--output", out + "/bad"], env),
            (["encrypt", model, "--input", tmp + "/missing.txt"], env),
            (["encrypt", model, "--input", tmp + "/in.txt", "--key", Self.key], ["SENTINEL_KEY": nil]),
        ]
        var statuses: [Int32] = []
        for (arguments, environment) in runs {
            let r = try Fixtures.sentinel(arguments, environment: environment)
            statuses.append(r.status)
            assertNoKey(in: Data(r.stdout.utf8), "stdout of \(arguments)")
            // --key itself is on the command line; what matters is that sentinel does not echo it.
            assertNoKey(in: Data(r.stderr.utf8), "stderr of \(arguments)")
        }
        // The successful runs succeeded, the failures failed as they should (wrong key 1, exists 64, bad input 65, missing 74).
        XCTAssertEqual(statuses, [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 64, 65, 74, 0])
        XCTAssertTrue(FileManager.default.fileExists(atPath: out + "/hardened/sentinel.json"))
        XCTAssertTrue(FileManager.default.fileExists(atPath: out + "/enc.jsonl"))
        // Every file written, and the directory of the key (partials, logs).
        var checked = 0
        let walker = FileManager.default.enumerator(atPath: tmp)!
        for case let name as String in walker where name != "key" {
            var isDir: ObjCBool = false
            FileManager.default.fileExists(atPath: tmp + "/" + name, isDirectory: &isDir)
            if isDir.boolValue { continue }
            assertNoKey(in: try Data(contentsOf: URL(fileURLWithPath: tmp + "/" + name)), name)
            checked += 1
        }
        XCTAssertGreaterThan(checked, 20)
    }
}
