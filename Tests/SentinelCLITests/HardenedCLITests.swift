import Foundation
import SentinelScheme
import SentinelCore
import SentinelTestSupport
import XCTest

/// `sentinel convert --scheme hardened` and the commands that read hardened models (vocab, verify), as a user runs
/// them. A cheap Argon2id setting (1 pass, 8 MiB) keeps each conversion fast; the default setting is measured by
/// `sentinel bench-kdf`, not here.
final class HardenedCLITests: XCTestCase {
    static let key = "Hardened-Ω-passkey 42"
    static let salt = "00112233445566778899aabbccddeeff"
    static let fastKDF = ["--kdf-ops", "1", "--kdf-mem", "8MiB"]
    let env: [String: String?] = ["SENTINEL_KEY": HardenedCLITests.key]

    private func files(in dir: String) throws -> [String: Data] {
        var out: [String: Data] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: dir) {
            out[name] = try Data(contentsOf: URL(fileURLWithPath: dir + "/" + name))
        }
        return out
    }

    private func convert(_ model: String, _ output: String, _ extra: [String]) throws -> RunResult {
        try Fixtures.sentinel(["convert", model, "--output", output, "--scheme", "hardened"] + Self.fastKDF + extra, environment: env)
    }

    func testHardenedConvertIsDeterministicRecordsItsParametersAndLeaksNoKey() throws {
        let model = try Fixtures.miniLM()
        let tmp = try Fixtures.temporaryDirectory("hardened")
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        let transform = ["--noise-std", "0.05", "--reinit-fraction", "0.1", "--scale", "0.9"]
        let a = try convert(model, tmp + "/a", ["--kdf-salt", Self.salt, "--json"] + transform)
        XCTAssertEqual(a.status, 0, a.stderr)
        let b = try convert(model, tmp + "/b", ["--kdf-salt", Self.salt] + transform)
        XCTAssertEqual(b.status, 0, b.stderr)
        XCTAssertFalse(a.stderr.contains("warning"), "no seed warning for hardened: \(a.stderr)")
        let filesA = try files(in: tmp + "/a"), filesB = try files(in: tmp + "/b")
        XCTAssertEqual(
            Set(filesA.keys),
            [
                "model.safetensors", "config.json", "vocab.txt", "tokenizer.json",
                "tokenizer_config.json", "special_tokens_map.json", "sentinel.json",
            ])
        XCTAssertEqual(filesA, filesB, "same key, salt and options give byte-identical files")

        // The report and sentinel.json record the scheme and its parameters.
        let report = try JSONValue.parse(a.stdout)
        XCTAssertEqual(report["scheme"]?.stringValue, "hardened")
        XCTAssertEqual(report["kdf"]?["salt"]?.stringValue, Self.salt)
        let manifest = try JSONValue.read(file: tmp + "/a/sentinel.json")
        XCTAssertEqual(manifest["scheme"]?.stringValue, "hardened")
        XCTAssertEqual(manifest["scheme_version"]?.intValue, 1)
        XCTAssertEqual(manifest["shuffle"]?.boolValue, true)
        XCTAssertEqual(manifest["kdf"]?["algorithm"]?.stringValue, "argon2id13")
        XCTAssertEqual(manifest["kdf"]?["opslimit"]?.intValue, 1)
        XCTAssertEqual(manifest["kdf"]?["memlimit"]?.intValue, 8 << 20)
        XCTAssertEqual(manifest["kdf"]?["salt"]?.stringValue, Self.salt)
        let t = try XCTUnwrap(manifest["embedding_transform"])
        XCTAssertEqual(t["noise_std"]?.doubleValue, 0.05)
        XCTAssertEqual(t["reinit_fraction"]?.doubleValue, 0.1)
        XCTAssertEqual(t["scale"]?.doubleValue, 0.9)
        XCTAssertEqual(t["dim_scale"]?.doubleValue, 1)
        XCTAssertEqual(t["reinit_std"]?.doubleValue, 0.02, "MiniLM's config.json initializer_range")
        XCTAssertEqual(t["function_preserving"]?.boolValue, false)
        XCTAssertEqual(
            manifest["source"]?["files"]?["model.safetensors"]?["sha256"]?.stringValue,
            "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db")

        // Neither the passkey nor any derived key appears in a file (raw or hex) or on stdout/stderr.
        let kdf = Argon2idParameters(opsLimit: 1, memLimit: 8 << 20, salt: HardenedManifest.unhex(Self.salt)!)
        let master = try HardenedKeys.masterKey(passkey: Self.key, parameters: kdf)
        let keys = try HardenedKeys(masterKey: master)
        let secrets = [master, keys.tokenDigests, keys.permutation, keys.embeddingTransform].map(\.rawBytes)
        for (name, data) in filesA {
            XCTAssertNil(data.range(of: Data(Self.key.utf8)), "\(name) contains the passkey")
            for s in secrets {
                XCTAssertNil(data.range(of: Data(s)), "\(name) contains key material")
                XCTAssertNil(data.range(of: Data(HardenedManifest.hex(s).utf8)), "\(name) contains key material in hex")
            }
        }
        for text in [a.stdout, a.stderr, b.stdout, b.stderr] {
            XCTAssertFalse(text.contains(Self.key))
            for s in secrets { XCTAssertFalse(text.contains(HardenedManifest.hex(s))) }
        }

        // The vocabulary: specials in place, every other entry the subkey digest of some original token.
        let vocab = String(decoding: filesA["vocab.txt"]!, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        XCTAssertEqual(vocab.count, 30522)
        XCTAssertEqual([vocab[0], vocab[100], vocab[101], vocab[102], vocab[103]], ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])
        let hasher = keys.tokenHasher()
        let helloID = try XCTUnwrap(vocab.firstIndex(of: hasher.hexDigest("hello")))
        XCTAssertNotEqual(helloID, 7592, "'hello' (original id 7592) moved")
        XCTAssertNil(vocab.firstIndex(of: try TokenHasher(passkey: Self.key).hexDigest("hello")), "not the seed scheme's digest")

        // Another salt: another vocabulary and other embeddings; without --kdf-salt the salt is fresh each time.
        let c = try convert(model, tmp + "/c", ["--kdf-salt", "ffeeddccbbaa99887766554433221100"] + transform)
        XCTAssertEqual(c.status, 0, c.stderr)
        let filesC = try files(in: tmp + "/c")
        XCTAssertNotEqual(filesC["vocab.txt"], filesA["vocab.txt"])
        XCTAssertNotEqual(filesC["model.safetensors"], filesA["model.safetensors"])
        XCTAssertEqual(filesC["config.json"], filesA["config.json"])
        let d = try convert(model, tmp + "/d", ["--noise-std", "0"])
        // Without KDF or transform options: libsodium's MODERATE setting and every non-special row re-initialised.
        let e = try Fixtures.sentinel(["convert", model, "--output", tmp + "/e", "--scheme", "hardened"], environment: env)
        XCTAssertEqual(d.status + e.status, 0, d.stderr + e.stderr)
        let defaults = try JSONValue.read(file: tmp + "/e/sentinel.json")
        XCTAssertEqual(defaults["kdf"]?["opslimit"]?.intValue, 3)
        XCTAssertEqual(defaults["kdf"]?["memlimit"]?.intValue, 256 << 20)
        XCTAssertEqual(defaults["embedding_transform"]?["reinit_fraction"]?.doubleValue, 1)
        XCTAssertEqual(defaults["embedding_transform"]?["noise_std"]?.doubleValue, 0)
        let saltD = try JSONValue.read(file: tmp + "/d/sentinel.json")["kdf"]?["salt"]?.stringValue
        let saltE = try JSONValue.read(file: tmp + "/e/sentinel.json")["kdf"]?["salt"]?.stringValue
        XCTAssertEqual(saltD?.count, 32)
        XCTAssertNotEqual(saltD, saltE)
    }

    func testSeedStaysTheReferenceAndWarnsOptionsAreChecked() throws {
        let model = try Fixtures.miniLM()
        let tmp = try Fixtures.temporaryDirectory("hardened-seed")
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        // No --scheme is hardened (the safe default: permutation, every non-special row re-initialised, no seed warning);
        // seed-only options without --scheme seed are refused with a hint.
        let implicit = try Fixtures.sentinel(
            ["convert", model, "--output", tmp + "/implicit", "--kdf-ops", "1", "--kdf-mem", "8MiB"], environment: env)
        XCTAssertEqual(implicit.status, 0, implicit.stderr)
        XCTAssertFalse(implicit.stderr.contains("warning: scheme seed"), implicit.stderr)
        let implicitManifest = try JSONValue.read(file: tmp + "/implicit/sentinel.json")
        XCTAssertEqual(implicitManifest["scheme"]?.stringValue, "hardened")
        XCTAssertEqual(implicitManifest["embedding_transform"]?["reinit_fraction"]?.doubleValue, 1)
        let glide = try Fixtures.sentinel(["convert", model, "--output", tmp + "/glide", "--glide-steps", "2"], environment: env)
        XCTAssertEqual(glide.status, 64, glide.stderr)
        XCTAssertTrue(glide.stderr.contains("--scheme seed"), glide.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: tmp + "/glide"))
        let explicit = try Fixtures.sentinel(["convert", model, "--output", tmp + "/explicit", "--shuffle", "--scheme", "seed"], environment: env)
        XCTAssertEqual(explicit.status, 0, explicit.stderr)
        // One warning line on stderr, with the measured figure; stdout unchanged.
        let warnings = explicit.stderr.split(separator: "\n").filter { $0.hasPrefix("warning: scheme seed") }
        XCTAssertEqual(warnings.count, 1, explicit.stderr)
        XCTAssertTrue(warnings[0].contains("recovers the id mapping") && warnings[0].contains("%"), explicit.stderr)
        XCTAssertFalse(explicit.stdout.contains("warning: scheme seed"))
        let manifest = try JSONValue.read(file: tmp + "/explicit/sentinel.json")
        XCTAssertEqual(manifest["scheme"]?.stringValue, "seed")
        XCTAssertEqual(manifest["kdf"], .null)

        // encrypt --manifest with a seed model's sentinel.json is plain seed encryption; a missing manifest is bad input.
        let text = Data("Hello world, this is Sentinel.\n".utf8)
        let bare = try Fixtures.sentinel(["encrypt", model], environment: env, stdin: text)
        let withSeed = try Fixtures.sentinel(["encrypt", model, "--manifest", tmp + "/explicit"], environment: env, stdin: text)
        XCTAssertEqual(bare.status + withSeed.status, 0, bare.stderr + withSeed.stderr)
        XCTAssertEqual(bare.stdout, withSeed.stdout)
        let missing = try Fixtures.sentinel(["encrypt", model, "--manifest", tmp + "/nothing"], environment: env, stdin: text)
        XCTAssertEqual(missing.status, 65, missing.stderr)

        // Usage errors (64), nothing written.
        let cases: [[String]] = [
            ["--scheme", "seed", "--noise-std", "0.1"], ["--scheme", "seed", "--kdf-salt", Self.salt],
            ["--scheme", "hardened", "--glide-steps", "3"], ["--scheme", "hardened", "--kdf-salt", "abc"],
            ["--scheme", "hardened", "--noise-std", "-1"], ["--scheme", "hardened", "--reinit-fraction", "1.5"],
            ["--scheme", "hardened", "--scale", "0"], ["--scheme", "hardened", "--dim-scale", "0.5"],
            ["--scheme", "hardened", "--kdf-ops", "0"], ["--scheme", "hardened", "--kdf-mem", "1KB"],
            ["--scheme", "rot13"],
        ]
        for args in cases {
            let r = try Fixtures.sentinel(["convert", model, "--output", tmp + "/bad"] + args, environment: env)
            XCTAssertEqual(r.status, 64, "\(args): \(r.stderr)")
            XCTAssertFalse(FileManager.default.fileExists(atPath: tmp + "/bad"), "\(args)")
        }
        // A passkey over 64 bytes is fine for hardened (only Argon2id reads it), refused by seed.
        let long = String(repeating: "k", count: 100)
        let seedLong = try Fixtures.sentinel(["convert", "--scheme", "seed", model, "--output", tmp + "/l1"], environment: ["SENTINEL_KEY": long])
        XCTAssertEqual(seedLong.status, 64)
        let hardLong = try Fixtures.sentinel(
            ["convert", model, "--output", tmp + "/l2", "--scheme", "hardened"] + Self.fastKDF,
            environment: ["SENTINEL_KEY": long])
        XCTAssertEqual(hardLong.status, 0, hardLong.stderr)
        XCTAssertFalse(hardLong.stderr.contains(long) || hardLong.stdout.contains(long))
    }

    func testVocabAndVerifyFollowTheHardenedScheme() throws {
        let model = try Fixtures.miniLM()
        let tmp = try Fixtures.temporaryDirectory("hardened-verify")
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        XCTAssertEqual(try convert(model, tmp + "/id", ["--noise-std", "0", "--kdf-salt", Self.salt]).status, 0)
        XCTAssertEqual(try convert(model, tmp + "/tr", ["--noise-std", "0.1", "--dim-scale", "1.5", "--reinit-fraction", "0.2"]).status, 0)

        // vocab: the token's digest under the derived subkey, its original and adapted ids.
        let kdf = Argon2idParameters(opsLimit: 1, memLimit: 8 << 20, salt: HardenedManifest.unhex(Self.salt)!)
        let keys = try HardenedKeys(passkey: Self.key, parameters: kdf)
        let vocab = try Fixtures.sentinel(["vocab", tmp + "/id", "--original", model, "--token", "hello", "--json"], environment: env)
        XCTAssertEqual(vocab.status, 0, vocab.stderr)
        let doc = try JSONValue.parse(vocab.stdout)
        let entry = try XCTUnwrap(doc["entries"]?.arrayValue?.first)
        XCTAssertEqual(entry["digest"]?.stringValue, keys.tokenHasher().hexDigest("hello"))
        XCTAssertEqual(entry["original_id"]?.intValue, 7592)
        let mapping = HardenedScheme.mapping(vocabSize: 30522, specialIDs: [0, 100, 101, 102, 103], key: keys.permutation)
        XCTAssertEqual(entry["adapted_id"]?.intValue, mapping[7592])
        XCTAssertEqual(doc["summary"]?["scheme"]?.stringValue, "hardened")
        XCTAssertEqual(doc["summary"]?["key_matches"]?.boolValue, true)
        let wrong = try Fixtures.sentinel(["vocab", tmp + "/id", "--original", model], environment: ["SENTINEL_KEY": "not the key"])
        XCTAssertEqual(wrong.status, 1, wrong.stderr)

        func checks(_ dir: String, key: String = HardenedCLITests.key) throws -> (Int32, [String: JSONValue]) {
            let r = try Fixtures.sentinel(["verify", dir, "--original", model, "--json"], environment: ["SENTINEL_KEY": key])
            let list = try JSONValue.parse(r.stdout)["checks"]?.arrayValue ?? []
            return (r.status, Dictionary(list.map { ($0["name"]!.stringValue!, $0) }, uniquingKeysWith: { a, _ in a }))
        }
        // Function-preserving: every check, forward parity included.
        let (s1, c1) = try checks(tmp + "/id")
        XCTAssertEqual(s1, 0)
        XCTAssertEqual(Set(c1.keys), ["manifest", "source", "vocabulary", "tensors", "embeddings", "forward"])
        XCTAssertTrue(c1.values.allSatisfy { $0["passed"]?.boolValue == true })
        XCTAssertEqual(c1["forward"]?["parity_expected"]?.boolValue, true)
        XCTAssertLessThanOrEqual(c1["forward"]?["max_abs_diff_last_hidden_state"]?.doubleValue ?? 1, 1e-4)
        // With transforms: rows recomputed exactly, parity not expected, and the outputs do differ.
        let (s2, c2) = try checks(tmp + "/tr")
        XCTAssertEqual(s2, 0)
        XCTAssertEqual(c2["embeddings"]?["max_abs_diff"]?.doubleValue, 0)
        XCTAssertEqual(c2["forward"]?["parity_expected"]?.boolValue, false)
        XCTAssertGreaterThan(c2["forward"]?["max_abs_diff_last_hidden_state"]?.doubleValue ?? 0, 1e-2)
        // The wrong key fails.
        let (s3, c3) = try checks(tmp + "/tr", key: "not the key")
        XCTAssertEqual(s3, 1)
        XCTAssertEqual(c3["vocabulary"]?["passed"]?.boolValue, false)
        XCTAssertEqual(c3["embeddings"]?["passed"]?.boolValue, false)

        // A tampered salt fails the vocabulary check; a hostile opslimit is refused as bad input naming the key.
        let path = tmp + "/id/sentinel.json"
        let original = try JSONValue.read(file: path)
        let kdfJSON = try XCTUnwrap(original["kdf"])
        try original.setting("kdf", to: kdfJSON.setting("salt", to: .string("ffeeddccbbaa99887766554433221100"))).serialized(.pretty)
            .write(toFile: path, atomically: true, encoding: .utf8)
        let (s4, c4) = try checks(tmp + "/id")
        XCTAssertEqual(s4, 1)
        XCTAssertEqual(c4["vocabulary"]?["passed"]?.boolValue, false)
        try original.setting("kdf", to: kdfJSON.setting("opslimit", to: .int(1_000_000))).serialized(.pretty)
            .write(toFile: path, atomically: true, encoding: .utf8)
        let hostile = try Fixtures.sentinel(["verify", tmp + "/id", "--original", model, "--json"], environment: env)
        XCTAssertEqual(hostile.status, 65, hostile.stderr)
        XCTAssertEqual(try JSONValue.parse(hostile.stdout)["error"]?["key"]?.stringValue, "kdf.opslimit")
    }
}
