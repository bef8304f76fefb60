import Foundation
import SentinelCore
import SentinelFormats
import SentinelTestSupport
import XCTest

/// Unix habits (issue 9, part 4): a closed pipe ends a listing quietly, `--output -` and `--output /dev/null`
/// work where one file is written (and never replace the device), bench defaults do not depend on the current
/// directory, text listings end with a newline. No test here creates, replaces or removes anything outside its
/// own temporary directory.
final class UnixHabitsCLITests: XCTestCase {
    let env: [String: String?] = ["SENTINEL_KEY": "llm123"]

    /// Runs a bash script with `$S` the sentinel executable and `$M` the MiniLM directory.
    private func bash(_ script: String, environment: [String: String?] = [:]) throws -> RunResult {
        var e = environment
        e["S"] = Fixtures.sentinelBinary
        e["M"] = try Fixtures.miniLM()
        return try Fixtures.run("/bin/bash", ["-c", "set -o pipefail; " + script], environment: e)
    }

    private func deviceIdentity(_ path: String) -> (mode: mode_t, rdev: dev_t, ino: ino_t)? {
        var st = stat()
        guard lstat(path, &st) == 0 else { return nil }
        return (st.st_mode, st.st_rdev, st.st_ino)
    }

    func testVocabListingIntoAClosedPipeExitsQuietly() throws {
        let tmp = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        let c = try Fixtures.sentinel(
            ["convert", "--scheme", "seed", try Fixtures.miniLM(), "--output", tmp + "/adapted", "--shuffle"], environment: env)
        XCTAssertEqual(c.status, 0, c.stderr)
        // 30,522 lines (over 1.5 MB) into `head -1`, which exits after the first: sentinel gets EPIPE.
        let r = try bash("\"$S\" vocab \"$T\" --all | head -1", environment: ["T": tmp + "/adapted"])
        XCTAssertEqual(r.status, 0, r.stderr)  // pipefail: sentinel's status too
        XCTAssertEqual(r.stdout, "token\tdigest\toriginal_id\tadapted_id\n")
        XCTAssertEqual(r.stderr, "")
    }

    func testOutputToStandardOutputAndDevNull() throws {
        let tmp = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        let before = try XCTUnwrap(deviceIdentity("/dev/null"))
        XCTAssertEqual(before.mode & S_IFMT, S_IFCHR)
        let expectedSHA = try XCTUnwrap(Fixtures.json("safetensors/s05_minilm_model.safetensors.expected.json")["file_sha256"]?.stringValue)

        // export to stdout: the same bytes as the original safetensors file (values unchanged, metadata kept).
        let piped = try bash("\"$S\" export \"$M/model.safetensors\" --format safetensors --output - | sha256sum")
        XCTAssertEqual(piped.status, 0, piped.stderr)
        XCTAssertEqual(piped.stdout.split(separator: " ").first.map(String.init), expectedSHA)
        XCTAssertTrue(piped.stderr.contains("exported 104 tensors"), piped.stderr)
        // A torch checkpoint on stdout reads back with the same tensors.
        let torch = try bash("\"$S\" export \"$M/model.safetensors\" --format pytorch --output - > \"$T/p.bin\"", environment: ["T": tmp])
        XCTAssertEqual(torch.status, 0, torch.stderr)
        let back = try openTensorArchive(path: tmp + "/p.bin")
        XCTAssertEqual(back.entries.count, 104)
        let original = try SafeTensorsFile(path: try Fixtures.miniLM() + "/model.safetensors")
        let name = "encoder.layer.5.output.dense.weight"
        XCTAssertTrue(try back.withBytes(of: name) { a in try original.withBytes(of: name) { b in a.elementsEqual(b) } })

        // /dev/null: written in place, no --force needed, and still the same device afterwards.
        for arguments in [
            ["export", try Fixtures.miniLM() + "/model.safetensors", "--format", "pytorch", "--output", "/dev/null"],
            ["embed", try Fixtures.miniLM(), "--output", "/dev/null"],
            ["encrypt", try Fixtures.miniLM(), "--output", "/dev/null"],
        ] {
            let r = try Fixtures.sentinel(arguments, environment: env, stdin: Data("Hello, world!\n".utf8))
            XCTAssertEqual(r.status, 0, "\(arguments[0]): \(r.stderr)")
            let after = try XCTUnwrap(deviceIdentity("/dev/null"))
            XCTAssertEqual(after.mode, before.mode, arguments[0])
            XCTAssertEqual(after.rdev, before.rdev, arguments[0])
            XCTAssertEqual(after.ino, before.ino, arguments[0])
        }

        // embed --output -: the safetensors file on stdout, byte for byte what --output FILE writes.
        let input = tmp + "/in.txt"
        try "Hello, world!\nThe quick brown fox jumps over the lazy dog.\n".write(toFile: input, atomically: true, encoding: .utf8)
        let file = try Fixtures.sentinel(["embed", try Fixtures.miniLM(), "--input", input, "--output", tmp + "/e.safetensors"])
        XCTAssertEqual(file.status, 0, file.stderr)
        let stdout = try bash("\"$S\" embed \"$M\" --input \"$T/in.txt\" --output - > \"$T/e2.safetensors\"", environment: ["T": tmp])
        XCTAssertEqual(stdout.status, 0, stdout.stderr)
        XCTAssertEqual(try Fixtures.sha256(file: tmp + "/e2.safetensors"), try Fixtures.sha256(file: tmp + "/e.safetensors"))
        let ids = try SafeTensorsFile(path: tmp + "/e2.safetensors").withBytes(of: "input_ids") { Array($0.bindMemory(to: Int64.self)) }
        // [CLS] hello , world ! [SEP] padded to the second row's 12 tokens (wordpiece_cases: hello 7592, "," 1010, world 2088, ! 999).
        XCTAssertEqual(Array(ids.prefix(6)), [101, 7592, 1010, 2088, 999, 102])
        // --json cannot share stdout with the data.
        XCTAssertEqual(try Fixtures.sentinel(["embed", try Fixtures.miniLM(), "--output", "-", "--json"]).status, 64)
    }

    func testBenchDefaultsDoNotDependOnTheCurrentDirectory() throws {
        // From / neither Samples/.cache nor ../shared exists relative to the current directory.
        let r = try bash("cd / && \"$S\" bench-tokenize \"$M\" --repeats 1 --threads 1 --json")
        XCTAssertEqual(r.status, 0, r.stderr)
        let doc = try JSONValue.parse(r.stdout)
        let data = try XCTUnwrap(doc["data"]?.stringValue)
        XCTAssertTrue(data.hasPrefix("/") && data.hasSuffix("data/conll2003/train.txt"), data)
        // CoNLL-2003 train has 14,041 sentences (../shared/data/conll2003).
        XCTAssertEqual(doc["sentences"]?.intValue, 14041)
    }

    func testTextListingsEndWithANewline() throws {
        let path = Fixtures.fixture("torch/t01_simple_state_dict.pt")
        let tensors = try XCTUnwrap(Fixtures.json("torch/t01_simple_state_dict.pt.expected.json")["tensors"]?.arrayValue)
        let r = try Fixtures.sentinel(["inspect", path])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.hasSuffix("]\n"), String(r.stdout.suffix(40)))
        let lines = r.stdout.split(separator: "\n", omittingEmptySubsequences: false)
        XCTAssertEqual(lines.count, 1 + tensors.count + 1)  // header, one line per tensor, "" after the final newline
        for t in tensors { XCTAssertTrue(r.stdout.contains((t["key"]?.stringValue ?? "?") + " "), t["key"]?.stringValue ?? "") }
    }
}
