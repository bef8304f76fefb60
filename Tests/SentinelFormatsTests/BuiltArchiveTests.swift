import Foundation
import XCTest
import SentinelCore
@testable import SentinelFormats

/// Hand-assembles pickle bytes opcode by opcode (independent of the writer's pickler).
struct PickleBytes {
    var b: [UInt8] = []
    mutating func op(_ x: UInt8...) { b += x }
    mutating func str(_ s: String) {  // SHORT_BINUNICODE (protocol 4) + MEMOIZE
        b += [0x8C, UInt8(s.utf8.count)] + Array(s.utf8)
        b.append(0x94)
    }
    mutating func binunicode(_ s: String) {
        b.append(0x58)
        b += withUnsafeBytes(of: UInt32(s.utf8.count).littleEndian) { Array($0) } + Array(s.utf8)
    }
    mutating func stackGlobal(_ module: String, _ name: String) {
        str(module)
        str(name)
        b.append(0x93)
        b.append(0x94)
    }
    mutating func global(_ module: String, _ name: String) {
        b.append(0x63)
        b += Array("\(module)\n\(name)\n".utf8)
    }
    mutating func int(_ v: Int) {
        if v >= 0 && v < 256 {
            b += [0x4B, UInt8(v)]
        } else {
            b.append(0x4A)
            b += withUnsafeBytes(of: Int32(v).littleEndian) { Array($0) }
        }
    }
    mutating func tuple(_ v: [Int]) {
        op(0x28)
        for x in v { int(x) }
        op(0x74)
    }
    /// `_rebuild_tensor_v2(('storage', torch.<cls>, key, 'cpu', numel), offset, size, stride, False, OrderedDict())`,
    /// protocol-4 style (STACK_GLOBAL, SHORT_BINUNICODE, MEMOIZE).
    mutating func tensorV2(storageClass: String, key: String, numel: Int, offset: Int, size: [Int], stride: [Int]) {
        stackGlobal("torch._utils", "_rebuild_tensor_v2")
        op(0x28)  // MARK args
        op(0x28)
        str("storage")
        stackGlobal("torch", storageClass)
        str(key)
        str("cpu")
        int(numel)
        op(0x74, 0x94)
        op(0x51)  // BINPERSID
        int(offset)
        tuple(size)
        tuple(stride)
        op(0x89)
        stackGlobal("collections", "OrderedDict")
        op(0x29, 0x52)
        op(0x74, 0x52, 0x94)  // TUPLE, REDUCE, MEMOIZE
    }
    /// Wraps the body in PROTO 4 + FRAME.
    func protocol4() -> [UInt8] {
        [0x80, 4, 0x95] + withUnsafeBytes(of: UInt64(b.count + 1).littleEndian) { Array($0) } + b + [0x2E]
    }
}

/// Torch-style archives built in code: other protocols, other top folders, big-endian storages,
/// views with offsets, the legacy format, and hostile variations.
final class BuiltArchiveTests: XCTestCase {
    /// Writes a zip with the given records (through the same stored-record writer torch's layout uses).
    func makeZip(_ path: String, prefix: String, pickle: [UInt8], byteorder: String? = "little", storages: [(String, [UInt8])]) throws {
        try AtomicFile.write(to: path) { out in
            var z = TorchZipWriter(out: out)
            try z.add(prefix + "/data.pkl", bytes: pickle)
            if let byteorder { try z.add(prefix + "/byteorder", bytes: Array(byteorder.utf8)) }
            for (k, v) in storages { try z.add(prefix + "/data/" + k, bytes: v) }
            try z.add(prefix + "/version", bytes: Array("3\n".utf8))
            try z.finish()
        }
    }

    func floats(_ v: [Float], bigEndian: Bool) -> [UInt8] {
        v.flatMap { f in withUnsafeBytes(of: bigEndian ? f.bitPattern.bigEndian : f.bitPattern.littleEndian) { Array($0) } }
    }
    func longs(_ v: [Int64], bigEndian: Bool) -> [UInt8] {
        v.flatMap { i in withUnsafeBytes(of: bigEndian ? i.bigEndian : i.littleEndian) { Array($0) } }
    }
    func values<T>(_ c: TensorArchive, _ name: String, as: T.Type) throws -> [T] {
        try c.withBytes(of: name) { raw in
            (0..<(raw.count / MemoryLayout<T>.size)).map { raw.loadUnaligned(fromByteOffset: $0 * MemoryLayout<T>.size, as: T.self) }
        }
    }

    /// {'w': strided F32 view at offset 2, 'ids': I64 [3], 'meta': {'step': 7, 'names': ['a', 'b']}} in protocol 4.
    func protocol4Pickle(wOffset: Int = 2, wSize: [Int] = [2, 2], wStride: [Int] = [1, 2]) -> [UInt8] {
        var p = PickleBytes()
        p.op(0x7D, 0x94, 0x28)  // EMPTY_DICT MEMOIZE MARK
        p.str("w")
        p.tensorV2(storageClass: "FloatStorage", key: "0", numel: 6, offset: wOffset, size: wSize, stride: wStride)
        p.str("ids")
        p.tensorV2(storageClass: "LongStorage", key: "1", numel: 3, offset: 0, size: [3], stride: [1])
        p.str("meta")
        p.op(0x7D, 0x94, 0x28)
        p.str("step")
        p.int(7)
        p.str("names")
        p.op(0x5D, 0x94, 0x28)
        p.str("a")
        p.str("b")
        p.op(0x65)
        p.op(0x75)  // SETITEMS (meta)
        p.op(0x75)  // SETITEMS (root)
        return p.protocol4()
    }

    func testProtocol4ArchiveWithOtherTopFolderAndStridedView() throws {
        let dir = try Paths.temporaryDirectory(self)
        let path = dir + "/weights.pt"
        try makeZip(
            path, prefix: "my-model.v2", pickle: protocol4Pickle(),
            storages: [("0", floats([0, 1, 2, 3, 4, 5], bigEndian: false)), ("1", longs([-1, 1 << 40, 3], bigEndian: false))])
        let c = try TorchCheckpoint(path: path)
        XCTAssertEqual(c.recordPrefix, "my-model.v2")
        XCTAssertEqual(c.pickleProtocol, 4)
        XCTAssertEqual(c.entries.map(\.name), ["w", "ids"])
        let w = try XCTUnwrap(c.item(named: "w")?.tensor)
        XCTAssertEqual(w.storageOffset, 2)
        XCTAssertFalse(w.isContiguous)
        // w[i][j] = storage[2 + i + 2j]
        XCTAssertEqual(try values(c, "w", as: Float.self), [2, 4, 3, 5])
        XCTAssertEqual(try values(c, "ids", as: Int64.self), [-1, 1 << 40, 3])
        XCTAssertEqual(c.values.map(\.path), [["meta"]])
        XCTAssertEqual(c.values.first?.value.plainJSON(), .object([("step", .int(7)), ("names", .array([.string("a"), .string("b")]))]))
    }

    func testBigEndianStoragesAreConverted() throws {
        let dir = try Paths.temporaryDirectory(self)
        let path = dir + "/be.pt"
        try makeZip(
            path, prefix: "archive", pickle: protocol4Pickle(wOffset: 1, wSize: [5], wStride: [1]), byteorder: "big",
            storages: [("0", floats([0.5, -1.25, 3, 1e-30, .infinity, 7], bigEndian: true)), ("1", longs([-1, 1 << 40, 3], bigEndian: true))])
        let c = try TorchCheckpoint(path: path)
        XCTAssertTrue(c.isBigEndian)
        XCTAssertTrue(c.item(named: "w")!.tensor.isContiguous)
        XCTAssertEqual(try values(c, "w", as: Float.self), [-1.25, 3, 1e-30, .infinity, 7])
        XCTAssertEqual(try values(c, "ids", as: Int64.self), [-1, 1 << 40, 3])
        // Written back out, the file is little-endian with the same values.
        try TorchWriter.write(archive: c, to: dir + "/le.pt")
        let le = try TorchCheckpoint(path: dir + "/le.pt")
        XCTAssertFalse(le.isBigEndian)
        XCTAssertEqual(try values(le, "w", as: Float.self), [-1.25, 3, 1e-30, .infinity, 7])
    }

    func testUnknownByteOrderIsRefused() throws {
        let dir = try Paths.temporaryDirectory(self)
        try makeZip(
            dir + "/x.pt", prefix: "archive", pickle: protocol4Pickle(), byteorder: "middle",
            storages: [("0", floats([0, 1, 2, 3, 4, 5], bigEndian: false)), ("1", longs([1, 2, 3], bigEndian: false))])
        let e = inputError { _ = try TorchCheckpoint(path: dir + "/x.pt") }
        XCTAssertEqual(e?.code, .invalidStructure)
        XCTAssertEqual(e?.key, "archive/byteorder")
    }

    func testViewOutsideItsStorageIsRefused() throws {
        let dir = try Paths.temporaryDirectory(self)
        // offset 3 + (2-1)*1 + (2-1)*2 = element 6 of a 6-element storage.
        try makeZip(
            dir + "/x.pt", prefix: "archive", pickle: protocol4Pickle(wOffset: 3),
            storages: [("0", floats([0, 1, 2, 3, 4, 5], bigEndian: false)), ("1", longs([1, 2, 3], bigEndian: false))])
        let e = inputError { _ = try TorchCheckpoint(path: dir + "/x.pt") }
        XCTAssertEqual(e?.code, .outOfRange)
        XCTAssertEqual(e?.key, "w")
        XCTAssertTrue(e?.message.contains("reaches element 6 of a storage that holds 6") ?? false, e?.description ?? "")
    }

    func testZeroStrideExplosionIsRefused() throws {
        let dir = try Paths.temporaryDirectory(self)
        try makeZip(
            dir + "/x.pt", prefix: "archive", pickle: protocol4Pickle(wOffset: 0, wSize: [100_000, 100_000], wStride: [0, 0]),
            storages: [("0", floats([0, 1, 2, 3, 4, 5], bigEndian: false)), ("1", longs([1, 2, 3], bigEndian: false))])
        let e = inputError { _ = try TorchCheckpoint(path: dir + "/x.pt") }
        XCTAssertEqual(e?.code, .outOfRange)
        XCTAssertTrue(e?.message.contains("expands 24 stored bytes to 40000000000") ?? false, e?.description ?? "")
        // A small expansion (t04's expanded_row) is fine.
        try makeZip(
            dir + "/y.pt", prefix: "archive", pickle: protocol4Pickle(wOffset: 0, wSize: [3, 6], wStride: [0, 1]),
            storages: [("0", floats([0, 1, 2, 3, 4, 5], bigEndian: false)), ("1", longs([1, 2, 3], bigEndian: false))])
        XCTAssertEqual(
            try values(try TorchCheckpoint(path: dir + "/y.pt"), "w", as: Float.self), [0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 5])
    }

    /// The legacy format built in code, with big-endian storages (sys_info little_endian False).
    func testLegacyFormatBuiltInCode() throws {
        let dir = try Paths.temporaryDirectory(self)
        var file: [UInt8] = [0x80, 0x02, 0x8A, 0x0A, 0x6C, 0xFC, 0x9C, 0x46, 0xF9, 0x20, 0x6A, 0xA8, 0x50, 0x19, 0x2E]  // magic
        file += [0x80, 0x02, 0x4D, 0xE9, 0x03, 0x2E]  // 1001
        var s = PickleBytes()
        s.op(0x80, 0x02, 0x7D, 0x28)
        s.binunicode("protocol_version")
        s.op(0x4D, 0xE9, 0x03)
        s.binunicode("little_endian")
        s.op(0x89)
        s.op(0x75, 0x2E)
        file += s.b
        var m = PickleBytes()
        m.op(0x80, 0x02, 0x7D, 0x28)
        m.binunicode("layer.LayerNorm.gamma")
        m.global("torch._utils", "_rebuild_tensor_v2")
        m.op(0x28, 0x28)
        m.binunicode("storage")
        m.global("torch", "DoubleStorage")
        m.binunicode("140000")
        m.binunicode("cpu")
        m.int(3)
        m.op(0x4E, 0x74)
        m.op(0x51)
        m.int(1)
        m.tuple([2])
        m.tuple([1])
        m.op(0x89)
        m.global("collections", "OrderedDict")
        m.op(0x29, 0x52, 0x74, 0x52)
        m.op(0x75, 0x2E)
        file += m.b
        var k = PickleBytes()
        k.op(0x80, 0x02, 0x5D, 0x28)
        k.binunicode("140000")
        k.op(0x65, 0x2E)
        file += k.b
        file += withUnsafeBytes(of: Int64(3).littleEndian) { Array($0) }
        for d in [1.5, -2.0, 0.1] { file += withUnsafeBytes(of: d.bitPattern.bigEndian) { Array($0) } }
        let path = dir + "/legacy.bin"
        try AtomicFile.write(to: path) { out in try file.withUnsafeBytes { try out.write($0) } }
        let archive = try openTensorArchive(path: path)
        XCTAssertEqual(archive.formatName, "pytorch-legacy")
        XCTAssertEqual(archive.entries, [TensorEntry(name: "layer.LayerNorm.gamma", dtype: .F64, shape: [2])])
        XCTAssertEqual(try values(archive, "layer.LayerNorm.gamma", as: Double.self), [-2.0, 0.1])
        // Old LayerNorm names are mapped, and the report lists them.
        let (_, renamed) = try renameLegacyLayerNormKeys(archive.entries.map(\.name))
        let renamedArchive = RenamedArchive(archive, renames: renamed)
        XCTAssertEqual(renamedArchive.entries.map(\.name), ["layer.LayerNorm.weight"])
        XCTAssertEqual(try values(renamedArchive, "layer.LayerNorm.weight", as: Double.self), [-2.0, 0.1])
        // Cut inside the last storage: a truncation, named as such.
        let cut = dir + "/cut.bin"
        try AtomicFile.write(to: cut) { out in try Array(file.dropLast(4)).withUnsafeBytes { try out.write($0) } }
        let e = inputError { _ = try TorchCheckpoint(path: cut) }
        XCTAssertEqual(e?.code, .truncated)
        XCTAssertEqual(e?.key, "140000")
    }

    func testRenameLegacyLayerNormKeys() throws {
        let (names, renamed) = try renameLegacyLayerNormKeys([
            "bert.embeddings.LayerNorm.gamma", "bert.encoder.layer.0.output.LayerNorm.beta", "cls.predictions.bias", "gamma_scale",
            "x.gamma", "cls.predictions.transform.LayerNorm.weight",
        ])
        XCTAssertEqual(
            names,
            [
                "bert.embeddings.LayerNorm.weight", "bert.encoder.layer.0.output.LayerNorm.bias", "cls.predictions.bias",
                "gamma_scale", "x.gamma", "cls.predictions.transform.LayerNorm.weight",
            ])
        XCTAssertEqual(renamed.map(\.from), ["bert.embeddings.LayerNorm.gamma", "bert.encoder.layer.0.output.LayerNorm.beta"])
        XCTAssertEqual(renamed.map(\.to), ["bert.embeddings.LayerNorm.weight", "bert.encoder.layer.0.output.LayerNorm.bias"])
        XCTAssertEqual(inputError { _ = try renameLegacyLayerNormKeys(["a.LayerNorm.gamma", "a.LayerNorm.weight"]) }?.code, .duplicateTensor)
    }

    // MARK: Hostile pickles (the machine alone)

    func load(_ bytes: [UInt8], limits: PickleLimits = .default) throws -> PickleValue {
        var u = RestrictedUnpickler(file: "test.pkl", limits: limits)
        return try bytes.withUnsafeBytes { try u.load($0).value }
    }

    func testStackGlobalOutsideTheAllowListIsRefused() throws {
        for (module, name) in [
            ("posix", "system"), ("subprocess", "Popen"), ("builtins", "exec"), ("nt", "system"), ("sys", "modules"),
            ("torch", "load"), ("torch._utils", "_rebuild_qtensor"),
        ] {
            var p = PickleBytes()
            p.stackGlobal(module, name)
            let e = inputError { _ = try load(p.protocol4()) }
            XCTAssertEqual(e?.code, .unsafe, "\(module).\(name)")
            XCTAssertTrue(e?.message.contains("\(module).\(name) (module '\(module)', name '\(name)')") ?? false, e?.description ?? "")
        }
    }

    func testOpcodesThatInstantiateAreRefused() throws {
        // INST 'os\nsystem\n' and OBJ; EXT1; out-of-band buffers.
        XCTAssertEqual(inputError { _ = try load([0x80, 0x02, 0x28] + Array("ios\nsystem\n".utf8) + [0x2E]) }?.code, .unsafe)
        XCTAssertEqual(inputError { _ = try load([0x80, 0x02, 0x28, 0x6F, 0x2E]) }?.code, .unsafe)
        XCTAssertEqual(inputError { _ = try load([0x80, 0x02, 0x82, 0x01, 0x2E]) }?.code, .unsafe)
        XCTAssertEqual(inputError { _ = try load([0x80, 0x05, 0x97, 0x2E]) }?.code, .unsafe)
        // Calling an allowed class that is not a rebuild function: torch.FloatStorage(…).
        var p = PickleBytes()
        p.global("torch", "FloatStorage")
        p.op(0x29, 0x52)
        XCTAssertEqual(inputError { _ = try load([0x80, 0x02] + p.b + [0x2E]) }?.code, .unsafe)
    }

    func testLimitsHold() throws {
        var limits = PickleLimits()
        limits.maxMemoEntries = 10
        var p = PickleBytes()
        p.op(0x5D)
        for _ in 0..<11 { p.op(0x94) }
        XCTAssertEqual(inputError { _ = try load(p.protocol4(), limits: limits) }?.code, .outOfRange)
        limits = PickleLimits()
        limits.maxOpcodes = 100
        XCTAssertEqual(
            inputError { _ = try load([0x80, 0x02, 0x4E] + [UInt8](repeating: 0x32, count: 200) + [0x2E], limits: limits) }?.code, .outOfRange)
        limits = PickleLimits()
        limits.maxStackDepth = 50
        XCTAssertEqual(
            inputError { _ = try load([0x80, 0x02, 0x4E] + [UInt8](repeating: 0x32, count: 60) + [0x2E], limits: limits) }?.code, .outOfRange)
        limits = PickleLimits()
        limits.maxAllocation = 1000
        var big = PickleBytes()
        big.binunicode(String(repeating: "x", count: 2000))
        XCTAssertEqual(inputError { _ = try load([0x80, 0x02] + big.b + [0x2E], limits: limits) }?.code, .outOfRange)
        // A length that points past the end is a truncation, not an allocation.
        XCTAssertEqual(inputError { _ = try load([0x80, 0x04, 0x8D, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F, 0x2E]) }?.code, .truncated)
        XCTAssertEqual(inputError { _ = try load([0x80, 0x02, 0x58, 0xF0, 0xFF, 0xFF, 0xFF, 0x2E]) }?.code, .truncated)
        // Memo index never stored; pops past a MARK; STOP with values left.
        XCTAssertEqual(inputError { _ = try load([0x80, 0x02, 0x68, 0x05, 0x2E]) }?.code, .invalidStructure)
        XCTAssertEqual(inputError { _ = try load([0x80, 0x02, 0x4E, 0x28, 0x30, 0x2E]) }?.code, .invalidStructure)
        XCTAssertEqual(inputError { _ = try load([0x80, 0x02, 0x4E, 0x4E, 0x2E]) }?.code, .invalidStructure)
    }

    func testCyclesAndDeepNestingAreRefused() throws {
        let dir = try Paths.temporaryDirectory(self)
        // {'a': L} where L = [L]
        var p = PickleBytes()
        p.op(0x7D, 0x94)
        p.str("a")
        p.op(0x5D, 0x94, 0x68, 0x02, 0x61, 0x73)
        try makeZip(dir + "/cycle.pt", prefix: "archive", pickle: p.protocol4(), storages: [])
        let cycle = inputError { _ = try TorchCheckpoint(path: dir + "/cycle.pt") }
        XCTAssertEqual(cycle?.code, .invalidStructure)
        XCTAssertTrue(cycle?.message.contains("changes a list after placing it inside another object") ?? false, cycle?.description ?? "")
        // 500 nested tuples.
        var q = PickleBytes()
        q.op(0x7D)
        q.str("a")
        q.op(0x29)
        for _ in 0..<500 { q.op(0x85) }
        q.op(0x73)
        try makeZip(dir + "/deep.pt", prefix: "archive", pickle: q.protocol4(), storages: [])
        let deep = inputError { _ = try TorchCheckpoint(path: dir + "/deep.pt") }
        XCTAssertEqual(deep?.code, .outOfRange)
        XCTAssertTrue(deep?.message.contains("nested more than 200 levels") ?? false, deep?.description ?? "")
    }

    /// Depth built by changing a list after it was nested (each new list goes into the previous one)
    /// is refused, as is a million-deep tuple (refused at depth 201, before anything recurses).
    func testNestingTricksAreRefusedWithoutRecursion() throws {
        var p = PickleBytes()
        p.op(0x5D, 0x94)  // L0, memo 0
        for i in 0..<300 {
            p.op(0x5D, 0x94)  // L(i+1), memo i+1
            p.op(0x68, UInt8(i % 256))  // BINGET L(i) (wraps; any earlier list will do)
            p.op(0x68, UInt8((i + 1) % 256), 0x61)  // BINGET L(i+1), APPEND into L(i)
            p.op(0x30, 0x30)  // POP, POP
        }
        let e = inputError { _ = try load(p.protocol4()) }
        XCTAssertEqual(e?.code, .invalidStructure)
        var deep: [UInt8] = [0x80, 0x04, 0x29]
        deep += [UInt8](repeating: 0x85, count: 1_000_000)
        deep.append(0x2E)
        let d = inputError { _ = try load(deep) }
        XCTAssertEqual(d?.code, .outOfRange)
        XCTAssertTrue(d?.message.contains("nested more than 200 levels") ?? false, d?.description ?? "")
    }

    /// t(k+1) = (t(k), t(k)) a hundred times: 200 bytes of pickle, 2^100 values as a tree. Refused.
    func testExponentialSharingIsRefused() throws {
        let dir = try Paths.temporaryDirectory(self)
        var p = PickleBytes()
        p.op(0x7D)
        p.str("a")
        p.str("x")
        for _ in 0..<100 { p.op(0x32, 0x86) }  // DUP, TUPLE2
        p.op(0x73)
        try makeZip(dir + "/dag.pt", prefix: "archive", pickle: p.protocol4(), storages: [])
        let e = inputError { _ = try TorchCheckpoint(path: dir + "/dag.pt") }
        XCTAssertEqual(e?.code, .outOfRange)
        XCTAssertTrue(e?.message.contains("too many values through shared references") ?? false, e?.description ?? "")
    }

    /// A checkpoint re-zipped with deflate (e.g. by a zip tool) is read through libzip (CRC-checked), and a
    /// damaged deflated record is refused. Uses python3's zipfile to make the archive (python3 is already
    /// needed by Samples/fetch-minilm.sh).
    func testDeflatedRecordsAreReadThroughLibzip() throws {
        let dir = try Paths.temporaryDirectory(self)
        let src = Paths.torchFixtures + "/t04_noncontiguous_views.pt", out = dir + "/deflated.pt"
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = [
            "python3", "-c",
            """
            import sys, zipfile
            src, dst = sys.argv[1], sys.argv[2]
            with zipfile.ZipFile(src) as a, zipfile.ZipFile(dst, 'w', zipfile.ZIP_DEFLATED) as b:
                for i in a.infolist():
                    b.writestr(i.filename, a.read(i.filename))
            """, src, out,
        ]
        try p.run()
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0)
        let c = try TorchCheckpoint(path: out)
        let reader = try XCTUnwrap(c.zipReader)
        XCTAssertTrue(reader.entries.contains { $0.method == 8 && $0.dataOffset == nil })
        try assertFixtureDigests(c, "t04_noncontiguous_views.pt")
        // Flip one byte inside the deflated data of the largest storage record: libzip's CRC or inflate check fails.
        let mapped = try MappedFile(path: out)
        var bytes = withExtendedLifetime(mapped) { Array(mapped.bytes) }
        let e = try XCTUnwrap(reader.entries.filter { $0.name.contains("/data/") }.max { $0.compressedSize < $1.compressedSize })
        bytes[e.dataStart + e.compressedSize / 2] ^= 0x55
        try AtomicFile.write(to: dir + "/bad.pt") { out in try bytes.withUnsafeBytes { try out.write($0) } }
        let bad = try TorchCheckpoint(path: dir + "/bad.pt")
        let owner = try XCTUnwrap(bad.items.first { bad.storageRecord($0.tensor.storage).record == e.name })
        let err = inputError { _ = try bad.withBytes(of: owner.name) { $0.count } }
        XCTAssertEqual(err?.code, .invalidStructure)
        XCTAssertEqual(err?.key, e.name)
    }

    /// ZIP64 records (sizes and local header offsets in the ZIP64 extra field, 64-bit data descriptors), as
    /// torch writes them past 4 GiB: the reader finds every record in place (`HostileInputTests` reads torch's own layout).
    func testZIP64RecordsAreViewedInPlace() throws {
        let dir = try Paths.temporaryDirectory(self)
        let source = try TorchCheckpoint(path: Paths.torchFixtures + "/t01_simple_state_dict.pt")
        let items = source.entries.map { SafeTensorsWriter.Item.copy($0, from: source) }
        try AtomicFile.write(to: dir + "/z64.pt") { out in
            let (pkl, _) = try TorchWriter.pickle(items, ties: [:], file: out.path)
            var z = TorchZipWriter(out: out)
            z.forceZip64 = true
            try z.add("archive/data.pkl", bytes: pkl)
            for (i, item) in items.enumerated() {
                try z.add("archive/data/\(i)", size: item.entry.byteCount) { sink in try item.produce(sink) }
            }
            try z.finish()
        }
        // An independent reader (python3's zipfile) agrees: CRCs good, ZIP64 extra (0x0001) on the records past byte 0.
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = [
            "python3", "-c",
            """
            import sys, zipfile
            z = zipfile.ZipFile(sys.argv[1])
            assert z.testzip() is None
            infos = z.infolist()
            assert all(i.extra[:2] == b'\\x01\\x00' for i in infos[1:]), [i.extra for i in infos]
            print(len(infos))
            """, dir + "/z64.pt",
        ]
        let pipe = Pipe()
        p.standardOutput = pipe
        try p.run()
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0)
        XCTAssertEqual(String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self), "\(items.count + 1)\n")
        let c = try TorchCheckpoint(path: dir + "/z64.pt")
        let reader = try XCTUnwrap(c.zipReader)
        for e in reader.entries {
            let off = try XCTUnwrap(e.dataOffset, e.name)
            XCTAssertEqual(off % 64, 0, e.name)
        }
        try assertFixtureDigests(c, "t01_simple_state_dict.pt")
    }

    // MARK: Files that are not checkpoints

    func testTruncatedDownloadLFSPointerAndEmptyFile() throws {
        let dir = try Paths.temporaryDirectory(self)
        let t01 = try MappedFile(path: Paths.torchFixtures + "/t01_simple_state_dict.pt")
        let cut = withExtendedLifetime(t01) { Array(t01.bytes.prefix(t01.bytes.count * 6 / 10)) }
        try AtomicFile.write(to: dir + "/cut.pt") { out in try cut.withUnsafeBytes { try out.write($0) } }
        let e = inputError { _ = try openTensorArchive(path: dir + "/cut.pt") }
        XCTAssertEqual(e?.code, .truncated)
        XCTAssertTrue(e?.message.contains("truncated or interrupted download") ?? false, e?.description ?? "")

        let pointer =
            "version https://git-lfs.github.com/spec/v1\noid sha256:53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db\nsize 90868376\n"
        try AtomicFile.write(to: dir + "/pytorch_model.bin") { try $0.write(pointer) }
        let lfs = inputError { _ = try TorchCheckpoint(path: dir + "/pytorch_model.bin") }
        XCTAssertEqual(lfs?.code, .gitLFSPointer)
        XCTAssertTrue(lfs?.message.contains("git lfs pull") ?? false)

        try AtomicFile.write(to: dir + "/empty.bin") { _ in }
        XCTAssertEqual(inputError { _ = try openTensorArchive(path: dir + "/empty.bin") }?.code, .fileTooSmall)

        // A checkpoint of a bare None under another top folder has no tensors; a zip without data.pkl is refused.
        try makeZip(dir + "/other.zip", prefix: "docs", pickle: [0x80, 0x02, 0x4E, 0x2E], storages: [])
        let none = try TorchCheckpoint(path: dir + "/other.zip")
        XCTAssertEqual(none.recordPrefix, "docs")
        XCTAssertTrue(none.items.isEmpty)
        XCTAssertEqual(none.typedTree(), .object([("type", .string("None")), ("value", .null)]))
        try AtomicFile.write(to: dir + "/plain.zip") { out in
            var z = TorchZipWriter(out: out)
            try z.add("readme.txt", bytes: Array("hi".utf8))
            try z.finish()
        }
        XCTAssertEqual(inputError { _ = try TorchCheckpoint(path: dir + "/plain.zip") }?.code, .missing)
    }
}
