import Foundation
import SentinelCore
import SentinelFormats
import SentinelTestSupport
import XCTest

/// The hardened scheme end to end on the real MiniLM: `convert --scheme hardened`, `encrypt --manifest` on the client,
/// `embed --encrypted` on the adapted model, against `embed` of the plain text on the original.
final class HardenedRoundTripTests: XCTestCase {
    let env: [String: String?] = ["SENTINEL_KEY": "hardened round trip"]

    func embed(_ model: String, encrypted: Bool, input: String, output: String) throws -> SafeTensorsFile {
        let r = try Fixtures.sentinel(["embed", model] + (encrypted ? ["--encrypted"] : []) + ["--input", input, "--output", output])
        XCTAssertEqual(r.status, 0, r.stderr)
        return try SafeTensorsFile(path: output)
    }

    func testEncryptedInputOnAHardenedModelMatchesThePlainOriginalWhenFunctionPreserving() throws {
        let model = try Fixtures.miniLM()
        let dir = try Fixtures.temporaryDirectory("hardened-roundtrip")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try f01PlainText().write(toFile: dir + "/plain.txt", atomically: true, encoding: .utf8)
        let kdf = ["--kdf-ops", "1", "--kdf-mem", "8MiB"]
        for (name, options) in [("identity", ["--noise-std", "0"]), ("default", []), ("noisy", ["--noise-std", "0.1", "--scale", "1.2"])] {
            let c = try Fixtures.sentinel(["convert", model, "--output", dir + "/" + name, "--scheme", "hardened"] + kdf + options, environment: env)
            XCTAssertEqual(c.status, 0, c.stderr)
        }
        let plain = try embed(model, encrypted: false, input: dir + "/plain.txt", output: dir + "/plain.safetensors")
        let mask = try plain.intRows("attention_mask").flatMap { $0 }

        // The client reads the salt from the adapted directory's sentinel.json (or the file itself).
        let e1 = try Fixtures.sentinel(
            [
                "encrypt", model, "--input", dir + "/plain.txt", "--manifest", dir + "/identity",
                "--output", dir + "/identity.txt",
            ], environment: env)
        XCTAssertEqual(e1.status, 0, e1.stderr)
        let identity = try embed(dir + "/identity", encrypted: true, input: dir + "/identity.txt", output: dir + "/identity.safetensors")
        XCTAssertEqual(try plain.intRows("attention_mask"), try identity.intRows("attention_mask"))
        XCTAssertNotEqual(try plain.intRows("input_ids"), try identity.intRows("input_ids"), "the adapted ids are permuted")
        let d = maxAbsDiff(try plain.floats("last_hidden_state"), try identity.floats("last_hidden_state")) { mask[$0 / 384] == 1 }
        XCTAssertLessThanOrEqual(d, 5e-5)
        XCTAssertLessThanOrEqual(maxAbsDiff(try plain.floats("pooler_output"), try identity.floats("pooler_output")), 5e-6)

        // With transforms the encrypted input still finds every digest (no [UNK] beyond the plain text's), and the
        // outputs differ from the original's: the transform changes the function.
        let plainUnknown = try plain.intRows("input_ids").flatMap { $0 }.filter { $0 == 100 }.count
        for name in ["default", "noisy"] {
            let e = try Fixtures.sentinel(
                [
                    "encrypt", model, "--input", dir + "/plain.txt", "--manifest", dir + "/\(name)/sentinel.json",
                    "--output", dir + "/\(name).txt",
                ], environment: env)
            XCTAssertEqual(e.status, 0, e.stderr)
            let out = try embed(dir + "/" + name, encrypted: true, input: dir + "/\(name).txt", output: dir + "/\(name).safetensors")
            XCTAssertEqual(try out.intRows("input_ids").flatMap { $0 }.filter { $0 == 100 }.count, plainUnknown)
            let diff = maxAbsDiff(try plain.floats("last_hidden_state"), try out.floats("last_hidden_state")) { mask[$0 / 384] == 1 }
            XCTAssertGreaterThan(diff, 1e-2, name)
            XCTAssertFalse(diff.isNaN, name)
        }

        // Without --manifest the client makes seed digests, which the hardened model does not know: all [UNK], so
        // embed stops (exit 1, the fraction in the message) unless --allow-unknown is given.
        let seedDigests = try Fixtures.sentinel(["encrypt", model, "--input", dir + "/plain.txt", "--output", dir + "/seed.txt"], environment: env)
        XCTAssertEqual(seedDigests.status, 0, seedDigests.stderr)
        let refused = try Fixtures.sentinel(["embed", dir + "/identity", "--encrypted", "--input", dir + "/seed.txt"])
        XCTAssertEqual(refused.status, 1, refused.stderr)
        XCTAssertTrue(refused.stderr.contains("fraction 1.000"), refused.stderr)
        let allowed = try Fixtures.sentinel([
            "embed", dir + "/identity", "--encrypted", "--allow-unknown", "--input", dir + "/seed.txt",
            "--output", dir + "/lost.safetensors",
        ])
        XCTAssertEqual(allowed.status, 0, allowed.stderr)
        let lost = try SafeTensorsFile(path: dir + "/lost.safetensors")
        let ids = try lost.intRows("input_ids").flatMap { $0 }
        let maskLost = try lost.intRows("attention_mask").flatMap { $0 }
        let real = ids.indices.filter { maskLost[$0] == 1 && ![101, 102].contains(ids[$0]) }
        XCTAssertTrue(real.allSatisfy { ids[$0] == 100 })
    }
}
