import SentinelCore

/// Writes zip records the way torch's `PyTorchFileWriter` (miniz) does: every record STORED, its data
/// at a 64-byte-aligned file offset (padding in an `FB` extra field of `Z` bytes), a data descriptor
/// after the data, then the central directory, a ZIP64 end record and locator, and the classic end
/// record. Records of 4 GiB or more, and offsets past 4 GiB, get ZIP64 fields.
/// Layout copied from `../shared/fixtures/torch/*.pt` (torch 2.15), see `Formats/pytorch.md`.
struct TorchZipWriter {
    static let alignment = 64
    let out: FileWriter
    /// Write ZIP64 fields for every record, as if each were over 4 GiB (to test that path on small files).
    var forceZip64 = false
    private var central: [(name: [UInt8], crc: UInt32, size: Int, offset: Int, zip64: Bool)] = []

    init(out: FileWriter) { self.out = out }

    private static func put16(_ b: inout [UInt8], _ v: Int) {
        b.append(UInt8(v & 0xFF))
        b.append(UInt8((v >> 8) & 0xFF))
    }
    private static func put32(_ b: inout [UInt8], _ v: UInt32) { for i in 0..<4 { b.append(UInt8((v >> (8 * UInt32(i))) & 0xFF)) } }
    private static func put64(_ b: inout [UInt8], _ v: UInt64) { for i in 0..<8 { b.append(UInt8((v >> (8 * UInt64(i))) & 0xFF)) } }

    /// Adds one record of `size` bytes streamed by `produce`.
    mutating func add(_ name: String, size: Int, produce: ((UnsafeRawBufferPointer) throws -> Void) throws -> Void) throws {
        let nameBytes = Array(name.utf8)
        let offset = out.offset
        let zip64 = size >= 0xFFFF_FFFF || forceZip64
        var h: [UInt8] = []
        Self.put32(&h, 0x0403_4B50)
        Self.put16(&h, zip64 ? 45 : 0)  // version needed
        Self.put16(&h, 0x0808)  // data descriptor follows; UTF-8 names
        Self.put16(&h, 0)  // stored
        Self.put16(&h, 0)
        Self.put16(&h, 0)  // time, date
        Self.put32(&h, 0)
        Self.put32(&h, zip64 ? 0xFFFF_FFFF : 0)
        Self.put32(&h, zip64 ? 0xFFFF_FFFF : 0)
        Self.put16(&h, nameBytes.count)
        let zip64Extra = zip64 ? 20 : 0
        let pad = (Self.alignment - (offset + 30 + nameBytes.count + zip64Extra + 4) % Self.alignment) % Self.alignment
        Self.put16(&h, zip64Extra + 4 + pad)
        h += nameBytes
        if zip64 {
            Self.put16(&h, 0x0001)
            Self.put16(&h, 16)
            Self.put64(&h, 0)
            Self.put64(&h, 0)
        }
        h += [0x46, 0x42]  // "FB"
        Self.put16(&h, pad)
        h += [UInt8](repeating: 0x5A, count: pad)  // "Z"
        try h.withUnsafeBytes { try out.write($0) }
        var crc = CRC32()
        var written = 0
        try produce { chunk in
            crc.update(chunk)
            written += chunk.count
            try out.write(chunk)
        }
        guard written == size else {
            throw InputError(.sizeMismatch, file: out.path, key: name, "produced \(written) bytes for a record of \(size)")
        }
        var d: [UInt8] = []
        Self.put32(&d, 0x0807_4B50)
        Self.put32(&d, crc.value)
        if zip64 {
            Self.put64(&d, UInt64(size))
            Self.put64(&d, UInt64(size))
        } else {
            Self.put32(&d, UInt32(size))
            Self.put32(&d, UInt32(size))
        }
        try d.withUnsafeBytes { try out.write($0) }
        central.append((nameBytes, crc.value, size, offset, zip64))
    }

    /// Adds a record from bytes in memory.
    mutating func add(_ name: String, bytes: [UInt8]) throws {
        try add(name, size: bytes.count) { sink in try bytes.withUnsafeBytes { try sink($0) } }
    }

    /// Writes the central directory and the end records.
    func finish() throws {
        let cdStart = out.offset
        var c: [UInt8] = []
        for e in central {
            let bigSize = e.size >= 0xFFFF_FFFF || e.zip64, bigOffset = e.offset >= 0xFFFF_FFFF || (forceZip64 && e.offset > 0)
            var extra: [UInt8] = []
            if bigSize || bigOffset {
                Self.put16(&extra, 0x0001)
                Self.put16(&extra, (bigSize ? 16 : 0) + (bigOffset ? 8 : 0))
                if bigSize {
                    Self.put64(&extra, UInt64(e.size))
                    Self.put64(&extra, UInt64(e.size))
                }
                if bigOffset { Self.put64(&extra, UInt64(e.offset)) }
            }
            Self.put32(&c, 0x0201_4B50)
            Self.put16(&c, extra.isEmpty ? 0 : 45)
            Self.put16(&c, extra.isEmpty ? 0 : 45)
            Self.put16(&c, 0x0808)
            Self.put16(&c, 0)
            Self.put16(&c, 0)
            Self.put16(&c, 0)
            Self.put32(&c, e.crc)
            Self.put32(&c, bigSize ? 0xFFFF_FFFF : UInt32(e.size))
            Self.put32(&c, bigSize ? 0xFFFF_FFFF : UInt32(e.size))
            Self.put16(&c, e.name.count)
            Self.put16(&c, extra.count)
            Self.put16(&c, 0)
            Self.put16(&c, 0)
            Self.put16(&c, 0)
            Self.put32(&c, 0)
            Self.put32(&c, bigOffset ? 0xFFFF_FFFF : UInt32(e.offset))
            c += e.name
            c += extra
        }
        let cdSize = c.count
        let z64 = cdStart + cdSize
        Self.put32(&c, 0x0606_4B50)
        Self.put64(&c, 44)
        Self.put16(&c, 0x031E)
        Self.put16(&c, 45)
        Self.put32(&c, 0)
        Self.put32(&c, 0)
        Self.put64(&c, UInt64(central.count))
        Self.put64(&c, UInt64(central.count))
        Self.put64(&c, UInt64(cdSize))
        Self.put64(&c, UInt64(cdStart))
        Self.put32(&c, 0x0706_4B50)
        Self.put32(&c, 0)
        Self.put64(&c, UInt64(z64))
        Self.put32(&c, 1)
        Self.put32(&c, 0x0605_4B50)
        Self.put16(&c, 0)
        Self.put16(&c, 0)
        Self.put16(&c, min(central.count, 0xFFFF))
        Self.put16(&c, min(central.count, 0xFFFF))
        Self.put32(&c, UInt32(min(cdSize, 0xFFFF_FFFF)))
        Self.put32(&c, UInt32(min(cdStart, 0xFFFF_FFFF)))
        Self.put16(&c, 0)
        try c.withUnsafeBytes { try out.write($0) }
    }
}

/// Builds a protocol-2 pickle with the memo use of CPython's `pickle.Pickler` (every str, non-empty
/// tuple, global and REDUCE result is memoised; equal strings share one memo entry).
struct PickleWriter {
    private(set) var bytes: [UInt8] = [0x80, 0x02]
    private var memo: [String: Int] = [:]
    private var nextMemo = 0

    mutating func put() -> Int {
        let i = nextMemo
        nextMemo += 1
        if i < 256 {
            bytes += [0x71, UInt8(i)]
        } else {
            bytes.append(0x72)
            append32(UInt32(i))
        }
        return i
    }

    mutating func get(_ i: Int) {
        if i < 256 {
            bytes += [0x68, UInt8(i)]
        } else {
            bytes.append(0x6A)
            append32(UInt32(i))
        }
    }

    private mutating func append32(_ v: UInt32) { for k in 0..<4 { bytes.append(UInt8((v >> (8 * UInt32(k))) & 0xFF)) } }

    mutating func string(_ s: String) {
        if let i = memo["s" + s] {
            get(i)
            return
        }
        let u = Array(s.utf8)
        bytes.append(0x58)
        append32(UInt32(u.count))
        bytes += u
        memo["s" + s] = put()
    }

    mutating func global(_ module: String, _ name: String) {
        let k = "g" + module + "\n" + name
        if let i = memo[k] {
            get(i)
            return
        }
        bytes.append(0x63)
        bytes += Array((module + "\n" + name + "\n").utf8)
        memo[k] = put()
    }

    /// `save_long` of protocol 2.
    mutating func int(_ v: Int) {
        if v >= 0 && v <= 0xFF {
            bytes += [0x4B, UInt8(v)]
        } else if v >= 0 && v <= 0xFFFF {
            bytes += [0x4D, UInt8(v & 0xFF), UInt8(v >> 8)]
        } else if v >= -0x8000_0000 && v <= 0x7FFF_FFFF {
            bytes.append(0x4A)
            append32(UInt32(bitPattern: Int32(v)))
        } else {
            // LONG1: shortest little-endian two's complement.
            var le = withUnsafeBytes(of: Int64(v).littleEndian) { Array($0) }
            while le.count > 1 {
                let last = le[le.count - 1], prev = le[le.count - 2]
                if (last == 0 && prev & 0x80 == 0) || (last == 0xFF && prev & 0x80 != 0) { le.removeLast() } else { break }
            }
            bytes += [0x8A, UInt8(le.count)] + le
        }
    }

    /// A tuple of ints, memoised when non-empty.
    mutating func intTuple(_ values: [Int]) {
        switch values.count {
        case 0:
            bytes.append(0x29)
            return
        case 1, 2, 3:
            for v in values { int(v) }
            bytes.append(UInt8(0x84 + values.count))
        default:
            bytes.append(0x28)
            for v in values { int(v) }
            bytes.append(0x74)
        }
        _ = put()
    }

    mutating func op(_ b: UInt8) { bytes.append(b) }
}

/// Writes PyTorch zip checkpoints (`pytorch_model.bin`) that `torch.load(path, weights_only=True)`
/// loads with identical values, dtypes and shapes, and tied weights as one tensor object.
///
/// What it writes (the shape of torch 2.15's own output, see `Formats/pytorch.md`): `<prefix>/data.pkl`
/// (protocol 2: a `dict` of `_rebuild_tensor_v2(storage, 0, size, stride, False, OrderedDict())`, or
/// `_rebuild_tensor_v3(…, dtype)` with an `UntypedStorage` for U16/U32/U64/F8_*), `.format_version`
/// (`1`), `.storage_alignment` (`64`), `byteorder` (`little`), `data/0…N` (one contiguous storage per
/// tensor, stored, 64-byte aligned), `version` (`3\n`), `.data/serialization_id`. The prefix defaults to
/// the file name without its last extension, as torch does when saving to a path. Atomic.
public enum TorchWriter {
    /// Writes `items` to `path` atomically (`-` and `/dev/null` in place: ``OutputFile``). `ties` maps a tensor name to an earlier one it is the same
    /// tensor as (tied weights: written once, pickled as the same object).
    /// - Throws: ``InputError`` `.unknownDType` for a dtype torch cannot store (F4, F6_*), `.duplicateTensor`,
    ///   `.invalidStructure` for a tie between tensors of different dtype or shape; ``OutputError`` for I/O.
    public static func write(
        _ items: [SafeTensorsWriter.Item], ties: [String: String] = [:], to path: String,
        recordPrefix: String? = nil, replace: Bool = true
    ) throws {
        // Like torch.save to a stream, standard output and devices get the record prefix `archive`.
        let prefix = recordPrefix ?? (OutputFile.isStream(path) ? "archive" : defaultPrefix(for: path))
        try SafeTensorsWriter.checkNames(items.lazy.map(\.entry), file: path)
        try OutputFile.write(to: path, replace: replace) { out in try stream(items, ties: ties, recordPrefix: prefix, to: out) }
    }

    /// Copies every tensor of `archive` into a torch checkpoint at `path`, keeping ties of a torch source.
    public static func write(archive: TensorArchive, to path: String, recordPrefix: String? = nil) throws {
        let items = archive.entries.map { SafeTensorsWriter.Item.copy($0, from: archive) }
        try write(items, ties: (archive as? TorchCheckpoint)?.ties ?? [:], to: path, recordPrefix: recordPrefix)
    }

    /// torch's record prefix for a path: the base name without its last extension (`archive` if empty).
    public static func defaultPrefix(for path: String) -> String {
        var base = String(path.split(separator: "/").last ?? "")
        if let dot = base.lastIndex(of: "."), dot != base.startIndex { base = String(base[..<dot]) }
        return base.isEmpty ? "archive" : base
    }

    /// The `data.pkl` bytes for `items` (storage keys `0…N-1` in item order, tied items sharing one).
    static func pickle(_ items: [SafeTensorsWriter.Item], ties: [String: String], file: String) throws -> (pickle: [UInt8], storageOf: [Int]) {
        try SafeTensorsWriter.checkNames(items.lazy.map(\.entry), file: file)
        var p = PickleWriter()
        p.op(0x7D)  // EMPTY_DICT
        _ = p.put()
        var storageOf: [Int] = []
        var tensorMemo: [String: Int] = [:]
        var position: [String: Int] = [:]
        var nextStorage = 0
        var batchStart = 0
        func openBatch() {
            let remaining = items.count - batchStart
            if remaining > 1 { p.op(0x28) }
        }
        if !items.isEmpty { openBatch() }
        for (i, item) in items.enumerated() {
            let e = item.entry
            guard position[e.name] == nil else {
                throw InputError(.duplicateTensor, file: file, key: e.name, "two tensors with the same name")
            }
            position[e.name] = i
            p.string(e.name)
            if let target = ties[e.name] {
                guard let j = position[target], let memo = tensorMemo[target] else {
                    throw InputError(.invalidStructure, file: file, key: e.name, "tied to '\(target)', which is not written before it")
                }
                guard items[j].entry.dtype == e.dtype, items[j].entry.shape == e.shape else {
                    throw InputError(.invalidStructure, file: file, key: e.name, "tied to '\(target)' but dtype or shape differ")
                }
                p.get(memo)
                tensorMemo[e.name] = memo
                storageOf.append(storageOf[j])
            } else {
                guard let t = TorchDType(e.dtype) else {
                    throw InputError(.unknownDType, file: file, key: e.name, "torch has no dtype for \(e.dtype.rawValue)")
                }
                let key = nextStorage
                nextStorage += 1
                storageOf.append(key)
                let v3 = t.storageClass == nil
                p.global("torch._utils", v3 ? "_rebuild_tensor_v3" : "_rebuild_tensor_v2")
                p.op(0x28)  // MARK (args)
                p.op(0x28)  // MARK (persistent id)
                p.string("storage")
                if v3 { p.global("torch.storage", "UntypedStorage") } else { p.global("torch", t.storageClass!) }
                p.string(String(key))
                p.string("cpu")
                p.int(v3 ? e.byteCount : e.elementCount)
                p.op(0x74)  // TUPLE
                _ = p.put()
                p.op(0x51)  // BINPERSID
                p.int(0)
                p.intTuple(e.shape)
                var strides = [Int](repeating: 1, count: e.shape.count)
                var acc = 1
                for d in stride(from: e.shape.count - 1, through: 0, by: -1) {
                    strides[d] = acc
                    // torch's contiguous strides multiply by max(size, 1). Only a tensor of no elements can overflow here
                    // (torch.empty refuses such a shape; empty_strided makes one): its strides are never used, keep the last.
                    let (m, o) = acc.multipliedReportingOverflow(by: max(e.shape[d], 1))
                    if !o { acc = m }
                }
                p.intTuple(strides)
                p.op(0x89)  // NEWFALSE
                p.global("collections", "OrderedDict")
                p.op(0x29)  // EMPTY_TUPLE
                p.op(0x52)  // REDUCE
                _ = p.put()
                if v3 { p.global("torch", t.torchAttribute) }
                p.op(0x74)  // TUPLE
                _ = p.put()
                p.op(0x52)  // REDUCE
                tensorMemo[e.name] = p.put()
            }
            // CPython's _batch_setitems: batches of 1000, SETITEMS for more than one item, SETITEM for one.
            let inBatch = i - batchStart + 1
            if inBatch == 1000 || i == items.count - 1 {
                p.op(inBatch > 1 ? 0x75 : 0x73)
                batchStart = i + 1
                if i < items.count - 1 { openBatch() }
            }
        }
        p.op(0x2E)  // STOP
        return (p.bytes, storageOf)
    }

    /// Streams the checkpoint into an open writer.
    public static func stream(_ items: [SafeTensorsWriter.Item], ties: [String: String], recordPrefix prefix: String, to out: FileWriter) throws {
        let (pkl, storageOf) = try pickle(items, ties: ties, file: out.path)
        var z = TorchZipWriter(out: out)
        try z.add(prefix + "/data.pkl", bytes: pkl)
        try z.add(prefix + "/.format_version", bytes: Array("1".utf8))
        try z.add(prefix + "/.storage_alignment", bytes: Array("64".utf8))
        try z.add(prefix + "/byteorder", bytes: Array("little".utf8))
        var written = Set<Int>()
        var idCRC = CRC32()
        for (i, item) in items.enumerated() where written.insert(storageOf[i]).inserted {
            try z.add(prefix + "/data/\(storageOf[i])", size: item.entry.byteCount) { sink in
                try item.produce { chunk in
                    try sink(chunk)
                }
            }
        }
        try z.add(prefix + "/version", bytes: Array("3\n".utf8))
        // torch writes 40 random digits; these are derived from the pickle so that output is reproducible.
        pkl.withUnsafeBytes { idCRC.update($0) }
        var state = UInt64(idCRC.value) | UInt64(items.count) << 32
        var digits: [UInt8] = []
        for _ in 0..<40 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            digits.append(UInt8(ascii: "0") + UInt8((state >> 33) % 10))
        }
        try z.add(prefix + "/.data/serialization_id", bytes: digits)
        try z.finish()
    }
}
