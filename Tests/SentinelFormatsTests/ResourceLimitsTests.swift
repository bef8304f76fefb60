import Foundation
import SentinelCore
import SentinelTestSupport
import XCTest

@testable import SentinelFormats

/// Issue 12, items 3 and 8: the limits of `Formats/limits.md` not tested elsewhere, and the error catalogue
/// `Formats/errors.md` equal to `InputError.Code.all`.
final class ResourceLimitsTests: XCTestCase {
    /// Open MARKs over the limit.
    func testPickleMarkDepth() throws {
        var limits = PickleLimits()
        limits.maxMarkDepth = 10
        var u = RestrictedUnpickler(file: "x", limits: limits)
        let bytes: [UInt8] = [0x80, 0x02] + [UInt8](repeating: 0x28, count: 11) + [0x2E]
        let e = inputError { _ = try bytes.withUnsafeBytes { try u.load($0) } }
        XCTAssertEqual(e?.code, .outOfRange)
        XCTAssertTrue(e?.message.contains("more than 10 open MARKs") ?? false, "\(e!)")
    }

    /// JSON nested deeper than the tokener depth is refused as not JSON, not a crash.
    func testJSONNesting() throws {
        let deep = String(repeating: "[", count: 65) + String(repeating: "]", count: 65)
        XCTAssertThrowsError(try deep.utf8CString.withUnsafeBytes { try JSONValue.parse(UnsafeRawBufferPointer(rebasing: $0.dropLast())) })
        let ok = String(repeating: "[", count: 60) + String(repeating: "]", count: 60)
        XCTAssertNoThrow(try ok.utf8CString.withUnsafeBytes { try JSONValue.parse(UnsafeRawBufferPointer(rebasing: $0.dropLast())) })
    }

    /// A ZIP64 end record that claims 2,000,000 entries is refused from the count alone (nothing is reserved).
    func testZipEntryCountIsCapped() throws {
        var b: [UInt8] = [0x50, 0x4B, 0x03, 0x04] + [UInt8](repeating: 0, count: 26)
        func put(_ v: UInt64, _ n: Int) { for i in 0..<n { b.append(UInt8((v >> (8 * UInt64(i))) & 0xFF)) } }
        let z = b.count
        put(0x0606_4B50, 4)
        put(44, 8)
        put(0x2D, 2)
        put(0x2D, 2)
        put(0, 4)
        put(0, 4)
        put(2_000_000, 8)
        put(2_000_000, 8)
        put(0, 8)
        put(0, 8)
        put(0x0706_4B50, 4)
        put(0, 4)
        put(UInt64(z), 8)
        put(1, 4)
        put(0x0605_4B50, 4)
        put(0, 4)
        put(0xFFFF, 2)
        put(0xFFFF, 2)
        put(0xFFFF_FFFF, 4)
        put(0xFFFF_FFFF, 4)
        put(0, 2)
        let e = inputError { _ = try b.withUnsafeBytes { try ZipReader(file: MappedFile(copying: $0, path: "many.pt")) } }
        XCTAssertEqual(e?.code, .outOfRange)
        XCTAssertTrue(e?.message.contains("2000000 entries (limit 1000000)") ?? false, "\(e!)")
    }

    /// The codes of `Formats/errors.md`'s catalogue are exactly `InputError.Code.all`, in order, and unique.
    func testErrorCatalogueListsEveryCode() throws {
        let text = try String(contentsOfFile: Fixtures.packageRoot + "/Formats/errors.md", encoding: .utf8)
        let documented = text.split(separator: "\n").compactMap { line -> String? in
            guard line.hasPrefix("| `"), let end = line.dropFirst(3).firstIndex(of: "`") else { return nil }
            let code = String(line[line.index(line.startIndex, offsetBy: 3)..<end])
            return code.allSatisfy { $0.isLowercase || $0.isNumber || $0 == "_" } ? code : nil
        }
        // The first table lists outcomes (`InputError`, `OutputError`, …), not codes.
        XCTAssertEqual(documented, InputError.Code.all.map(\.rawValue))
        XCTAssertEqual(Set(InputError.Code.all).count, InputError.Code.all.count)
    }
}

/// The sharded index and torch text-record limits of `Formats/limits.md`.
final class IndexAndRecordLimitsTests: XCTestCase {
    /// 100,001 shards are refused from the index alone (no shard is opened), quickly: the shard names are a hash
    /// lookup (a linear search made this quadratic); an index over 64 MiB is refused before it is parsed.
    func testShardedIndexLimits() throws {
        let dir = try Paths.temporaryDirectory(self)
        var map: [(String, JSONValue)] = []
        for i in 0...ShardedArchive.maxShards { map.append(("t\(i)", .string("s\(i).safetensors"))) }
        try JSONValue.object([("weight_map", .object(map))]).serialized(.compact)
            .write(toFile: dir + "/model.safetensors.index.json", atomically: true, encoding: .utf8)
        var opened = 0
        let e = inputError {
            _ = try ShardedArchive(indexPath: dir + "/model.safetensors.index.json") { _ in
                opened += 1
                throw InputError(.missing, file: "x", "not reached")
            }
        }
        XCTAssertEqual(e?.code, .outOfRange)
        XCTAssertTrue(e?.message.contains("more than 100000 shards") ?? false, "\(e!)")
        XCTAssertEqual(opened, 0)

        let big = dir + "/big.index.json"
        XCTAssertTrue(FileManager.default.createFile(atPath: big, contents: Data("{}".utf8)))
        XCTAssertEqual(truncate(big, off_t(ShardedArchive.maxIndexBytes + 1)), 0)
        XCTAssertEqual(inputError { _ = try ShardedArchive(indexPath: big) { _ in fatalError() } }?.code, .headerTooLarge)
    }

    /// A `version` record of 5,000 bytes where torch writes a short text is refused before it is read.
    func testTextRecordCap() throws {
        let dir = try Paths.temporaryDirectory(self)
        try AtomicFile.write(to: dir + "/long.pt") { out in
            var z = TorchZipWriter(out: out)
            try z.add("archive/data.pkl", bytes: [0x80, 0x02, 0x7D, 0x2E])
            try z.add("archive/version", bytes: [UInt8](repeating: 0x33, count: 5000))
            try z.finish()
        }
        let e = inputError { _ = try TorchCheckpoint(path: dir + "/long.pt") }
        XCTAssertEqual(e?.code, .outOfRange)
        XCTAssertEqual(e?.key, "archive/version")
    }
}
