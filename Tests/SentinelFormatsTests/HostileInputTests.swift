import Foundation
import SentinelCore
import SentinelTestSupport
import XCTest

@testable import SentinelFormats

/// Issue 12, item 7: the defects found with public bug reports of other readers, each on a vector in
/// `Formats/torch-vectors` (real torch.save output and bytes derived from it, `make_vectors.py`) or
/// `Formats/safetensors-vectors`.
final class HostileInputTests: XCTestCase {
    static let torchVectors = Fixtures.packageRoot + "/Formats/torch-vectors/"

    func torchCases() throws -> [JSONValue] {
        try XCTUnwrap(try JSONValue.read(file: Self.torchVectors + "expected.json")["cases"]?.arrayValue)
    }

    /// Every vector: valid ones read with torch's values (sha256 of each tensor's bytes, shapes), the others
    /// refused with the documented code (and, where given, a message that names the real cause).
    func testTorchVectorsAreReadOrRefusedWithTheDocumentedCode() throws {
        let cases = try torchCases()
        XCTAssertEqual(cases.count, 17)
        for c in cases {
            let file = try XCTUnwrap(c["file"]?.stringValue), expected = try XCTUnwrap(c["expected"]?.stringValue)
            do {
                let archive = try openTensorArchive(path: Self.torchVectors + file)
                XCTAssertEqual(expected, "valid", "\(file) was accepted")
                let want = c["tensors"]?.arrayValue ?? []
                if c["tensors"] != nil { XCTAssertEqual(archive.entries.map(\.name), want.map { $0["name"]?.stringValue ?? "?" }, file) }
                for t in want {
                    let name = t["name"]?.stringValue ?? ""
                    XCTAssertEqual(archive.entry(named: name)?.shape, t["shape"]?.arrayValue?.compactMap(\.intValue), "\(file) \(name)")
                    XCTAssertEqual(try archive.withBytes(of: name) { SHA256Stream.hex($0) }, t["sha256"]?.stringValue, "\(file) \(name)")
                }
                // inspect's description walks every view: no trap on huge dimensions of empty tensors.
                if let torch = archive as? TorchCheckpoint { XCTAssertFalse(torch.describeText().isEmpty) }
            } catch let e as InputError {
                XCTAssertEqual(e.code.rawValue, expected, "\(file): \(e)")
                if let m = c["message"]?.stringValue { XCTAssertTrue(e.message.contains(m), "\(file): \(e.message)") }
            }
        }
    }

    /// torch's own ZIP64 layout (local sizes 0 with a data descriptor, ZIP64 extras in the local header, 64-bit
    /// descriptors, offsets from the central directory) reads exactly like the same checkpoint without it.
    func testZIP64AsTorchWritesItEqualsThePlainFile() throws {
        let plain = try TorchCheckpoint(path: Self.torchVectors + "tv00_base.pt")
        let zip64 = try TorchCheckpoint(path: Self.torchVectors + "tv01_zip64_as_torch.pt")
        XCTAssertEqual(zip64.entries, plain.entries)
        for e in plain.entries {
            XCTAssertEqual(try zip64.withBytes(of: e.name) { Array($0) }, try plain.withBytes(of: e.name) { Array($0) })
        }
        XCTAssertEqual(try zip64.checkRecordCRCs(), 8)
        // The stored records are views into the mapping (no copy), at torch's 64-byte alignment.
        for e in try XCTUnwrap(zip64.zipReader).entries {
            XCTAssertEqual(try XCTUnwrap(e.dataOffset, e.name) % 64, 0, e.name)
        }
    }

    /// The CRC-32 of stored records is checked on request (`inspect --stats`, `verify`).
    func testStoredRecordCRCIsChecked() throws {
        XCTAssertEqual(try TorchCheckpoint(path: Self.torchVectors + "tv00_base.pt").checkRecordCRCs(), 8)
        let damaged = try TorchCheckpoint(path: Self.torchVectors + "tv12_stored_crc_mismatch.pt")
        let e = inputError { try checkRecordChecksums(damaged) }
        XCTAssertEqual(e?.code, .checksumMismatch)
        XCTAssertEqual(e?.key, "archive/data/0")
        XCTAssertNotNil(e?.offset)
        // safetensors has no checksums: nothing to check.
        XCTAssertEqual(try checkRecordChecksums(SafeTensorsFile(path: Fixtures.fixture("safetensors/s01_all_dtypes.safetensors"))), 0)
    }

    /// A bomb is refused before anything is inflated: a 178-byte zip whose directory claims a 64 GiB data.pkl,
    /// and an honest 300 MiB deflate bomb (306 KB) over the data.pkl limit.
    func testZipBombsAreRefusedBeforeInflating() throws {
        let claim = inputError { _ = try TorchCheckpoint(path: Self.torchVectors + "tv10_bomb_claims_64gib.pt") }
        XCTAssertEqual(claim?.code, .outOfRange)
        XCTAssertTrue(claim?.message.contains("68719476736") ?? false, claim?.message ?? "")
        let honest = inputError { _ = try TorchCheckpoint(path: Self.torchVectors + "tv11_deflate_bomb_300mib.pt") }
        XCTAssertEqual(honest?.code, .outOfRange)
        XCTAssertTrue(honest?.message.contains("over the limit of \(TorchCheckpoint.Limits.default.maxPickleBytes)") ?? false)
    }

    /// Local/central mismatches say which header disagrees (not "truncated download").
    func testLocalCentralMismatchesAreNamed() throws {
        let name = inputError { _ = try TorchCheckpoint(path: Self.torchVectors + "tv06_local_name_mismatch.pt") }
        XCTAssertEqual(name?.code, .invalidStructure)
        XCTAssertTrue(name?.message.contains("names \"archive/data/9\" but the central directory names \"archive/data/0\"") ?? false, "\(name!)")
        let flags = inputError { _ = try TorchCheckpoint(path: Self.torchVectors + "tv07_local_flags_mismatch.pt") }
        XCTAssertTrue(flags?.message.contains("has flags 0x800, the central directory 0x808") ?? false, "\(flags!)")
        let enc = inputError { _ = try TorchCheckpoint(path: Self.torchVectors + "tv03_flag_encrypted.pt") }
        XCTAssertEqual(enc?.code, .unsupported)
        XCTAssertTrue(enc?.message.contains("encrypted") ?? false)
    }

    /// Reserved and empty names are refused by every writer before any file is created, and a sharded write
    /// refuses before its first shard.
    func testWritersRefuseReservedNamesBeforeWriting() throws {
        let dir = try Paths.temporaryDirectory(self)
        for vector in ["tv13_tensor_named_metadata.pt", "tv14_tensor_named_empty.pt"] {
            let archive = try openTensorArchive(path: Self.torchVectors + vector)
            let items = archive.entries.map { SafeTensorsWriter.Item.copy($0, from: archive) }
            for format in WeightsFormat.allCases {
                let out = dir + "/out." + format.rawValue
                XCTAssertEqual(inputError { try format.write(items, to: out) }?.code, .reservedName, "\(vector) \(format)")
                XCTAssertFalse(FileManager.default.fileExists(atPath: out))
                // Sharded: one tensor per shard; the bad name is in the first or the last shard.
                for order in [items, items.reversed()] {
                    let shardDir = dir + "/shards-\(format.rawValue)"
                    try FileManager.default.createDirectory(atPath: shardDir, withIntermediateDirectories: true)
                    let e = inputError { try ShardedWriter.write(order, format: format, maxShardBytes: 1, directory: shardDir) }
                    XCTAssertEqual(e?.code, .reservedName)
                    XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: shardDir), [], "\(vector) \(format)")
                }
            }
        }
    }

    /// `torch.empty_strided((0, 2**32, 2**32), (1, 2**32, 1))` as real torch.save wrote it: read, described,
    /// written back by both writers and read again.
    func testZeroElementTensorWithHugeDimensionsRoundTrips() throws {
        let dir = try Paths.temporaryDirectory(self)
        let archive = try openTensorArchive(path: Self.torchVectors + "tv02_empty_huge_dims.pt")
        XCTAssertEqual(archive.entry(named: "e")?.shape, [0, 1 << 32, 1 << 32])
        XCTAssertEqual(archive.entry(named: "e")?.byteCount, 0)
        try TorchWriter.write(archive: archive, to: dir + "/back.pt")
        let back = try openTensorArchive(path: dir + "/back.pt")
        XCTAssertEqual(back.entries, archive.entries)
        try SafeTensorsWriter.write(archive, to: dir + "/back.safetensors")
        XCTAssertEqual(try SafeTensorsFile(path: dir + "/back.safetensors").entries.map(\.shape), archive.entries.map(\.shape))
    }

    /// safetensors messages that name the real cause, and the entry-count cap (checked before the JSON is parsed).
    func testSafetensorsMessagesNameTheCause() throws {
        let v = Fixtures.packageRoot + "/Formats/safetensors-vectors/"
        let nul = inputError { _ = try SafeTensorsFile(path: v + "v13_nul_padding.safetensors") }
        XCTAssertTrue(nul?.message.contains("padded with NUL bytes") ?? false, "\(nul!)")
        let ctl = inputError { _ = try SafeTensorsFile(path: v + "v14_control_char_in_name.safetensors") }
        XCTAssertTrue(ctl?.message.contains("raw control character 0x1 inside a string") ?? false, "\(ctl!)")
        XCTAssertEqual(ctl?.offset, 8 + 3)
        let big = inputError { _ = try SafeTensorsFile(path: v + "v15_dim_over_u64_half.safetensors") }
        XCTAssertTrue(big?.message.contains("18446744073709551615 of the shape overflows") ?? false, "\(big!)")

        var header = "{"
        for i in 0..<5 { header += "\(i == 0 ? "" : ",")\"t\(i)\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[0,0]}" }
        header += "}"
        let bytes = withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian) { Array($0) } + Array(header.utf8)
        try bytes.withUnsafeBytes { raw in
            XCTAssertEqual(try SafeTensorsFile.parse(raw, path: "x", maxTensors: 5).2.count, 5)
            let e = inputError { _ = try SafeTensorsFile.parse(raw, path: "x", maxTensors: 4) }
            XCTAssertEqual(e?.code, .outOfRange)
            XCTAssertTrue(e?.message.contains("5 entries") ?? false)
        }
    }

    /// An HTML page saved under a weights name, and a bare pickle, are named as such whatever the file is called.
    func testHTMLPageAndBarePickleAreNamed() throws {
        let dir = try Paths.temporaryDirectory(self)
        let html = try Data(contentsOf: URL(fileURLWithPath: Self.torchVectors + "tv15_html_page.bin"))
        for name in ["model.safetensors", "pytorch_model.bin"] {
            try html.write(to: URL(fileURLWithPath: dir + "/" + name))
            let e = inputError { _ = try openTensorArchive(path: dir + "/" + name) }
            XCTAssertEqual(e?.code, .unknownFormat, name)
            XCTAssertTrue(e?.message.contains("HTML page") ?? false, "\(name): \(e!)")
        }
        let pickle = inputError { _ = try TorchCheckpoint(path: Self.torchVectors + "tv16_bare_pickle.bin") }
        XCTAssertTrue(pickle?.message.contains("bare pickle (a dict)") ?? false, "\(pickle!)")
    }
}
