import Foundation
import SentinelCore
import SentinelTestSupport
import XCTest

@testable import SentinelFormats

/// Issue 12, item 2: every valid safetensors and torch fixture (and the MiniLM sample), truncated at every
/// byte offset (a dense sample for the 90 MB sample) and with each header byte flipped, gives a typed
/// ``InputError`` or a valid parse whose every tensor can be read: never a trap, never another error. Run in
/// process on copies in memory; the slowest case is printed (a hang would stop the suite).
final class MutationTests: XCTestCase {
    /// The valid files: shared fixtures (`s*`, `t*`) and Sentinel's own valid vectors.
    static func validFiles() throws -> [String] {
        let st = Fixtures.fixture("safetensors"), torch = Fixtures.fixture("torch")
        let sv = Fixtures.packageRoot + "/Formats/safetensors-vectors", tv = Fixtures.packageRoot + "/Formats/torch-vectors"
        var files: [String] = []
        for (dir, prefix) in [(st, "s"), (torch, "t")] {
            files += try FileManager.default.contentsOfDirectory(atPath: dir).filter {
                $0.hasPrefix(prefix) && ($0.hasSuffix(".safetensors") || $0.hasSuffix(".pt"))
            }.sorted().map { dir + "/" + $0 }
        }
        for (dir, key) in [(sv, "expected"), (tv, "expected")] {
            let cases = try JSONValue.read(file: dir + "/expected.json")["cases"]?.arrayValue ?? []
            // (tv12 is valid but for its CRC, which `exercise` checks.)
            files += cases.filter { $0[key]?.stringValue == "valid" && $0["crc"] == nil }.compactMap { $0["file"]?.stringValue }.map {
                dir + "/" + $0
            }
        }
        return files
    }

    struct Outcome {
        var valid = 0, refused = 0
        var codes: [String: Int] = [:]
        var slowest = (seconds: 0.0, what: "")
    }

    /// Opens `bytes` as a weights file the way `openTensorArchive` does and reads every tensor.
    static func exercise(_ bytes: UnsafeRawBufferPointer, path: String) throws {
        if bytes.count >= 2 && bytes[0] == 0x50 && bytes[1] == 0x4B || bytes.count > 0 && bytes[0] == 0x80 && !path.hasSuffix(".safetensors") {
            let c = try TorchCheckpoint(file: MappedFile(copying: bytes, path: path))
            _ = c.describeText()
            for e in c.entries { _ = try c.withBytes(of: e.name) { CRC32.of($0) } }
            try c.checkRecordCRCs()
        } else {
            let (n, _, tensors) = try SafeTensorsFile.parse(bytes, path: path)
            // Every tensor's bytes lie inside the buffer (a view out of bounds traps here): touch the first and last.
            for t in tensors {
                let view = UnsafeRawBufferPointer(rebasing: bytes[(8 + n + t.dataOffsets.lowerBound)..<(8 + n + t.dataOffsets.upperBound)])
                if let first = view.first, let last = view.last { _ = first &+ last }
            }
        }
    }

    func run(_ bytes: UnsafeRawBufferPointer, path: String, what: String, into outcome: inout Outcome) {
        let start = monotonicSeconds()
        do {
            try Self.exercise(bytes, path: path)
            outcome.valid += 1
        } catch let e as InputError {
            outcome.refused += 1
            outcome.codes[e.code.rawValue, default: 0] += 1
            XCTAssertFalse(e.message.isEmpty, what)
        } catch {
            XCTFail("\(what): not an InputError: \(error)")
        }
        let t = monotonicSeconds() - start
        if t > outcome.slowest.seconds { outcome.slowest = (t, what) }
    }

    /// The byte ranges of a file that are structure rather than tensor data: a safetensors header, or every
    /// byte of a torch file outside its storage records.
    static func structureRanges(_ bytes: UnsafeRawBufferPointer, path: String) throws -> [Range<Int>] {
        if path.hasSuffix(".safetensors") {
            let (n, _, _) = try SafeTensorsFile.parse(bytes, path: path)
            return [0..<(8 + n)]
        }
        guard bytes[0] == 0x50 else { return [0..<bytes.count] }
        let zip = try ZipReader(file: MappedFile(copying: bytes, path: path))
        var ranges: [Range<Int>] = []
        var at = 0
        for e in zip.entries.sorted(by: { $0.dataStart < $1.dataStart }) where e.name.contains("/data/") {
            ranges.append(at..<e.dataStart)
            at = e.dataStart + e.compressedSize
        }
        ranges.append(at..<bytes.count)
        return ranges
    }

    /// Offsets to try in `range`: all of them for small files, every `stride`-th (and the ends) for the big sample.
    static func offsets(_ range: Range<Int>, dense: Bool) -> [Int] {
        guard !dense, range.count > 4096 else { return Array(range) }
        let step = max(1, range.count / 600)
        return Array(Swift.stride(from: range.lowerBound, to: range.upperBound, by: step)) + [range.upperBound - 1]
    }

    func mutate(_ path: String, dense: Bool, outcome: inout Outcome) throws {
        let file = try MappedFile(path: path)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: file.bytes.count, alignment: 64)
        defer { buffer.deallocate() }
        buffer.copyMemory(from: file.bytes)
        let bytes = UnsafeRawBufferPointer(buffer)
        let name = (path as NSString).lastPathComponent
        // The file itself is valid.
        XCTAssertNoThrow(try Self.exercise(bytes, path: path), name)
        let structure = try Self.structureRanges(bytes, path: path)
        // Truncations: every offset of the structure, and a sample of the data.
        var cuts: [Int] = []
        for r in structure { cuts += Self.offsets(r, dense: dense) }
        cuts += Self.offsets(0..<bytes.count, dense: false).filter { c in !structure.contains { $0.contains(c) } }
        for k in Set(cuts).sorted() {
            run(UnsafeRawBufferPointer(rebasing: bytes[0..<k]), path: path, what: "\(name) cut at \(k)", into: &outcome)
        }
        // Each structure byte flipped: the lowest bit of a safetensors header's JSON text (every bit would only
        // make it invalid UTF-8), otherwise all bits of even bytes (huge lengths and counts) and the lowest bit of odd ones.
        let json = path.hasSuffix(".safetensors")
        for r in structure {
            // (The runs of `Z` that pad torch's local headers are skipped: flipping them only renames padding.)
            for i in Self.offsets(r, dense: dense)
            where !(buffer[i] == 0x5A && ((i > 0 && buffer[i - 1] == 0x5A) || (i + 1 < buffer.count && buffer[i + 1] == 0x5A))) {
                let mask: UInt8 = (json && i >= 8) || i % 2 == 1 ? 0x01 : 0xFF
                buffer[i] ^= mask
                run(bytes, path: path, what: "\(name) byte \(i) xor \(mask)", into: &outcome)
                buffer[i] ^= mask
            }
        }
    }

    func testFixturesTruncatedAndFlippedGiveTypedErrorsOrValidParses() throws {
        var outcome = Outcome()
        let files = try Self.validFiles()
        XCTAssertGreaterThan(files.count, 20)
        for path in files { try mutate(path, dense: true, outcome: &outcome) }
        print(
            "mutations of \(files.count) files: \(outcome.valid) valid parses, \(outcome.refused) typed errors \(outcome.codes.sorted { $0.key < $1.key }); slowest \(outcome.slowest)"
        )
        XCTAssertGreaterThan(outcome.refused, 10_000)
        XCTAssertGreaterThan(outcome.valid, 100)
    }

    /// The 90 MB MiniLM sample: a sample of its header offsets and of its data.
    func testMiniLMSampleTruncatedAndFlipped() throws {
        var outcome = Outcome()
        try mutate(try Paths.miniLM() + "/model.safetensors", dense: false, outcome: &outcome)
        print(
            "mutations of MiniLM: \(outcome.valid) valid parses, \(outcome.refused) typed errors \(outcome.codes.sorted { $0.key < $1.key }); slowest \(outcome.slowest)"
        )
        XCTAssertGreaterThan(outcome.refused, 1_000)
    }
}
