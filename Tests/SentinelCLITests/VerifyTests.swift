import Foundation
import SentinelCore
import SentinelFormats
import SentinelTestSupport
import XCTest

/// `sentinel verify` passes on Sentinel's own conversion of MiniLM and fails, with the reason, when the
/// adapted model is tampered with or the key is wrong.
final class VerifyTests: XCTestCase {
    let env: [String: String?] = ["SENTINEL_KEY": "llm123"]

    private func checks(_ r: RunResult) throws -> [String: JSONValue] {
        let doc = try JSONValue.parse(r.stdout)
        return Dictionary(uniqueKeysWithValues: (doc["checks"]?.arrayValue ?? []).map { ($0["name"]?.stringValue ?? "", $0) })
    }

    func testVerifyPassesAndCatchesTampering() throws {
        let model = try Fixtures.miniLM()
        let tmp = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        let adapted = tmp + "/adapted"
        let c = try Fixtures.sentinel(["convert", "--scheme", "seed", model, "--output", adapted, "--shuffle"], environment: env)
        XCTAssertEqual(c.status, 0, c.stderr)

        let ok = try Fixtures.sentinel(["verify", adapted, "--original", model, "--json"], environment: env)
        XCTAssertEqual(ok.status, 0, ok.stderr)
        var result = try checks(ok)
        XCTAssertEqual(result.count, 6)  // manifest, source, vocabulary, tensors, embeddings, forward
        XCTAssertTrue(result.values.allSatisfy { $0["passed"]?.boolValue == true })
        XCTAssertEqual(result["tensors"]?["identical"]?.intValue, 103)
        XCTAssertEqual(result["vocabulary"]?["hashed_tokens_found"]?.intValue, 30517)
        let delta = try XCTUnwrap(result["forward"]?["max_abs_diff_last_hidden_state"]?.doubleValue)
        XCTAssertLessThan(delta, 1e-4)
        XCTAssertGreaterThan(try XCTUnwrap(result["forward"]?["adapted_model_on_plain_ids_max_abs_diff"]?.doubleValue), 0.1)

        // One embedding row altered: the embedding check fails and names one row.
        let weights = try SafeTensorsFile(path: adapted + "/model.safetensors")
        let row = try XCTUnwrap(weights.tensor(named: "embeddings.word_embeddings.weight"))
        let offset = weights.dataStart + row.dataOffsets.lowerBound + 2000 * 384 * 4
        try FileManager.default.copyItem(atPath: adapted, toPath: tmp + "/altered")
        let handle = try XCTUnwrap(FileHandle(forUpdatingAtPath: tmp + "/altered/model.safetensors"))
        try handle.seek(toOffset: UInt64(offset))
        try handle.write(contentsOf: withUnsafeBytes(of: Float(0.75)) { Data($0) })
        try handle.close()
        let altered = try Fixtures.sentinel(["verify", tmp + "/altered", "--original", model, "--json"], environment: env)
        XCTAssertEqual(altered.status, 1)
        result = try checks(altered)
        XCTAssertEqual(result["embeddings"]?["passed"]?.boolValue, false)
        XCTAssertEqual(result["embeddings"]?["rows_differing"]?.intValue, 1)
        XCTAssertEqual(result["tensors"]?["passed"]?.boolValue, true)

        // Two tensors of the same shape swapped: the tensor check fails and names them.
        try FileManager.default.copyItem(atPath: adapted, toPath: tmp + "/swapped")
        let q = "encoder.layer.0.attention.self.query.weight", k = "encoder.layer.0.attention.self.key.weight"
        let items = weights.entries.map { e -> SafeTensorsWriter.Item in
            let source = e.name == q ? k : e.name == k ? q : e.name
            return SafeTensorsWriter.Item(entry: e) { sink in try weights.withBytes(of: source) { try sink($0) } }
        }
        try SafeTensorsWriter.write(items, metadata: weights.metadata, to: tmp + "/swapped/model.safetensors")
        let swapped = try Fixtures.sentinel(["verify", tmp + "/swapped", "--original", model, "--json"], environment: env)
        XCTAssertEqual(swapped.status, 1)
        result = try checks(swapped)
        XCTAssertEqual(result["tensors"]?["passed"]?.boolValue, false)
        XCTAssertEqual(Set(result["tensors"]?["changed"]?.arrayValue?.compactMap(\.stringValue) ?? []), [q, k])
        XCTAssertEqual(result["forward"]?["passed"]?.boolValue, false)

        // The wrong key: the vocabulary check says the key does not match.
        let wrong = try Fixtures.sentinel(["verify", adapted, "--original", model, "--json"], environment: ["SENTINEL_KEY": "llm124"])
        XCTAssertEqual(wrong.status, 1)
        result = try checks(wrong)
        XCTAssertEqual(result["vocabulary"]?["passed"]?.boolValue, false)
        XCTAssertEqual(result["vocabulary"]?["hashed_tokens_found"]?.intValue, 0)
        XCTAssertFalse(wrong.stdout.contains("llm124") || wrong.stderr.contains("llm124"))
    }
}
