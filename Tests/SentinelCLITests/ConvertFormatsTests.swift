import Foundation
import SentinelScheme
import SentinelCore
import SentinelTestSupport
import SentinelFormats
import XCTest

/// `convert` gives the same adapted model whatever format the input weights are in, and writes every format.
final class ConvertFormatsTests: XCTestCase {
    private func tensorDigests(_ path: String) throws -> [String: String] {
        let archive = try openTensorArchive(path: path)
        var out: [String: String] = [:]
        for e in archive.entries {
            out[e.name] = try archive.withBytes(of: e.name) { "\(e.dtype) \(e.shape) " + SHA256Stream.hex($0) }
        }
        return out
    }

    /// A copy of MiniLM's tokenizer and config files with the weights exported by `sentinel export`.
    private func modelCopy(_ model: String, in tmp: String, name: String, exportArgs: [String]) throws -> String {
        let dir = tmp + "/" + name
        // A sharded export creates its directory; a single file goes into an existing one.
        if !exportArgs.contains("--max-shard-size") {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        }
        let r = try Fixtures.sentinel(["export", model + "/model.safetensors"] + exportArgs.map { $0.replacingOccurrences(of: "DIR", with: dir) })
        XCTAssertEqual(r.status, 0, r.stderr)
        for f in ["config.json", "vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"] {
            try FileManager.default.copyItem(atPath: model + "/" + f, toPath: dir + "/" + f)
        }
        return dir
    }

    func testTorchAndShardedInputsGiveTheSameAdaptedModel() throws {
        let model = try Fixtures.miniLM()
        let tmp = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        let env: [String: String?] = ["SENTINEL_KEY": "llm123"]
        let torchDir = try modelCopy(model, in: tmp, name: "torch", exportArgs: ["--output", "DIR/pytorch_model.bin", "--format", "pytorch"])
        let shardDir = try modelCopy(
            model, in: tmp, name: "shards", exportArgs: ["--output", "DIR", "--format", "safetensors", "--max-shard-size", "30MB"])
        XCTAssertTrue(FileManager.default.fileExists(atPath: shardDir + "/model.safetensors.index.json"))

        for (input, out) in [(model, "ref"), (torchDir, "from-torch"), (shardDir, "from-shards")] {
            let r = try Fixtures.sentinel(["convert", "--scheme", "seed", input, "--output", tmp + "/" + out, "--shuffle"], environment: env)
            XCTAssertEqual(r.status, 0, r.stderr)
        }
        let reference = try tensorDigests(tmp + "/ref/model.safetensors")
        XCTAssertEqual(reference.count, 104)
        XCTAssertEqual(try tensorDigests(tmp + "/from-torch/model.safetensors"), reference)
        // A sharded input is written sharded, with an index, and holds the same tensors.
        XCTAssertTrue(FileManager.default.fileExists(atPath: tmp + "/from-shards/model.safetensors.index.json"))
        XCTAssertEqual(try tensorDigests(tmp + "/from-shards/model.safetensors.index.json"), reference)
        for f in ["vocab.txt", "tokenizer.json", "config.json"] {
            XCTAssertEqual(try Fixtures.sha256(file: tmp + "/from-torch/" + f), try Fixtures.sha256(file: tmp + "/ref/" + f), f)
            XCTAssertEqual(try Fixtures.sha256(file: tmp + "/from-shards/" + f), try Fixtures.sha256(file: tmp + "/ref/" + f), f)
        }

        // Writing pytorch_model.bin: the same tensors, readable back.
        let r = try Fixtures.sentinel(
            ["convert", "--scheme", "seed", model, "--output", tmp + "/as-torch", "--shuffle", "--format", "pytorch"], environment: env)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(try TensorFormat.detect(path: tmp + "/as-torch/pytorch_model.bin"), .pytorchZip)
        XCTAssertEqual(try tensorDigests(tmp + "/as-torch/pytorch_model.bin"), reference)

        // inspect shows torch files with storage keys.
        let inspect = try Fixtures.sentinel(["inspect", tmp + "/as-torch", "--json"])
        XCTAssertEqual(inspect.status, 0, inspect.stderr)
        XCTAssertTrue(inspect.stdout.contains("\"storage"), String(inspect.stdout.prefix(400)))
    }
}
