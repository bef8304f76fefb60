import XCTest
import SentinelCore
@testable import SentinelFormats

/// The writer against torch's own output, and round trips on the real MiniLM.
final class WriterTests: XCTestCase {
    /// The `data.pkl` Sentinel writes for the tensors of a torch-written file is byte for byte the one
    /// torch wrote (same memo use, same batching, same integer forms).
    func testPickleIsByteIdenticalToTorchs() throws {
        let dir = try Paths.temporaryDirectory(self)
        for name in ["t01_simple_state_dict.pt", "t02_all_dtypes.pt"] {
            let source = try TorchCheckpoint(path: Paths.torchFixtures + "/" + name)
            let out = dir + "/" + name
            try TorchWriter.write(archive: source, to: out, recordPrefix: "archive")
            let written = try TorchCheckpoint(path: out)
            let original = try XCTUnwrap(source.zipReader), copy = try XCTUnwrap(written.zipReader)
            let a = try original.withBytes(of: original.entry(named: "archive/data.pkl")!) { Array($0) }
            let b = try copy.withBytes(of: copy.entry(named: "archive/data.pkl")!) { Array($0) }
            XCTAssertEqual(a, b, name)
            // Same records, same sizes, same 64-byte-aligned data offsets, same CRCs (but the random id).
            XCTAssertEqual(original.entries.map(\.name), copy.entries.map(\.name), name)
            for (x, y) in zip(original.entries, copy.entries) where !x.name.hasSuffix("serialization_id") {
                XCTAssertEqual(x.size, y.size, x.name)
                XCTAssertEqual(x.dataOffset, y.dataOffset, x.name)
                XCTAssertEqual(x.crc32, y.crc32, x.name)
            }
        }
    }

    /// Tied weights are written once and come back as one tensor object; views are materialised.
    func testTiesAreKeptAndViewsMaterialised() throws {
        let dir = try Paths.temporaryDirectory(self)
        let source = try TorchCheckpoint(path: Paths.torchFixtures + "/t03_tied_weights.pt")
        XCTAssertEqual(source.ties, ["decoder.embed_tokens.weight": "encoder.embed_tokens.weight"])
        let out = dir + "/tied.bin"
        try TorchWriter.write(archive: source, to: out)
        let c = try TorchCheckpoint(path: out)
        XCTAssertEqual(c.recordPrefix, "tied")
        XCTAssertEqual(c.sameObjectGroups, [["encoder.embed_tokens.weight", "decoder.embed_tokens.weight"]])
        XCTAssertEqual(c.storages.count, 4, "the tied pair shares one storage; each view gets its own")
        let expected = try loadJSON(Paths.torchFixtures + "/t03_tied_weights.pt.expected.json")
        for t in expected["tensors"]!.arrayValue! {
            let name = t["key"]!.stringValue!
            XCTAssertEqual(try c.withBytes(of: name) { SHA256.hex($0) }, t["sha256"]?.stringValue, name)
            XCTAssertEqual(c.item(named: name)?.tensor.isContiguous, true)
        }
    }

    /// Every non-contiguous layout of t04 written out contiguously keeps its values.
    func testNonContiguousViewsRoundTrip() throws {
        let dir = try Paths.temporaryDirectory(self)
        let source = try TorchCheckpoint(path: Paths.torchFixtures + "/t04_noncontiguous_views.pt")
        try TorchWriter.write(archive: source, to: dir + "/v.pt")
        let c = try TorchCheckpoint(path: dir + "/v.pt")
        try assertFixtureDigests(c, "t04_noncontiguous_views.pt")
    }

    /// U16/U32/U64/F8 go through `_rebuild_tensor_v3` with an UntypedStorage, as torch writes them.
    func testOptionalDTypesUseRebuildV3() throws {
        let dir = try Paths.temporaryDirectory(self)
        let source = try TorchCheckpoint(path: Paths.torchFixtures + "/t02b_optional_dtypes.pt")
        let items = source.entries.map { SafeTensorsWriter.Item.copy($0, from: source) }
        XCTAssertEqual(items.count, 6, "complex128 has no safetensors dtype and is not an archive entry")
        try TorchWriter.write(items, to: dir + "/o.pt", recordPrefix: "archive")
        let c = try TorchCheckpoint(path: dir + "/o.pt")
        let expected = try loadJSON(Paths.torchFixtures + "/t02b_optional_dtypes.pt.expected.json")
        for t in expected["tensors"]!.arrayValue! where t["dtype"]?.stringValue != "C128" {
            let name = t["key"]!.stringValue!
            let item = try XCTUnwrap(c.item(named: name))
            XCTAssertEqual(item.tensor.rebuildFunction, t["rebuild_function"]?.stringValue, name)
            XCTAssertEqual(item.tensor.storage.storageClass, t["storage"]?["pickled_storage_type"]?.stringValue, name)
            XCTAssertEqual(item.tensor.storage.numelInPersistentID, t["storage"]?["numel_in_persistent_id"]?.intValue, name)
            XCTAssertEqual(try c.withBytes(of: name) { SHA256.hex($0) }, t["sha256"]?.stringValue, name)
        }
        // The pickle is torch's, minus the complex128 entry: same opcodes and globals for the others.
        XCTAssertEqual(
            c.pickleGlobals.sorted(),
            [
                "collections.OrderedDict", "torch.ComplexFloatStorage", "torch._utils._rebuild_tensor_v2",
                "torch._utils._rebuild_tensor_v3", "torch.float8_e4m3fn", "torch.float8_e5m2",
                "torch.storage.UntypedStorage", "torch.uint16", "torch.uint32", "torch.uint64",
            ])
    }

    /// MiniLM safetensors → pytorch_model.bin gives torch's own file: the t08 digests, and the very
    /// record layout (names, sizes, data offsets, CRC-32s) torch wrote.
    func testMiniLMToPytorchMatchesTorchsFile() throws {
        let model = try Paths.miniLM()
        let dir = try Paths.temporaryDirectory(self)
        let st = try SafeTensorsFile(path: model + "/model.safetensors")
        let bin = dir + "/pytorch_model.bin"
        try TorchWriter.write(archive: st, to: bin)
        let expected = try loadJSON(Paths.torchFixtures + "/t08_minilm_pytorch_model.bin.expected.json")
        let c = try TorchCheckpoint(path: bin)
        let tensors = try XCTUnwrap(expected["tensors"]?.arrayValue)
        XCTAssertEqual(c.items.map(\.name), tensors.map { $0["key"]!.stringValue! })
        for (item, t) in zip(c.items, tensors) {
            XCTAssertEqual(item.tensor.dtype.rawValue, t["dtype"]?.stringValue, item.name)
            XCTAssertEqual(item.tensor.shape, t["shape"]?.arrayValue?.compactMap(\.intValue), item.name)
            XCTAssertEqual(item.tensor.storage.key, t["storage"]?["key"]?.stringValue, item.name)
            XCTAssertEqual(try c.withBytes(of: item.name) { SHA256.hex($0) }, t["sha256"]?.stringValue, item.name)
        }
        let records = try XCTUnwrap(expected["container"]?["records"]?.arrayValue)
        let reader = try XCTUnwrap(c.zipReader)
        XCTAssertEqual(reader.entries.map(\.name), records.map { $0["name"]!.stringValue! })
        for (e, r) in zip(reader.entries, records) where !e.name.hasSuffix("serialization_id") {
            XCTAssertEqual(e.size, r["size"]?.intValue, e.name)
            XCTAssertEqual(e.dataOffset, r["data_offset"]?.intValue, e.name)
            XCTAssertEqual(String(format: "%08x", e.crc32), r["crc32"]?.stringValue, e.name)
        }
        XCTAssertEqual(try fileSize(bin), expected["file_size"]?.intValue)
    }

    /// safetensors → pytorch → safetensors: the tensor data (and here the whole file) is byte-identical.
    func testMiniLMRoundTripIsByteIdentical() throws {
        let model = try Paths.miniLM()
        let dir = try Paths.temporaryDirectory(self)
        let original = try SafeTensorsFile(path: model + "/model.safetensors")
        try TorchWriter.write(archive: original, to: dir + "/pytorch_model.bin")
        let torch = try openTensorArchive(path: dir + "/pytorch_model.bin")
        XCTAssertEqual(torch.formatName, "pytorch-zip")
        try SafeTensorsWriter.write(torch.entries.map { SafeTensorsWriter.Item.copy($0, from: torch) }, to: dir + "/back.safetensors")
        let back = try SafeTensorsFile(path: dir + "/back.safetensors")
        XCTAssertEqual(back.entries, original.entries)
        withExtendedLifetime((original, back)) {
            let a = original.file.bytes, b = back.file.bytes
            XCTAssertTrue(
                UnsafeRawBufferPointer(rebasing: a[original.dataStart...]).elementsEqual(UnsafeRawBufferPointer(rebasing: b[back.dataStart...])),
                "tensor data differs after the round trip")
            XCTAssertTrue(a.elementsEqual(b), "whole file differs")
        }
    }

    private func fileSize(_ path: String) throws -> Int { try MappedFile(path: path).bytes.count }
}
