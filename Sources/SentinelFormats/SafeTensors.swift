import SentinelCore

/// Reader and writer for the safetensors format.
///
/// Layout (spec: https://github.com/huggingface/safetensors#format): an unsigned 64-bit little-endian
/// header length `N`, `N` bytes of UTF-8 JSON (`{"__metadata__": {str: str}, name: {"dtype", "shape",
/// "data_offsets": [begin, end)}}`), then the data section. See `Formats/safetensors.md` for what
/// Sentinel accepts and rejects, and why.
public final class SafeTensorsFile: TensorArchive, @unchecked Sendable {
    /// Largest accepted header, in bytes (the reference crate's `MAX_HEADER_SIZE`).
    public static let maxHeaderLength = 100_000_000
    /// Most entries (tensors and `__metadata__`) accepted in one header: reading costs about 1 KB of memory and
    /// 2 µs per entry, and the largest real single files hold a few thousand tensors. A 68 MB header of 1 M
    /// empty tensors is refused before it is parsed.
    public static let maxTensors = 200_000

    /// One tensor as the header describes it.
    public struct Tensor: Sendable, Equatable {
        public var entry: TensorEntry
        /// `[begin, end)` relative to ``SafeTensorsFile/dataStart``.
        public var dataOffsets: Range<Int>
        public var name: String { entry.name }
        public var dtype: DType { entry.dtype }
        public var shape: [Int] { entry.shape }
    }

    public let path: String
    public var formatName: String { "safetensors" }
    public let file: MappedFile
    /// The header length field `N`.
    public let headerLength: Int
    /// Absolute offset of the data section: `8 + N`.
    public var dataStart: Int { 8 + headerLength }
    /// `__metadata__`, in header order, or `nil` when absent.
    public let metadata: [(String, String)]?
    /// Tensors in header order.
    public let tensors: [Tensor]
    public var entries: [TensorEntry] { tensors.map(\.entry) }
    private let index: [String: Int]

    /// Opens and fully validates `path` (memory-mapped; only the header is read).
    /// - Throws: ``InputError`` (exit 65) for a malformed file, ``OutputError`` (exit 74) when it cannot be read.
    public convenience init(path: String) throws {
        try self.init(file: MappedFile(path: path))
    }

    /// Validates an already mapped file.
    public init(file: MappedFile) throws {
        self.file = file
        self.path = file.path
        let (n, metadata, tensors) = try Self.parse(file.bytes, path: file.path)
        self.headerLength = n
        self.metadata = metadata
        self.tensors = tensors
        var index: [String: Int] = [:]
        for (i, t) in tensors.enumerated() { index[t.name] = i }
        self.index = index
    }

    /// The tensor named `name`, or `nil`.
    public func tensor(named name: String) -> Tensor? { index[name].map { tensors[$0] } }

    /// The tensor's bytes, a view into the mapping (valid while `self` lives).
    public func bytes(of tensor: Tensor) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: file.bytes[(dataStart + tensor.dataOffsets.lowerBound)..<(dataStart + tensor.dataOffsets.upperBound)])
    }

    public func withBytes<R>(of name: String, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        guard let t = tensor(named: name) else {
            throw InputError(.missing, file: path, key: name, "no tensor of that name")
        }
        return try body(bytes(of: t))
    }

    public func fileRange(of name: String) -> FileRange? {
        guard let t = tensor(named: name) else { return nil }
        return FileRange(path: path, offset: dataStart + t.dataOffsets.lowerBound)
    }

    public func releaseBytes(of name: String) {
        guard let t = tensor(named: name) else { return }
        file.evict((dataStart + t.dataOffsets.lowerBound)..<(dataStart + t.dataOffsets.upperBound))
    }

    // MARK: Validation

    static func parse(_ bytes: UnsafeRawBufferPointer, path: String, maxTensors: Int = maxTensors) throws -> (
        Int, [(String, String)]?, [Tensor]
    ) {
        func fail(_ code: InputError.Code, _ offset: Int?, _ key: String?, _ msg: String) -> InputError {
            InputError(code, file: path, offset: offset, key: key, msg)
        }
        guard bytes.count >= 8 else {
            throw fail(.fileTooSmall, 0, nil, "file is \(bytes.count) bytes; a safetensors file starts with an 8-byte header length")
        }
        let n64 = bytes.loadUnaligned(as: UInt64.self).littleEndian
        guard n64 <= UInt64(maxHeaderLength) else {
            throw fail(.headerTooLarge, 0, nil, "header length \(n64) is over the limit of \(maxHeaderLength) bytes")
        }
        let n = Int(n64)
        guard n <= bytes.count - 8 else {
            throw fail(.headerOutOfBounds, 0, nil, "header length \(n) reaches past the end of the file (\(bytes.count) bytes)")
        }
        let header = UnsafeRawBufferPointer(rebasing: bytes[8..<(8 + n)])
        if let bad = firstInvalidUTF8(header) {
            throw fail(.headerNotUTF8, 8 + bad, nil, "header is not valid UTF-8")
        }
        let scan = scanHeader(header)
        if let at = scan.controlByte {
            let byte = header[at]
            if !scan.controlInString && header[at...].allSatisfy({ $0 == 0 }) {
                throw fail(
                    .notJSON, 8 + at, nil,
                    "the header is padded with NUL bytes from byte \(8 + at) on: only JSON whitespace (spaces) may pad a safetensors header")
            }
            throw fail(
                .notJSON, 8 + at, nil,
                scan.controlInString
                    ? "header is not valid JSON: raw control character 0x\(String(byte, radix: 16)) inside a string (JSON requires it escaped as \\u00XX)"
                    : "header is not valid JSON: control character 0x\(String(byte, radix: 16)) where only JSON whitespace may be")
        }
        if scan.topLevelEntries > maxTensors {
            throw fail(.outOfRange, 8, nil, "the header has \(scan.topLevelEntries) entries; the limit is \(maxTensors) tensors per file")
        }
        let json: JSONValue
        do { json = try JSONValue.parse(header) } catch let e as JSONValue.ParseError {
            throw fail(.notJSON, 8 + e.offset, nil, "header is not valid JSON: \(e.reason)")
        }
        guard case let .object(members) = json else {
            throw fail(.invalidStructure, 8, nil, "header must be a JSON object")
        }
        // json-c keeps only the last of duplicated keys; find every key as written to catch them.
        let written = topLevelKeys(header)
        var keyOffset: [String: Int] = [:]
        for (key, at) in written {
            if keyOffset[key] != nil {
                throw fail(.duplicateTensor, 8 + at, key, "name appears twice in the header")
            }
            keyOffset[key] = 8 + at
        }
        var metadata: [(String, String)]? = nil
        var tensors: [Tensor] = []
        tensors.reserveCapacity(members.count)
        for (name, value) in members {
            let at = keyOffset[name]
            if name == "__metadata__" {
                guard case let .object(pairs) = value else {
                    throw fail(.invalidStructure, at, name, "__metadata__ must be an object of strings")
                }
                metadata = try pairs.map { k, v in
                    guard case let .string(s) = v else {
                        throw fail(.invalidStructure, at, "__metadata__.\(k)", "metadata values must be strings")
                    }
                    return (k, s)
                }
                continue
            }
            guard case .object = value,
                let dtypeName = value["dtype"]?.stringValue,
                let shapeJSON = value["shape"]?.arrayValue,
                let offsetsJSON = value["data_offsets"]?.arrayValue
            else {
                throw fail(.invalidStructure, at, name, "a tensor entry needs string dtype, array shape and array data_offsets")
            }
            guard let dtype = DType(rawValue: dtypeName) else {
                throw fail(.unknownDType, at, name, "unknown dtype '\(dtypeName)'")
            }
            var shape: [Int] = []
            shape.reserveCapacity(shapeJSON.count)
            for d in shapeJSON {
                switch d {
                case let .int(v) where v >= 0: shape.append(Int(v))
                case .uint:
                    throw fail(.sizeMismatch, at, name, "dimension \(d.serialized()) of the shape overflows a 64-bit size")
                default:
                    throw fail(.invalidStructure, at, name, "shape must hold non-negative integers (found \(d.serialized(.compact)))")
                }
            }
            if shapeOverflowsLeftToRight(shape) {
                throw fail(
                    .sizeMismatch, at, name,
                    "the element count of shape \(shape) overflows a 64-bit size (multiplied left to right, as the reference does)")
            }
            guard offsetsJSON.count == 2, let begin = offsetsJSON[0].intValue, let end = offsetsJSON[1].intValue,
                begin >= 0, end >= begin
            else {
                throw fail(.invalidOffsets, at, name, "data_offsets must be two integers 0 <= begin <= end")
            }
            guard let expected = byteCount(dtype: dtype, shape: shape) else {
                throw fail(.sizeMismatch, at, name, "element count × dtype size overflows or is not a whole number of bytes")
            }
            guard expected == end - begin else {
                throw fail(.sizeMismatch, at, name, "shape \(shape) of \(dtype) needs \(expected) bytes but data_offsets span \(end - begin)")
            }
            tensors.append(Tensor(entry: TensorEntry(name: name, dtype: dtype, shape: shape), dataOffsets: begin..<end))
        }
        // Offsets must tile [0, dataLength) with no gap and no overlap.
        let dataLength = bytes.count - 8 - n
        var next = 0
        for t in tensors.sorted(by: {
            ($0.dataOffsets.lowerBound, $0.dataOffsets.upperBound) < ($1.dataOffsets.lowerBound, $1.dataOffsets.upperBound)
        }) {
            if t.dataOffsets.lowerBound != next {
                let what = t.dataOffsets.lowerBound < next ? "overlaps the previous tensor" : "leaves a gap after the previous tensor"
                throw fail(
                    .invalidOffsets, 8 + n + t.dataOffsets.lowerBound, t.name,
                    "data_offsets [\(t.dataOffsets.lowerBound), \(t.dataOffsets.upperBound)) \(what) (expected begin \(next))")
            }
            next = t.dataOffsets.upperBound
        }
        if next > dataLength {
            throw fail(
                .dataOutOfBounds, 8 + n + dataLength, nil, "tensor data reaches byte \(next) of the data section, which has only \(dataLength)")
        }
        if next < dataLength {
            throw fail(.dataOutOfBounds, 8 + n + next, nil, "\(dataLength - next) bytes after the last tensor are not covered by any tensor")
        }
        return (n, metadata, tensors)
    }

    /// What one pass over the header finds before it is parsed: the first control byte (below 0x20) that JSON
    /// does not allow there, whether it is inside a string, and the number of top-level members.
    static func scanHeader(_ bytes: UnsafeRawBufferPointer) -> (controlByte: Int?, controlInString: Bool, topLevelEntries: Int) {
        var depth = 0, entries = 0, i = 0
        var inString = false
        while i < bytes.count {
            let c = bytes[i]
            if inString {
                if c < 0x20 { return (i, true, entries) }
                if c == UInt8(ascii: "\\") {
                    i += 2
                    continue
                }
                if c == UInt8(ascii: "\"") { inString = false }
            } else {
                switch c {
                case UInt8(ascii: "\""): inString = true
                case UInt8(ascii: "{"), UInt8(ascii: "["): depth += 1
                case UInt8(ascii: "}"), UInt8(ascii: "]"): depth -= 1
                case UInt8(ascii: ":") where depth == 1: entries += 1
                case 0x20, 0x09, 0x0A, 0x0D: break
                case 0..<0x20: return (i, false, entries)
                default: break
                }
            }
            i += 1
        }
        return (nil, false, entries)
    }

    /// Index of the first byte that starts an invalid UTF-8 sequence, or `nil`.
    static func firstInvalidUTF8(_ bytes: UnsafeRawBufferPointer) -> Int? {
        var it = bytes.makeIterator()
        var parser = Unicode.UTF8.ForwardParser()
        var offset = 0
        while true {
            switch parser.parseScalar(from: &it) {
            case let .valid(s): offset += s.count
            case .emptyInput: return nil
            case .error: return offset
            }
        }
    }

    /// The keys of the top-level object as written (duplicates included) with their byte offsets.
    /// Called only on text json-c has accepted, so the scan can be simple.
    static func topLevelKeys(_ bytes: UnsafeRawBufferPointer) -> [(String, Int)] {
        var keys: [(String, Int)] = []
        var depth = 0, i = 0
        var expectKey = false
        while i < bytes.count {
            let c = bytes[i]
            switch c {
            case UInt8(ascii: "{"):
                depth += 1
                expectKey = depth == 1
            case UInt8(ascii: "["): depth += 1
            case UInt8(ascii: "}"), UInt8(ascii: "]"): depth -= 1
            case UInt8(ascii: ","): expectKey = depth == 1
            case UInt8(ascii: "\""):
                let start = i
                i += 1
                while i < bytes.count && bytes[i] != UInt8(ascii: "\"") {
                    i += bytes[i] == UInt8(ascii: "\\") ? 2 : 1
                }
                if expectKey {
                    let raw = UnsafeRawBufferPointer(rebasing: bytes[start...min(i, bytes.count - 1)])
                    if case let .string(key)? = try? JSONValue.parse(raw) { keys.append((key, start)) }
                    expectKey = false
                }
            default: break
            }
            i += 1
        }
        return keys
    }
}

// MARK: - Writing

/// Writes safetensors files the way the reference library does: header keys `dtype`, `shape`,
/// `data_offsets`; `__metadata__` first; tensors ordered by dtype rank (descending) then name; the
/// header padded with spaces to a multiple of 8; data packed with no gaps. Atomic (temporary file,
/// then rename).
public enum SafeTensorsWriter {
    /// Names no writer stores: the empty name and `__metadata__` (a safetensors file's metadata key; a torch
    /// file holding such a tensor could not be converted to safetensors and read back).
    public static let reservedNames: Set<String> = ["", "__metadata__"]

    /// Refuses a reserved tensor name (``reservedNames``) or a name given twice. Every writer calls it before it
    /// creates any file (`ShardedWriter` for all shards before the first one).
    /// - Throws: ``InputError`` `.reservedName` or `.duplicateTensor`, with the name as the key.
    public static func checkNames(_ entries: some Sequence<TensorEntry>, file: String) throws {
        var seen = Set<String>()
        for e in entries {
            if reservedNames.contains(e.name) {
                throw InputError(
                    .reservedName, file: file, key: e.name,
                    e.name.isEmpty
                        ? "a tensor has an empty name, which a weights file cannot hold"
                        : "a tensor is named '__metadata__', the key safetensors reserves for the file's metadata: rename it")
            }
            guard seen.insert(e.name).inserted else {
                throw InputError(.duplicateTensor, file: file, key: e.name, "two tensors with the same name")
            }
        }
    }

    /// One tensor to write: its description and a function that streams its bytes to the file.
    public struct Item {
        public var entry: TensorEntry
        /// Calls the given sink with the tensor's contiguous little-endian bytes (any number of calls,
        /// `entry.byteCount` bytes in total).
        public var produce: (_ sink: (UnsafeRawBufferPointer) throws -> Void) throws -> Void

        /// Where the same bytes lie in a file, when they are stored there as they are: a writer that needs no
        /// look at the bytes copies them in the kernel (`copy_file_range`) instead of calling ``produce``.
        public var source: FileRange?

        public init(
            entry: TensorEntry, source: FileRange? = nil,
            produce: @escaping (_ sink: (UnsafeRawBufferPointer) throws -> Void) throws -> Void
        ) {
            self.entry = entry
            self.source = source
            self.produce = produce
        }

        /// An item whose bytes come from `archive`; they are released from memory once written.
        public static func copy(_ entry: TensorEntry, from archive: TensorArchive) -> Item {
            Item(entry: entry, source: archive.fileRange(of: entry.name)) { sink in
                try archive.withBytes(of: entry.name) { try sink($0) }
                archive.releaseBytes(of: entry.name)
            }
        }
    }

    /// The header bytes (padded) and the items in data order.
    public static func layout(_ items: [Item], metadata: [(String, String)]?, file: String = "<writer>") throws -> ([UInt8], [Item]) {
        try checkNames(items.lazy.map(\.entry), file: file)
        let ordered = items.sorted {
            ($0.entry.dtype.layoutRank, $1.entry.name) > ($1.entry.dtype.layoutRank, $0.entry.name)
        }
        var members: [(String, JSONValue)] = []
        if let metadata { members.append(("__metadata__", .object(metadata.map { ($0.0, .string($0.1)) }))) }
        var offset = 0
        for item in ordered {
            let n = item.entry.byteCount
            members.append(
                (
                    item.entry.name,
                    .object([
                        ("dtype", .string(item.entry.dtype.rawValue)),
                        ("shape", .array(item.entry.shape.map { .int(Int64($0)) })),
                        ("data_offsets", .array([.int(Int64(offset)), .int(Int64(offset + n))])),
                    ])
                ))
            offset += n
        }
        var header = Array(JSONValue.object(members).serialized(.compact).utf8)
        while header.count % 8 != 0 { header.append(0x20) }
        var out = withUnsafeBytes(of: UInt64(header.count).littleEndian) { Array($0) }
        out += header
        return (out, ordered)
    }

    /// Writes `items` to `path` atomically (`-` and `/dev/null` are written in place: ``OutputFile``).
    /// - Parameter replace: whether an existing file is replaced (`--force`; else ``OutputExistsError``).
    /// - Throws: ``OutputError`` for I/O failures; ``InputError`` if an item produces the wrong byte count.
    public static func write(_ items: [Item], metadata: [(String, String)]? = [("format", "pt")], to path: String, replace: Bool = true) throws {
        try checkNames(items.lazy.map(\.entry), file: path)
        try OutputFile.write(to: path, replace: replace) { out in try stream(items, metadata: metadata, to: out) }
    }

    /// Writes every tensor of `archive` to `path` atomically, values unchanged.
    public static func write(_ archive: TensorArchive, metadata: [(String, String)]? = [("format", "pt")], to path: String, replace: Bool = true)
        throws
    {
        try write(archive.entries.map { Item.copy($0, from: archive) }, metadata: metadata, to: path, replace: replace)
    }

    /// Streams the file into an open writer (used by ``write(_:metadata:to:)`` and by directory outputs).
    public static func stream(_ items: [Item], metadata: [(String, String)]?, to out: FileWriter) throws {
        let (header, ordered) = try layout(items, metadata: metadata, file: out.path)
        try header.withUnsafeBytes { try out.write($0) }
        for item in ordered {
            if let source = item.source {
                try out.copy(from: source, count: item.entry.byteCount)
                continue
            }
            var written = 0
            try item.produce { chunk in
                written += chunk.count
                try out.write(chunk)
            }
            guard written == item.entry.byteCount else {
                throw InputError(
                    .sizeMismatch, file: out.path, key: item.entry.name,
                    "produced \(written) bytes, expected \(item.entry.byteCount)")
            }
        }
    }
}

/// Safetensors as a ``TensorFileStore`` (``SafeTensorsWriter/write(_:metadata:to:)`` and ``SafeTensorsFile``).
public struct SafeTensorsStore: TensorFileStore {
    public init() {}
    public func write(_ archive: TensorArchive, to path: String) throws { try SafeTensorsWriter.write(archive, to: path) }
    public func open(_ path: String) throws -> TensorArchive { try SafeTensorsFile(path: path) }
}
