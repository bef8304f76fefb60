import Foundation
import SentinelScheme
import SentinelCore
import SentinelFormats
import SentinelTestSupport
import XCTest

/// `sentinel convert` / `inspect` as a user runs them: exit codes, determinism, no key leaks,
/// inputs untouched, atomic output under interruption.
final class ConvertCLITests: XCTestCase {
    static let key = "Corr3ct-Horse-Ω-battery"

    private func files(in dir: String) throws -> [String: String] {
        var out: [String: String] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: dir) {
            var isDir: ObjCBool = false
            FileManager.default.fileExists(atPath: dir + "/" + name, isDirectory: &isDir)
            if !isDir.boolValue { out[name] = try Fixtures.sha256(file: dir + "/" + name) }
        }
        return out
    }

    func testConvertIsDeterministicLeavesInputAloneAndNeverWritesTheKey() throws {
        let model = try Fixtures.miniLM()
        let before = try files(in: model)
        let tmp = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        let keyFile = tmp + "/key.txt"
        try (Self.key + "\n").write(toFile: keyFile, atomically: true, encoding: .utf8)

        let a = try Fixtures.sentinel(
            ["convert", "--scheme", "seed", model, "--output", tmp + "/a", "--shuffle", "--json"],
            environment: ["SENTINEL_KEY": Self.key])
        XCTAssertEqual(a.status, 0, a.stderr)
        let b = try Fixtures.sentinel(
            ["convert", "--scheme", "seed", model, "--output", tmp + "/b", "--shuffle", "--key-file", keyFile, "--json"],
            environment: ["SENTINEL_KEY": nil])
        XCTAssertEqual(b.status, 0, b.stderr)
        let report = try JSONValue.parse(a.stdout)
        XCTAssertEqual(report["scheme"]?.stringValue, "seed")
        XCTAssertEqual(report["vocab_size"]?.intValue, 30522)
        XCTAssertEqual(report["changed_tensors"]?.arrayValue, [.string("embeddings.word_embeddings.weight")])
        XCTAssertEqual(report["output"]?.stringValue, tmp + "/a")
        XCTAssertNotNil(report["seconds"]?.doubleValue)

        let filesA = try files(in: tmp + "/a"), filesB = try files(in: tmp + "/b")
        XCTAssertEqual(
            Set(filesA.keys),
            [
                "model.safetensors", "config.json", "vocab.txt", "tokenizer.json",
                "tokenizer_config.json", "special_tokens_map.json", "sentinel.json",
            ])
        XCTAssertEqual(filesA, filesB, "same key and options give byte-identical files")
        XCTAssertEqual(try files(in: model), before, "the input directory is unchanged")

        // The key appears nowhere: not in any output file, not on stdout or stderr.
        for name in filesA.keys {
            let data = try Data(contentsOf: URL(fileURLWithPath: tmp + "/a/" + name))
            XCTAssertNil(data.range(of: Data(Self.key.utf8)), "\(name) contains the key")
        }
        XCTAssertFalse(a.stdout.contains(Self.key) || a.stderr.contains(Self.key) || b.stdout.contains(Self.key))

        // A different key gives a different vocabulary.
        let c = try Fixtures.sentinel(
            ["convert", "--scheme", "seed", model, "--output", tmp + "/c", "--shuffle"], environment: ["SENTINEL_KEY": "other"])
        XCTAssertEqual(c.status, 0, c.stderr)
        XCTAssertNotEqual(try files(in: tmp + "/c")["vocab.txt"], filesA["vocab.txt"])
    }

    func testUsageAndOutputErrors() throws {
        let model = try Fixtures.miniLM()
        let tmp = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        let noKey = try Fixtures.sentinel(["convert", "--scheme", "seed", model, "--output", tmp + "/x"], environment: ["SENTINEL_KEY": nil])
        XCTAssertEqual(noKey.status, 64)
        XCTAssertTrue(noKey.stderr.contains("SENTINEL_KEY"), noKey.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: tmp + "/x"))

        let longKey = String(repeating: "k", count: 65)
        let tooLong = try Fixtures.sentinel(["convert", "--scheme", "seed", model, "--output", tmp + "/x"], environment: ["SENTINEL_KEY": longKey])
        XCTAssertEqual(tooLong.status, 64)
        XCTAssertFalse(tooLong.stderr.contains(longKey))

        try FileManager.default.createDirectory(atPath: tmp + "/exists", withIntermediateDirectories: false)
        let exists = try Fixtures.sentinel(["convert", "--scheme", "seed", model, "--output", tmp + "/exists"], environment: ["SENTINEL_KEY": "k"])
        XCTAssertEqual(exists.status, 64)  // usage error: an output that exists without --force
        XCTAssertTrue(exists.stderr.contains("--force"), exists.stderr)
        let forced = try Fixtures.sentinel(
            ["convert", "--scheme", "seed", model, "--output", tmp + "/exists", "--force"], environment: ["SENTINEL_KEY": "k"])
        XCTAssertEqual(forced.status, 0, forced.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: tmp + "/exists/model.safetensors"))

        try FileManager.default.createDirectory(atPath: tmp + "/empty", withIntermediateDirectories: false)
        let notModel = try Fixtures.sentinel(
            ["convert", "--scheme", "seed", tmp + "/empty", "--output", tmp + "/y"], environment: ["SENTINEL_KEY": "k"])
        XCTAssertEqual(notModel.status, 65, notModel.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: tmp + "/y"))
    }

    func testBadSafetensorsFilesExit65WithTypedJSONError() throws {
        let cases = [
            ("i01_header_len_exceeds_file", "header_out_of_bounds"), ("i02_header_not_json", "not_json"),
            ("i03_overlapping_offsets", "invalid_offsets"), ("i04_offsets_hole", "invalid_offsets"),
            ("i05_offsets_past_end", "data_out_of_bounds"), ("i06_shape_size_mismatch", "size_mismatch"),
            ("i07_unknown_dtype", "unknown_dtype"), ("i08_duplicate_key", "duplicate_tensor"),
            ("i09_header_len_huge", "header_too_large"), ("i10_header_not_utf8", "header_not_utf8"),
            ("i11a_empty_file", "file_too_small"), ("i11b_seven_bytes", "file_too_small"),
        ]
        for (name, code) in cases {
            let path = Fixtures.fixture("safetensors/\(name).safetensors")
            let r = try Fixtures.sentinel(["inspect", path, "--json"])
            XCTAssertEqual(r.status, 65, name)
            XCTAssertTrue(r.stderr.contains(path), r.stderr)
            let error = try JSONValue.parse(r.stdout)["error"]
            XCTAssertEqual(error?["code"]?.stringValue, code, name)
            XCTAssertEqual(error?["file"]?.stringValue, path)
            XCTAssertNotNil(error?["offset"]?.intValue, name)
        }
        let missing = try Fixtures.sentinel(["inspect", "/nonexistent/model.safetensors"])
        XCTAssertEqual(missing.status, 74)
    }

    func testInspectListsTensorsOffsetsAndStats() throws {
        let model = try Fixtures.miniLM()
        let r = try Fixtures.sentinel(["inspect", model, "--json", "--stats", "--tensor", "embeddings.LayerNorm.weight"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let doc = try JSONValue.parse(r.stdout)
        XCTAssertEqual(doc["format"]?.stringValue, "safetensors")
        XCTAssertEqual(doc["tensor_count"]?.intValue, 104)
        XCTAssertEqual(doc["header_length"]?.intValue, 11408)
        XCTAssertEqual(doc["config"]?["hidden_size"]?.intValue, 384)
        XCTAssertEqual(doc["tokenizer"]?["vocab_size"]?.intValue, 30522)
        XCTAssertTrue(doc["unknown_files"]?.arrayValue?.contains(.string("modules.json")) ?? false)
        let t = try XCTUnwrap(doc["tensors"]?.arrayValue?.first)
        XCTAssertEqual(t["shape"], .array([.int(384)]))
        // Check the statistics against a direct computation over the same bytes.
        let file = try SafeTensorsFile(path: model + "/model.safetensors")
        let info = try XCTUnwrap(file.tensor(named: "embeddings.LayerNorm.weight"))
        XCTAssertEqual(t["byte_offset"]?.intValue, file.dataStart + info.dataOffsets.lowerBound)
        let values = file.bytes(of: info).bindMemory(to: Float.self).map(Double.init)
        let mean = values.reduce(0, +) / Double(values.count)
        XCTAssertEqual(try XCTUnwrap(t["stats"]?["mean"]?.doubleValue), mean, accuracy: 1e-9)
        XCTAssertEqual(t["stats"]?["max"]?.doubleValue, values.max())
        XCTAssertEqual(t["stats"]?["nan"]?.intValue, 0)
    }

    /// Killing a conversion part way leaves no output directory behind.
    func testInterruptedConversionLeavesNoOutput() throws {
        let model = try Fixtures.miniLM()
        let tmp = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        for signal in [SIGTERM, SIGINT, SIGKILL] {
            let out = tmp + "/out"
            let p = Process()
            p.executableURL = URL(fileURLWithPath: Fixtures.sentinelBinary)
            p.arguments = ["convert", "--scheme", "seed", model, "--output", out, "--shuffle"]
            p.environment = ["SENTINEL_KEY": "k"]
            p.standardError = FileHandle.nullDevice
            p.standardOutput = FileHandle.nullDevice
            try p.run()
            // Wait until the partial directory exists, then interrupt.
            let partial = tmp + "/.out.sentinel-partial.\(p.processIdentifier)"
            let deadline = Date().addingTimeInterval(20)
            while !FileManager.default.fileExists(atPath: partial) && p.isRunning && Date() < deadline { usleep(500) }
            XCTAssertTrue(p.isRunning, "conversion finished before it could be interrupted")
            kill(p.processIdentifier, signal)
            p.waitUntilExit()
            XCTAssertNotEqual(p.terminationStatus, 0)
            XCTAssertFalse(FileManager.default.fileExists(atPath: out), "signal \(signal) left \(out)")
            if signal != SIGKILL {
                XCTAssertFalse(FileManager.default.fileExists(atPath: partial), "signal \(signal) left \(partial)")
            } else {
                // A killed process cannot clean up; the next run removes its leftovers.
                let again = try Fixtures.sentinel(["convert", "--scheme", "seed", model, "--output", out], environment: ["SENTINEL_KEY": "k"])
                XCTAssertEqual(again.status, 0, again.stderr)
                XCTAssertFalse(FileManager.default.fileExists(atPath: partial))
                XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: tmp).sorted(), ["out"])
            }
        }
    }
}
