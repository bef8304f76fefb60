import Foundation
import SentinelTestSupport
import XCTest

/// Replays every input committed under `Tests/Fuzz/Regressions/NAME/` (crashes and slow inputs found by the
/// libFuzzer harnesses, `Tests/Fuzz/README.md`) through harness NAME, the same code the fuzzer ran: each must
/// end with a typed error or a valid parse, neither trap nor hang. A trap would end the test process, which
/// XCTest reports as a failure naming this test; the per-input time is printed for the slow-input cases.
final class FuzzRegressionTests: XCTestCase {
    static let regressions = Fixtures.packageRoot + "/Tests/Fuzz/Regressions"

    override func setUpWithError() throws {
        FuzzInput.shared = Fixtures.shared
        FuzzInput.miniLM = try Fixtures.miniLM()
    }

    func testEveryHarnessHasAFolderAndEveryFolderAHarness() throws {
        let folders = try FileManager.default.contentsOfDirectory(atPath: Self.regressions).filter { !$0.hasPrefix(".") && $0 != "README.md" }
        for f in folders { XCTAssertTrue(Harness.names.contains(f), "Regressions/\(f) names no harness") }
    }

    func testCommittedRegressionInputsEndCleanly() throws {
        var replayed = 0
        for name in Harness.names {
            let dir = Self.regressions + "/" + name
            guard let files = try? FileManager.default.contentsOfDirectory(atPath: dir) else { continue }
            for file in files.sorted() where !file.hasPrefix(".") && file != "README.md" {
                let data = try Data(contentsOf: URL(fileURLWithPath: dir + "/" + file))
                let start = Date()
                data.withUnsafeBytes { Harness.run(name, $0) }
                let seconds = Date().timeIntervalSince(start)
                if seconds > 1 { print("\(name)/\(file): \(String(format: "%.2f", seconds)) s") }
                replayed += 1
            }
        }
        XCTAssertGreaterThan(replayed, 0, "no regression input under \(Self.regressions)")
    }

    /// Each harness on a few valid fixtures: what they parse must be read without findings, so that a harness
    /// that cannot load its own tokenizer or reads nothing is noticed here rather than during a fuzzing run.
    func testHarnessesRunOnTheirSeedFixtures() throws {
        func run(_ name: String, _ path: String) throws {
            let data = try Data(contentsOf: URL(fileURLWithPath: path))
            data.withUnsafeBytes { Harness.run(name, $0) }
        }
        try run("FuzzSafeTensors", Fixtures.fixture("safetensors/s01_all_dtypes.safetensors"))
        try run("FuzzTorchZip", Fixtures.fixture("torch/t01_simple_state_dict.pt"))
        try run("FuzzTorchLegacy", Fixtures.fixture("torch/t07_legacy_format.pt"))
        try run("FuzzPickle", Fixtures.fixture("torch/t07_legacy_format.pt"))
        try run("FuzzJSON", Fixtures.fixture("roberta/model/config.json"))
        try run("FuzzTokenizerJSON", Fixtures.fixture("roberta/model/tokenizer.json"))
        for name in ["FuzzWordPiece", "FuzzByteLevelBPE", "FuzzUnigram"] {
            Data("Hello, world!\tÇa va? 東京 [MASK]".utf8).withUnsafeBytes { Harness.run(name, $0) }
        }
    }
}
