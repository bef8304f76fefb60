import SentinelCore

/// A PyTorch checkpoint (`torch.save` output): the zip format (torch ≥ 1.6, `pytorch_model.bin`) or
/// the legacy non-zip format, memory-mapped and read with the ``RestrictedUnpickler``.
///
/// Opening validates everything that reading a tensor later relies on: every storage record exists and
/// has the size its persistent id declares, and every tensor view (offset, size, stride) stays inside
/// its storage. Nothing in the file is ever executed. Layout notes: `Formats/pytorch.md`.
///
/// As a ``TensorArchive`` it lists the tensors whose dtype safetensors can hold (all but C128, see
/// ``unrepresentable``), named by their path in the pickled object joined with `/` (a top-level
/// `state_dict` key stays as is: `embeddings.word_embeddings.weight`; a nested one becomes
/// `model/embed.weight`). ``withBytes(of:_:)`` hands out a view into the mapping for a contiguous
/// little-endian tensor whose record is stored uncompressed, and materialises any other layout
/// (strided, expanded, big-endian) into a temporary contiguous little-endian buffer.
public final class TorchCheckpoint: TensorArchive, @unchecked Sendable {
    /// One tensor of the checkpoint, with its name and its path in the pickled object.
    public struct Item {
        public var name: String
        public var path: [String]
        public var tensor: TorchTensor
        /// The tensor's description as a ``TensorEntry`` (nil for C128).
        public var entry: TensorEntry? {
            tensor.dtype.dtype.map { TensorEntry(name: name, dtype: $0, shape: tensor.shape) }
        }
    }

    /// A tensor-free value of the checkpoint (`epoch`, `lr`, a config dict, …) at its path.
    public struct Value {
        public var path: [String]
        public var value: PickleValue
    }

    /// Where a storage's bytes are.
    enum StorageLocation {
        case zip(ZipReader.Entry)
        /// Legacy format: file offset and length of the raw bytes.
        case file(offset: Int, count: Int)
    }

    /// Limits on what opening accepts beyond the pickle's own (``PickleLimits``).
    public struct Limits: Sendable {
        public var pickle = PickleLimits.default
        /// A tensor with more elements than its storage (zero strides, `expand`) may materialise to at
        /// most this many bytes.
        public var maxExpandedTensorBytes = 1 << 30
        /// Nesting of the pickled object.
        public var maxNesting = 200
        /// Values in the pickled object counted as a tree (an object reached twice counts twice): bounds
        /// the work of walking and describing a small pickle that shares sub-objects exponentially.
        public var maxTreeValues = 5_000_000
        /// Largest `data.pkl` record, uncompressed (a deflated one is refused before it is inflated past this).
        public var maxPickleBytes = 256 << 20
        public init() {}
        public static let `default` = Limits()
    }

    public let path: String
    public let file: MappedFile
    /// `true` for the zip format, `false` for the legacy one.
    public let isZip: Bool
    public var formatName: String { isZip ? "pytorch-zip" : "pytorch-legacy" }
    /// The pickled object.
    public let root: PickleValue
    /// Every tensor in pickle order.
    public let items: [Item]
    /// Maximal tensor-free values below the root, in pickle order (what `inspect` shows besides tensors).
    public let values: [Value]
    /// Storages in first-use order.
    public let storages: [TorchStorage]
    /// Whether the storages hold big-endian values (zip record `byteorder` = `big`, or legacy
    /// `sys_info.little_endian` = False); they are converted when read.
    public let isBigEndian: Bool
    /// Zip: the top folder (`archive`, `pytorch_model`, …). Legacy: `nil`.
    public let recordPrefix: String?
    /// Small text records of a zip checkpoint (`version`, `byteorder`, `.format_version`,
    /// `.storage_alignment`, `.data/serialization_id`, `.data/version`) as found.
    public let records: [(name: String, text: String)]
    /// Protocol of the main pickle and the globals it used.
    public let pickleProtocol: Int?
    public let pickleGlobals: [String]
    /// Names of tensors whose dtype has no safetensors equivalent (left out of ``entries``).
    public let unrepresentable: [String]

    let locations: [String: StorageLocation]
    let zipReader: ZipReader?
    private let index: [String: Int]

    /// The tensors as ``TensorEntry`` values, in pickle order (C128 tensors left out, see ``unrepresentable``).
    public let entries: [TensorEntry]

    /// Opens and validates a checkpoint.
    /// - Throws: ``InputError`` (exit 65): `.unsafe` for a global outside the allow-list, `.truncated`
    ///   for a cut pickle or file, `.missing` for an absent record, `.sizeMismatch` for a storage record
    ///   shorter (or longer) than its persistent id, `.outOfRange` for a view outside its storage,
    ///   `.unknownFormat`/`.gitLFSPointer` for something else; ``OutputError`` (exit 74) when unreadable.
    public convenience init(path: String, limits: Limits = .default) throws {
        try self.init(file: MappedFile(path: path), limits: limits)
    }

    public init(file: MappedFile, limits: Limits = .default) throws {
        self.file = file
        self.path = file.path
        let path = file.path
        let bytes = file.bytes
        try TensorFormat.refuseNonCheckpoint(bytes, path: file.path)
        var locations: [String: StorageLocation] = [:]
        var records: [(String, String)] = []
        let root: PickleValue
        var unpickler: RestrictedUnpickler
        if bytes.count >= 2 && bytes[0] == 0x50 && bytes[1] == 0x4B {
            isZip = true
            let zip = try ZipReader(file: file)
            self.zipReader = zip
            guard let first = zip.entries.first, let slash = first.name.firstIndex(of: "/") else {
                throw InputError(.missing, file: path, "the zip archive has no top folder with a data.pkl: not a torch checkpoint")
            }
            let prefix = String(first.name[..<slash])
            recordPrefix = prefix
            guard let pkl = zip.entry(named: prefix + "/data.pkl") else {
                throw InputError(
                    .missing, file: path, key: prefix + "/data.pkl",
                    "record \(prefix)/data.pkl is missing: a zip archive, but not a torch checkpoint")
            }
            for name in ["version", ".format_version", ".storage_alignment", "byteorder", ".data/version", ".data/serialization_id"] {
                guard let e = zip.entry(named: prefix + "/" + name) else { continue }
                guard e.size <= 4096 else {
                    throw InputError(.outOfRange, file: path, key: e.name, "record of \(e.size) bytes where a short text is expected")
                }
                let text = try zip.withBytes(of: e) { String(decoding: $0, as: UTF8.self) }
                records.append((name, text))
            }
            let order = records.first { $0.0 == "byteorder" }?.1 ?? "little"
            guard order == "little" || order == "big" else {
                throw InputError(
                    .invalidStructure, file: path, key: prefix + "/byteorder", "byteorder record is '\(order.prefix(20))', expected little or big")
            }
            isBigEndian = order == "big"
            unpickler = RestrictedUnpickler(file: path, record: pkl.name, fileOffset: pkl.dataOffset, limits: limits.pickle)
            root = try zip.withBytes(of: pkl, limit: limits.maxPickleBytes) { raw in
                let (v, end) = try unpickler.load(raw)
                guard end == raw.count else {
                    throw InputError(
                        .invalidStructure, file: path, offset: pkl.dataOffset.map { $0 + end }, key: pkl.name,
                        "\(raw.count - end) bytes after the pickle's STOP")
                }
                return v
            }
            for s in unpickler.storages {
                let name = prefix + "/data/" + s.key
                guard let e = zip.entry(named: name) else {
                    throw InputError(
                        .missing, file: path, key: name,
                        "storage record \(name) is missing (the pickle refers to storage '\(s.key)')")
                }
                guard e.size == s.byteCount else {
                    throw InputError(
                        .sizeMismatch, file: path, offset: e.dataOffset, key: name,
                        "storage record \(name) holds \(e.size) bytes but storage '\(s.key)' needs \(s.byteCount) "
                            + "(\(s.numelInPersistentID) × \(s.elementType.byteWidth)-byte \(s.storageClass) elements)"
                            + (e.size < s.byteCount ? ": short storage record (file damaged or truncated)" : ""))
                }
                locations[s.key] = .zip(e)
            }
        } else {
            isZip = false
            zipReader = nil
            recordPrefix = nil
            var (r, little, u, end) = try Self.readLegacyHead(bytes, path: path, limits: limits.pickle)
            root = r
            unpickler = u
            isBigEndian = !little
            // Storage keys, then per key an int64 element count and the raw bytes.
            var keyReader = RestrictedUnpickler(file: path, fileOffset: 0, limits: limits.pickle)
            let (keysV, afterKeys) = try keyReader.load(bytes, from: end)
            guard let keyList = keysV.sequence else {
                throw InputError(.invalidStructure, file: path, offset: end, "legacy checkpoint: the storage key list is a \(keysV.typeName)")
            }
            end = afterKeys
            let byKey = Dictionary(unpickler.storages.map { ($0.key, $0) }, uniquingKeysWith: { a, _ in a })
            for k in keyList {
                guard case let .string(key) = k, let s = byKey[key] else {
                    throw InputError(
                        .invalidStructure, file: path, offset: end, "legacy checkpoint: storage key list names a storage the pickle does not use")
                }
                guard bytes.count - end >= 8 else {
                    throw InputError(.truncated, file: path, offset: end, key: key, "the file ends before storage '\(key)' (truncated download?)")
                }
                let numel = Int64(littleEndian: bytes.loadUnaligned(fromByteOffset: end, as: Int64.self))
                guard numel == Int64(s.numelInPersistentID) else {
                    throw InputError(
                        .sizeMismatch, file: path, offset: end, key: key,
                        "storage '\(key)' has \(numel) elements in the file but \(s.numelInPersistentID) in its persistent id")
                }
                end += 8
                guard bytes.count - end >= s.byteCount else {
                    throw InputError(
                        .truncated, file: path, offset: end, key: key,
                        "storage '\(key)' needs \(s.byteCount) bytes, the file has \(bytes.count - end) left (truncated download?)")
                }
                locations[key] = .file(offset: end, count: s.byteCount)
                end += s.byteCount
            }
            for s in unpickler.storages where locations[s.key] == nil {
                throw InputError(.missing, file: path, key: s.key, "legacy checkpoint: storage '\(s.key)' has no data after the pickle")
            }
        }
        self.root = root
        self.records = records
        self.locations = locations
        self.storages = unpickler.storages
        self.pickleProtocol = unpickler.protocolVersion
        self.pickleGlobals = unpickler.globalsSeen

        // Name the tensors and find the tensor-free values.
        var flat = Flattener(file: path, maxNesting: limits.maxNesting)
        var budget = limits.maxTreeValues
        try flat.count(root, budget: &budget, depth: 0)
        try flat.walk(root, path: [], record: true, depth: 0)
        var index: [String: Int] = [:]
        for (i, item) in flat.items.enumerated() {
            if let j = index[item.name], flat.items[j].tensor !== item.tensor {
                throw InputError(.duplicateTensor, file: path, key: item.name, "two different tensors have the name '\(item.name)'")
            }
            if index[item.name] == nil { index[item.name] = i }
        }
        self.items = flat.items
        self.entries = flat.items.compactMap(\.entry)
        self.values = flat.values
        self.index = index
        self.unrepresentable = flat.items.filter { $0.tensor.dtype.dtype == nil }.map(\.name)

        for item in items { try Self.checkView(item, limits: limits, path: path) }
    }

    /// Reads the three leading pickles of a legacy file and the main pickle.
    private static func readLegacyHead(_ bytes: UnsafeRawBufferPointer, path: String, limits: PickleLimits)
        throws -> (PickleValue, Bool, RestrictedUnpickler, Int)
    {
        var head = RestrictedUnpickler(file: path, fileOffset: 0, limits: limits)
        let (magic, a) = try head.load(bytes)
        let expected: [UInt8] = [0x6C, 0xFC, 0x9C, 0x46, 0xF9, 0x20, 0x6A, 0xA8, 0x50, 0x19]  // 0x1950a86a20f9469cfc6c
        guard case let .bigInt(m) = magic, m == expected else {
            throw InputError(
                .unknownFormat, file: path, offset: 0,
                "a bare pickle (a \(magic.typeName)), not a torch checkpoint: torch.save output is a zip archive, or a legacy file "
                    + "that starts with torch's magic number 0x1950a86a20f9469cfc6c; save the weights with torch.save(model.state_dict(), path)")
        }
        let (proto, b) = try head.load(bytes, from: a)
        guard case .int(1001) = proto else {
            throw InputError(
                .unknownFormat, file: path, offset: a,
                "legacy torch checkpoint with protocol version \(proto.intValue.map(String.init) ?? "?"), expected 1001")
        }
        let (sysInfo, c) = try head.load(bytes, from: b)
        var little = true
        if case let .dict(d) = sysInfo {
            for (k, v) in d.items {
                if case .string("little_endian") = k, case let .bool(l) = v { little = l }
            }
        } else {
            throw InputError(.invalidStructure, file: path, offset: b, "legacy torch checkpoint: sys_info is a \(sysInfo.typeName), not a dict")
        }
        var main = RestrictedUnpickler(file: path, fileOffset: 0, limits: limits)
        let (root, end) = try main.load(bytes, from: c)
        return (root, little, main, end)
    }

    /// Refuses a view that reaches outside its storage or expands to too many bytes.
    private static func checkView(_ item: Item, limits: Limits, path: String) throws {
        let t = item.tensor
        let w = t.dtype.byteWidth
        func fail(_ msg: String) -> InputError {
            InputError(.outOfRange, file: path, key: item.name, "tensor '\(item.name)' (storage '\(t.storage.key)'): " + msg)
        }
        guard let contiguousBytes = byteCount(shape: t.shape, width: w) else {
            throw fail("shape \(t.shape) overflows")
        }
        if contiguousBytes == 0 { return }
        var last = t.storageOffset
        for (s, st) in Swift.zip(t.shape, t.strides) {
            let (m, o1) = (s - 1).multipliedReportingOverflow(by: st)
            let (sum, o2) = last.addingReportingOverflow(m)
            guard !o1, !o2 else { throw fail("strides \(t.strides) overflow") }
            last = sum
        }
        let available = t.storage.byteCount / w
        guard last < available else {
            throw fail(
                "the view (offset \(t.storageOffset), size \(t.shape), stride \(t.strides)) reaches element \(last) of a storage "
                    + "that holds \(available) \(t.dtype.rawValue) elements")
        }
        if contiguousBytes > t.storage.byteCount && contiguousBytes > limits.maxExpandedTensorBytes {
            throw fail("the view expands \(t.storage.byteCount) stored bytes to \(contiguousBytes) (limit \(limits.maxExpandedTensorBytes))")
        }
    }

    static func byteCount(shape: [Int], width: Int) -> Int? {
        guard let n = Sentinel.elementCount(shape: shape) else { return nil }
        let (m, o) = n.multipliedReportingOverflow(by: width)
        return o ? nil : m
    }

    // MARK: Reading

    /// The item named `name`, or `nil`.
    public func item(named name: String) -> Item? { index[name].map { items[$0] } }

    /// Checks the CRC-32 of every zip record against the central directory (stored records are read in place
    /// without it; `inspect --stats` and `verify` call this). Returns the number of records checked (0 for
    /// the legacy format, which has no checksums).
    /// - Throws: ``InputError`` `.checksumMismatch` for the first record that differs.
    @discardableResult
    public func checkRecordCRCs() throws -> Int {
        guard let zipReader else { return 0 }
        for e in zipReader.entries { try zipReader.checkCRC(of: e) }
        return zipReader.entries.count
    }

    /// Calls `body` with the raw bytes of a storage record, as stored (byte order of the file).
    public func withStorageBytes<R>(_ storage: TorchStorage, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        switch locations[storage.key] {
        case let .zip(e)?: return try zipReader!.withBytes(of: e, body)
        case let .file(offset, count)?: return try body(UnsafeRawBufferPointer(rebasing: file.bytes[offset..<(offset + count)]))
        case nil: throw InputError(.missing, file: path, key: storage.key, "no storage '\(storage.key)'")
        }
    }

    public func withBytes<R>(of name: String, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        guard let item = item(named: name) else {
            throw InputError(.missing, file: path, key: name, "no tensor of that name")
        }
        return try withBytes(of: item.tensor, body)
    }

    /// Calls `body` with the tensor's contiguous row-major little-endian bytes.
    public func withBytes<R>(of t: TorchTensor, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        let w = t.dtype.byteWidth
        let n = t.elementCount * w
        return try withStorageBytes(t.storage) { raw in
            if n == 0 { return try body(UnsafeRawBufferPointer(start: raw.baseAddress, count: 0)) }
            if t.isContiguous && !isBigEndian {
                let start = t.storageOffset * w
                return try body(UnsafeRawBufferPointer(rebasing: raw[start..<(start + n)]))
            }
            let out = UnsafeMutableRawBufferPointer.allocate(byteCount: n, alignment: 64)
            defer { out.deallocate() }
            StridedCopy.gather(
                from: raw.baseAddress!, to: out.baseAddress!, shape: t.shape, strides: t.strides,
                offset: t.storageOffset, width: w)
            if isBigEndian { StridedCopy.swapBytes(out, unit: t.dtype.swapWidth) }
            return try body(UnsafeRawBufferPointer(out))
        }
    }

    /// Groups of names that are one tensor object in the pickle (tied weights), in pickle order.
    public var sameObjectGroups: [[String]] {
        var groups: [ObjectIdentifier: [String]] = [:]
        var order: [ObjectIdentifier] = []
        for item in items {
            let id = ObjectIdentifier(item.tensor)
            if groups[id] == nil { order.append(id) }
            groups[id, default: []].append(item.name)
        }
        return order.compactMap { groups[$0]!.count > 1 ? groups[$0] : nil }
    }

    /// For every tensor that is the same object as an earlier one, or the same view of the same storage
    /// (storage key, offset, shape, strides and dtype), that earlier name: the writers keep the tie.
    ///
    /// The second kind is how real tied weights arrive: `state_dict()` detaches each parameter into a new
    /// tensor object, so a `BertForMaskedLM` checkpoint's `cls.predictions.decoder.weight` is another object
    /// over the storage of `bert.embeddings.word_embeddings.weight` (and `cls.predictions.decoder.bias` over
    /// that of `cls.predictions.bias`). Views that differ (t03's `view_a`/`view_b`) are not ties.
    public var ties: [String: String] {
        struct View: Hashable {
            let key: String, offset: Int, shape: [Int], strides: [Int], dtype: String
        }
        var out: [String: String] = [:]
        for g in sameObjectGroups { for n in g.dropFirst() { out[n] = g[0] } }
        var first: [View: String] = [:]
        for item in items where out[item.name] == nil {
            let t = item.tensor
            let view = View(key: t.storage.key, offset: t.storageOffset, shape: t.shape, strides: t.strides, dtype: t.dtype.rawValue)
            if let earlier = first[view] {
                if item.tensor !== self.item(named: earlier)?.tensor { out[item.name] = earlier }
            } else {
                first[view] = item.name
            }
        }
        return out
    }
}

/// Walks the pickled object: names tensors by path and collects maximal tensor-free values.
struct Flattener {
    let file: String
    let maxNesting: Int
    var items: [TorchCheckpoint.Item] = []
    var values: [TorchCheckpoint.Value] = []
    private var onPath = Set<ObjectIdentifier>()
    private var hasTensorCache: [ObjectIdentifier: Bool] = [:]

    init(file: String, maxNesting: Int) {
        self.file = file
        self.maxNesting = maxNesting
    }

    static func component(_ key: PickleValue) -> String {
        switch key {
        case let .string(s): s
        case let .int(i): String(i)
        case let .bool(b): b ? "True" : "False"
        case let .float(d): String(d)
        case .none: "None"
        default: key.typeName
        }
    }

    private func identity(_ v: PickleValue) -> ObjectIdentifier? {
        switch v {
        case let .list(l): ObjectIdentifier(l)
        case let .dict(d): ObjectIdentifier(d)
        default: nil
        }
    }

    /// Counts the values of the object as a tree (attributes included), failing past `budget`.
    func count(_ v: PickleValue, budget: inout Int, depth: Int) throws {
        budget -= 1
        guard budget >= 0 else {
            throw InputError(.outOfRange, file: file, "the pickled object expands to too many values through shared references")
        }
        guard depth <= maxNesting else {
            throw InputError(.outOfRange, file: file, "the pickled object is nested more than \(maxNesting) levels deep")
        }
        switch v {
        case let .tuple(t): for e in t { try count(e, budget: &budget, depth: depth + 1) }
        case let .list(l): for e in l.items { try count(e, budget: &budget, depth: depth + 1) }
        case let .dict(d):
            for (k, e) in d.items {
                try count(k, budget: &budget, depth: depth + 1)
                try count(e, budget: &budget, depth: depth + 1)
            }
            for (_, e) in d.attributes { try count(e, budget: &budget, depth: depth + 1) }
        default: break
        }
    }

    mutating func containsTensor(_ v: PickleValue, depth: Int) throws -> Bool {
        guard depth <= maxNesting else {
            throw InputError(.outOfRange, file: file, "the pickled object is nested more than \(maxNesting) levels deep")
        }
        let id = identity(v)
        if let id, let c = hasTensorCache[id] { return c }
        if let id {
            guard !onPath.contains(id) else {
                throw InputError(.invalidStructure, file: file, "the pickled object contains itself (a reference cycle)")
            }
            onPath.insert(id)
        }
        defer { if let id { onPath.remove(id) } }
        var result = false
        switch v {
        case .tensor: result = true
        case let .tuple(t):
            for e in t where try containsTensor(e, depth: depth + 1) {
                result = true
                break
            }
        case let .list(l):
            for e in l.items where try containsTensor(e, depth: depth + 1) {
                result = true
                break
            }
        case let .dict(d):
            for (_, e) in d.items where try containsTensor(e, depth: depth + 1) {
                result = true
                break
            }
        default: break
        }
        if let id { hasTensorCache[id] = result }
        return result
    }

    mutating func walk(_ v: PickleValue, path: [String], record: Bool, depth: Int) throws {
        var record = record
        if case let .tensor(t) = v {
            items.append(.init(name: path.isEmpty ? "tensor" : path.joined(separator: "/"), path: path, tensor: t))
            return
        }
        if record && !path.isEmpty, try !containsTensor(v, depth: depth) {
            values.append(.init(path: path, value: v))
            record = false
        }
        guard depth <= maxNesting else {
            throw InputError(.outOfRange, file: file, "the pickled object is nested more than \(maxNesting) levels deep")
        }
        switch v {
        case let .dict(d):
            for (k, e) in d.items { try walk(e, path: path + [Self.component(k)], record: record, depth: depth + 1) }
        case let .tuple(t):
            for (i, e) in t.enumerated() { try walk(e, path: path + [String(i)], record: record, depth: depth + 1) }
        case let .list(l):
            _ = try containsTensor(v, depth: depth)  // cycle check before walking
            for (i, e) in l.items.enumerated() { try walk(e, path: path + [String(i)], record: record, depth: depth + 1) }
        default: break
        }
    }
}

/// Copies of strided views and byte-order conversion.
enum StridedCopy {
    /// Gathers the elements of a strided view (`offset`, `shape`, `strides` in elements of `width`
    /// bytes) into a packed row-major buffer. The caller has checked that every index is in bounds.
    static func gather(from src: UnsafeRawPointer, to dst: UnsafeMutableRawPointer, shape: [Int], strides: [Int], offset: Int, width w: Int) {
        let rank = shape.count
        if rank == 0 {
            dst.copyMemory(from: src + offset * w, byteCount: w)
            return
        }
        let inner = shape[rank - 1], innerStride = strides[rank - 1]
        var outer = 1
        for d in shape.dropLast() { outer *= d }
        var idx = [Int](repeating: 0, count: rank - 1)
        var base = offset
        var out = dst
        for _ in 0..<outer {
            if innerStride == 1 {
                out.copyMemory(from: src + base * w, byteCount: inner * w)
                out += inner * w
            } else {
                var s = src + base * w
                let step = innerStride * w
                switch w {
                case 1:
                    for _ in 0..<inner {
                        out.storeBytes(of: s.load(as: UInt8.self), as: UInt8.self)
                        out += 1
                        s += step
                    }
                case 2:
                    for _ in 0..<inner {
                        out.storeBytes(of: s.loadUnaligned(as: UInt16.self), as: UInt16.self)
                        out += 2
                        s += step
                    }
                case 4:
                    for _ in 0..<inner {
                        out.storeBytes(of: s.loadUnaligned(as: UInt32.self), as: UInt32.self)
                        out += 4
                        s += step
                    }
                case 8:
                    for _ in 0..<inner {
                        out.storeBytes(of: s.loadUnaligned(as: UInt64.self), as: UInt64.self)
                        out += 8
                        s += step
                    }
                default:
                    for _ in 0..<inner {
                        out.copyMemory(from: s, byteCount: w)
                        out += w
                        s += step
                    }
                }
            }
            var d = rank - 2
            while d >= 0 {
                idx[d] += 1
                base += strides[d]
                if idx[d] < shape[d] { break }
                base -= strides[d] * shape[d]
                idx[d] = 0
                d -= 1
            }
        }
    }

    /// Reverses the bytes of every `unit`-byte value in place.
    static func swapBytes(_ buf: UnsafeMutableRawBufferPointer, unit: Int) {
        guard unit > 1, let p = buf.baseAddress else { return }
        var i = 0
        while i + unit <= buf.count {
            switch unit {
            case 2: (p + i).storeBytes(of: (p + i).loadUnaligned(as: UInt16.self).byteSwapped, as: UInt16.self)
            case 4: (p + i).storeBytes(of: (p + i).loadUnaligned(as: UInt32.self).byteSwapped, as: UInt32.self)
            case 8: (p + i).storeBytes(of: (p + i).loadUnaligned(as: UInt64.self).byteSwapped, as: UInt64.self)
            default:
                var a = i, b = i + unit - 1
                while a < b {
                    let t = p.load(fromByteOffset: a, as: UInt8.self)
                    p.storeBytes(of: p.load(fromByteOffset: b, as: UInt8.self), toByteOffset: a, as: UInt8.self)
                    p.storeBytes(of: t, toByteOffset: b, as: UInt8.self)
                    a += 1
                    b -= 1
                }
            }
            i += unit
        }
    }
}
