import Foundation
import XCTest
import SentinelCore
@testable import SentinelFormats

final class ShardAndCLITests: XCTestCase {
    /// Sharded output in both formats reads back through its index with every tensor intact.
    func testShardedWriteAndReadBothFormats() throws {
        let source = try TorchCheckpoint(path: Paths.torchFixtures + "/t01_simple_state_dict.pt")
        let expected = try loadJSON(Paths.torchFixtures + "/t01_simple_state_dict.pt.expected.json")
        let digests = Dictionary(uniqueKeysWithValues: expected["tensors"]!.arrayValue!.map { ($0["key"]!.stringValue!, $0["sha256"]!.stringValue!) })
        for format in WeightsFormat.allCases {
            let dir = try Paths.temporaryDirectory(self)
            let items = source.entries.map { SafeTensorsWriter.Item.copy($0, from: source) }
            let files = try ShardedWriter.write(items, format: format, maxShardBytes: 1_000, directory: dir)
            let index = format.fileName + ".index.json"
            XCTAssertEqual(files.last, index)
            // word_embeddings (1600 bytes) is over the limit and gets a shard of its own.
            XCTAssertEqual(files.first, format.shardName(1, of: files.count - 1))
            let json = try loadJSON(dir + "/" + index)
            XCTAssertEqual(json["metadata"]?["total_size"]?.intValue, source.entries.reduce(0) { $0 + $1.byteCount })
            XCTAssertEqual(json["weight_map"]?["embeddings.word_embeddings.weight"]?.stringValue, format.shardName(1, of: files.count - 1))
            let sharded = try openTensorArchive(path: dir + "/" + index)
            XCTAssertEqual(sharded.formatName, format == .pytorch ? "sharded-pytorch-zip" : "sharded-safetensors")
            XCTAssertEqual(Set(sharded.entries.map(\.name)), Set(source.entries.map(\.name)))
            for e in sharded.entries {
                XCTAssertEqual(try sharded.withBytes(of: e.name) { SHA256.hex($0) }, digests[e.name], "\(format) \(e.name)")
                XCTAssertLessThanOrEqual(e.byteCount, max(1_000, e.byteCount))
            }
            // One shard when everything fits: a plain file, no index.
            let single = try Paths.temporaryDirectory(self)
            XCTAssertEqual(try ShardedWriter.write(items, format: format, maxShardBytes: 1 << 30, directory: single), [format.fileName])
        }
    }

    func testShardedIndexErrors() throws {
        let dir = try Paths.temporaryDirectory(self)
        let source = try TorchCheckpoint(path: Paths.torchFixtures + "/t05_scalar_and_empty.pt")
        try TorchWriter.write(archive: source, to: dir + "/a.bin")
        func index(_ map: String) throws -> String {
            let p = dir + "/x.index.json"
            try AtomicFile.write(to: p) { try $0.write("{\"weight_map\": {\(map)}}") }
            return p
        }
        let all = source.entries.map { "\"\($0.name)\": \"a.bin\"" }.joined(separator: ", ")
        XCTAssertEqual(try openTensorArchive(path: try index(all)).entries, source.entries)
        let missing = inputError { _ = try openTensorArchive(path: try index(all + ", \"ghost\": \"a.bin\"")) }
        XCTAssertEqual(missing?.code, .missing)
        XCTAssertEqual(missing?.key, "ghost")
        XCTAssertEqual(inputError { _ = try openTensorArchive(path: try index("\"scalar_f32\": \"a.bin\"")) }?.code, .invalidStructure)
        XCTAssertEqual(inputError { _ = try openTensorArchive(path: try index("\"scalar_f32\": \"../a.bin\"")) }?.code, .unsafe)
        XCTAssertEqual(inputError { _ = try openTensorArchive(path: try index("\"scalar_f32\": \"/etc/passwd\"")) }?.code, .unsafe)
    }

    // MARK: CLI

    /// The built `sentinel` binary (SENTINEL_BIN overrides).
    var sentinel: String {
        ProcessInfo.processInfo.environment["SENTINEL_BIN"] ?? Paths.root + "/.build/debug/sentinel"
    }

    func run(_ args: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: sentinel)
        p.arguments = args
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
    }

    func testExportRefusesEveryBrokenFixtureWithExit65() throws {
        XCTAssertTrue(FileManager.default.isExecutableFile(atPath: sentinel), "build the sentinel binary first (swift build)")
        let dir = try Paths.temporaryDirectory(self)
        let causes = [
            "m01_os_system_reduce.pt": "unsafe", "m02_builtins_eval.pt": "unsafe", "m03_truncated_data_pkl.pt": "truncated",
            "m04_short_storage_record.pt": "size_mismatch", "m05_missing_storage_record.pt": "missing",
            "m06_random_bytes.pt": "unknown_format",
        ]
        for (name, code) in causes {
            let r = try run(["export", Paths.torchFixtures + "/" + name, "--output", dir + "/out.safetensors", "--format", "safetensors", "--json"])
            XCTAssertEqual(r.status, 65, name)
            let json = try JSONValue.parse(r.stdout)
            XCTAssertEqual(json["error"]?["code"]?.stringValue, code, name)
            XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/out.safetensors"), name)
        }
    }

    /// Every safetensors dtype torch can store survives safetensors → pytorch → safetensors byte for byte
    /// (every tensor's bytes); F4 is refused by the torch writer; a safetensors input keeps its metadata.
    func testExportSafetensorsFixturesThroughPytorch() throws {
        let dir = try Paths.temporaryDirectory(self)
        let st = Paths.shared + "/fixtures/safetensors"
        var r = try run(["export", st + "/s01_all_dtypes.safetensors", "--output", dir + "/s01.bin", "--format", "pytorch"])
        XCTAssertEqual(r.status, 0, r.stderr)
        r = try run(["export", dir + "/s01.bin", "--output", dir + "/s01.safetensors", "--format", "safetensors"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let a = try MappedFile(path: st + "/s01_all_dtypes.safetensors"), b = try MappedFile(path: dir + "/s01.safetensors")
        // s01 has no __metadata__; the pytorch copy cannot carry one, so the way back writes {"format": "pt"}.
        let original = try SafeTensorsFile(file: a), back = try SafeTensorsFile(file: b)
        XCTAssertEqual(back.entries, original.entries)
        for e in original.entries {
            XCTAssertEqual(try back.withBytes(of: e.name) { Array($0) }, try original.withBytes(of: e.name) { Array($0) }, e.name)
        }
        XCTAssertEqual(back.metadata?.map { "\($0.0)=\($0.1)" }, ["format=pt"])

        r = try run(["export", st + "/s01b_exotic_dtypes.safetensors", "--output", dir + "/s01b.bin", "--format", "pytorch", "--json"])
        XCTAssertEqual(r.status, 65)
        XCTAssertEqual(try JSONValue.parse(r.stdout)["error"]?["key"]?.stringValue, "f4")

        r = try run(["export", st + "/s02_metadata.safetensors", "--output", dir + "/s02.safetensors", "--format", "safetensors"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let m = try SafeTensorsFile(path: dir + "/s02.safetensors").metadata,
            m0 = try SafeTensorsFile(path: st + "/s02_metadata.safetensors").metadata
        XCTAssertEqual(m?.map { "\($0.0)=\($0.1)" }, m0?.map { "\($0.0)=\($0.1)" })
    }

    func testExportTorchToSafetensorsAndBack() throws {
        let dir = try Paths.temporaryDirectory(self)
        let src = Paths.torchFixtures + "/t07_legacy_format.pt"
        var r = try run(["export", src, "--output", dir + "/m.safetensors", "--format", "safetensors", "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(try JSONValue.parse(r.stdout)["input_format"]?.stringValue, "pytorch-legacy")
        r = try run(["export", dir + "/m.safetensors", "--output", dir + "/pytorch_model.bin", "--format", "pytorch"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let back = try TorchCheckpoint(path: dir + "/pytorch_model.bin")
        XCTAssertEqual(back.recordPrefix, "pytorch_model")
        try assertFixtureDigests(back, "t07_legacy_format.pt")
        r = try run(["export", src, "--output", dir + "/x", "--format", "onnx"])
        XCTAssertEqual(r.status, 64)
    }
}
