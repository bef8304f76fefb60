import Foundation
import SentinelCore
import SentinelTestSupport
import XCTest

/// What `sentinel convert` and `sentinel encrypt` write loads and runs in HuggingFace transformers, checked by
/// `Samples/interop/check.py` in the venv of `Samples/interop/setup.sh` (torch CPU, transformers 5.24): MiniLM (BERT)
/// and the synthetic RoBERTa load with no missing or unexpected key, the adapted tokenizer maps `encrypt`'s digests to
/// the adapted ids, the adapted model on them equals the original on plain ids within 1e-4, no plaintext vocabulary or
/// merges are in the adapted directory, and the `--format pytorch` output loads with `torch.load(weights_only=True)`.
/// `Samples/test.sh` creates the venv; without it the test fails, unless `SENTINEL_INTEROP=0` skips it on purpose.
final class InteropTests: XCTestCase {
    /// The venv's python: `$SENTINEL_INTEROP_PYTHON`, else `Samples/.cache/interop-venv/bin/python`.
    static var python: String {
        ProcessInfo.processInfo.environment["SENTINEL_INTEROP_PYTHON"] ?? Fixtures.packageRoot + "/Samples/.cache/interop-venv/bin/python"
    }

    func testConvertedModelsLoadAndRunInTransformers() throws {
        // Skipped only when asked (SENTINEL_INTEROP=0); otherwise a missing venv is a failure, not a silent pass.
        if ProcessInfo.processInfo.environment["SENTINEL_INTEROP"] == "0" { throw XCTSkip("SENTINEL_INTEROP=0") }
        guard FileManager.default.isExecutableFile(atPath: Self.python) else {
            return XCTFail("no interop venv at \(Self.python): run Samples/interop/setup.sh (or set SENTINEL_INTEROP=0 to skip)")
        }
        _ = try Fixtures.miniLM()
        XCTAssertNil(Fixtures.unpackError)
        let work = try Fixtures.temporaryDirectory("sentinel-interop")
        defer { try? FileManager.default.removeItem(atPath: work) }
        let r = try Fixtures.run(
            Self.python,
            [Fixtures.packageRoot + "/Samples/interop/check.py", "--sentinel", Fixtures.sentinelBinary, "--work", work, "--json"],
            environment: ["SENTINEL_KEY": nil])
        let report = try XCTUnwrap(try? JSONValue.parse(r.stdout), "check.py (status \(r.status)) printed no report: \(r.stderr)")
        let models = try XCTUnwrap(report["models"], r.stderr)
        for name in ["minilm", "roberta", "xlmr"] {
            let checks = try XCTUnwrap(models[name]?["checks"]?.arrayValue, name)
            XCTAssertEqual(checks.count, 13, "\(name): \(checks.map { $0["check"]?.stringValue ?? "" })")
            for c in checks {
                XCTAssertEqual(c["ok"]?.boolValue, true, "\(name): \(c["check"]?.stringValue ?? ""): \(c["detail"]?.serialized() ?? "")")
            }
            let forward = try XCTUnwrap(checks.first { $0["check"]?.stringValue?.hasPrefix("forward") == true }?["detail"]?["max_abs_diff"])
            XCTAssertLessThanOrEqual(try XCTUnwrap(forward["last_hidden_state"]?.doubleValue), 1e-4, name)
        }
    }
}
