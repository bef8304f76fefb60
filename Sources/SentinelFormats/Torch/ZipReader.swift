internal import CZip
import SentinelCore

/// A zip archive read from a memory-mapped file.
///
/// The reader walks the archive itself (EOCD → ZIP64 locator and end record → central directory → each
/// local header) and trusts only the central directory for sizes and offsets, as torch's own reader
/// (miniz) does: torch writes its records with a data descriptor (flag bit 3), so the local header's sizes
/// are 0 (or all ones with a ZIP64 extra of zeros) and the real sizes follow the data. Every entry is
/// checked before anything is read: flags (encryption, bit 0 and 6, and patched data, bit 5, are refused),
/// disk number 0, method stored or deflate, a stored entry's compressed size equal to its size, and the
/// local header agreeing with the central directory (signature, name, flags, method, and the sizes when
/// no data descriptor follows), its data inside the file.
///
/// STORED entries are handed out **in place**, a view into the mapping, no copy (their CRC-32 is checked
/// by ``checkCRC(of:)`` on request: `inspect --stats`, `verify`). DEFLATE entries are inflated by libzip
/// (`zip_source_buffer_create` on the mapping, opened only when such an entry is read) in bounded chunks
/// against a caller's limit, never trusting the claimed size: a claim above what deflate can produce from
/// the compressed bytes (1032:1) is refused before anything is allocated. Limits: `Formats/limits.md`.
final class ZipReader {
    struct Entry {
        var name: String
        var index: UInt64
        /// Uncompressed size in bytes (from the central directory or its ZIP64 extra).
        var size: Int
        var compressedSize: Int
        /// 0 = stored, 8 = deflate.
        var method: Int
        var crc32: UInt32
        /// File offset of the entry's local header.
        var localHeader: Int
        /// File offset of the entry's (stored or compressed) bytes.
        var dataStart: Int
        /// File offset of the entry's bytes when they can be used in place (stored).
        var dataOffset: Int? { method == 0 ? dataStart : nil }
    }

    let file: MappedFile
    var path: String { file.path }
    private(set) var entries: [Entry] = []
    private var byName: [String: Int] = [:]
    private var archive: OpaquePointer?

    /// Largest number of entries accepted.
    static let maxEntries = 1_000_000
    /// Most bytes deflate produces per compressed byte (RFC 1951: a 258-byte match in about 2 bits, 1032:1),
    /// plus a little for the stream's end: a larger claimed size is a lie (or a bomb).
    static let maxDeflateRatio = 1032

    /// Opens the zip in `file`.
    /// - Throws: ``InputError`` `.truncated` when the file starts like a zip but its end is missing,
    ///   `.unknownFormat` when it is not a zip, `.unsupported` for encryption, patched data, several disks or a
    ///   method other than stored and deflate, `.invalidStructure` for an inconsistent archive (the message
    ///   says which header disagrees with which), `.outOfRange` for too many entries, `.duplicateTensor`.
    init(file: MappedFile) throws {
        self.file = file
        let b = file.bytes
        let startsLikeZip = b.count >= 4 && b.loadUnaligned(as: UInt32.self) == 0x0403_4B50
        guard let directory = try Self.centralDirectory(b, path: file.path) else {
            if startsLikeZip {
                throw InputError(
                    .truncated, file: file.path, offset: b.count,
                    "the file starts like a zip archive (a torch checkpoint) but has no end of central directory record: "
                        + "most likely a truncated or interrupted download; fetch the file again")
            }
            throw InputError(.unknownFormat, file: file.path, offset: 0, "not a zip archive (no end of central directory record)")
        }
        for (i, c) in directory.enumerated() {
            let e = try Self.checkEntry(c, index: UInt64(i), b, path: file.path)
            if byName[e.name] != nil {
                throw InputError(
                    .duplicateTensor, file: file.path, offset: e.localHeader, key: e.name, "the zip archive holds two records named '\(e.name)'")
            }
            byName[e.name] = entries.count
            entries.append(e)
        }
    }

    deinit { if let archive { zip_discard(archive) } }

    func entry(named name: String) -> Entry? { byName[name].map { entries[$0] } }

    /// Calls `body` with the entry's uncompressed bytes: a view into the mapping for stored entries,
    /// otherwise a buffer inflated by libzip (CRC-checked), grown in chunks as data arrives.
    /// - Parameter limit: largest uncompressed size accepted for this entry (checked before reading).
    /// - Throws: ``InputError`` `.outOfRange` over the limit or over deflate's ratio, `.truncated` when the data
    ///   ends early, `.invalidStructure` for a damaged deflate stream or a CRC-32 mismatch.
    func withBytes<R>(of e: Entry, limit: Int = Int.max, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        guard e.size <= limit else {
            throw InputError(
                .outOfRange, file: path, offset: e.localHeader, key: e.name, "zip record of \(e.size) bytes is over the limit of \(limit)")
        }
        if let off = e.dataOffset {
            return try body(UnsafeRawBufferPointer(rebasing: file.bytes[off..<(off + e.size)]))
        }
        let za = try openLibzip()
        guard let zf = zip_fopen_index(za, e.index, 0) else {
            throw InputError(
                .invalidStructure, file: path, offset: e.localHeader, key: e.name, "cannot open zip record: \(String(cString: zip_strerror(za)))")
        }
        defer { zip_fclose(zf) }
        var capacity = min(max(e.size, 1), 1 << 20)
        var buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: capacity, alignment: 64)
        defer { buffer.deallocate() }
        var done = 0
        while done < e.size {
            if done == capacity {
                let grown = UnsafeMutableRawBufferPointer.allocate(byteCount: min(capacity * 2, e.size), alignment: 64)
                grown.copyMemory(from: UnsafeRawBufferPointer(buffer))
                buffer.deallocate()
                buffer = grown
                capacity = grown.count
            }
            let r = zip_fread(zf, buffer.baseAddress! + done, UInt64(capacity - done))
            if r < 0 {
                throw InputError(
                    .invalidStructure, file: path, offset: e.dataStart, key: e.name,
                    "cannot inflate zip record: \(String(cString: zip_file_strerror(zf)))")
            }
            if r == 0 { break }
            done += Int(r)
        }
        guard done == e.size else {
            throw InputError(.truncated, file: path, offset: e.dataStart, key: e.name, "zip record holds \(done) bytes, its header says \(e.size)")
        }
        // One more read reaches the end of the stream, where libzip checks the CRC-32.
        var extra: UInt8 = 0
        let tail = zip_fread(zf, &extra, 1)
        if tail != 0 {
            throw InputError(
                .invalidStructure, file: path, offset: e.dataStart, key: e.name,
                tail < 0
                    ? "zip record fails its check: \(String(cString: zip_file_strerror(zf)))"
                    : "zip record inflates to more than the \(e.size) bytes its central directory entry says")
        }
        return try body(UnsafeRawBufferPointer(rebasing: buffer[0..<e.size]))
    }

    /// Checks a record's CRC-32 against its central directory entry (deflated records are checked by
    /// ``withBytes(of:limit:_:)`` anyway).
    /// - Throws: ``InputError`` `.checksumMismatch` naming the record, both values and the data offset.
    func checkCRC(of e: Entry) throws {
        let crc = try withBytes(of: e) { CRC32.of($0) }
        guard crc == e.crc32 else {
            throw InputError(
                .checksumMismatch, file: path, offset: e.dataStart, key: e.name,
                "CRC-32 of the record's \(e.size) bytes is \(hex32(crc)), its central directory entry says \(hex32(e.crc32)): the file is damaged")
        }
    }

    private func openLibzip() throws -> OpaquePointer {
        if let archive { return archive }
        var err = zip_error_t()
        zip_error_init(&err)
        defer { zip_error_fini(&err) }
        guard let src = zip_source_buffer_create(file.bytes.baseAddress, UInt64(file.bytes.count), 0, &err) else {
            throw InputError(.invalidStructure, file: path, "libzip could not read the mapped file")
        }
        // The archive was checked by `checkEntry` (our checks are stricter than ZIP_CHECKCONS, which refuses
        // torch's ZIP64 local headers).
        guard let za = zip_open_from_source(src, ZIP_RDONLY, &err) else {
            zip_source_free(src)
            throw InputError(.invalidStructure, file: path, "invalid zip archive: \(String(cString: zip_error_strerror(&err)))")
        }
        archive = za
        return za
    }

    // MARK: The archive's own walk

    /// One central directory entry as written (ZIP64 values resolved).
    struct CentralEntry {
        var at: Int
        var name: [UInt8]
        var flags: Int
        var method: Int
        var crc32: UInt32
        var compressedSize: UInt64
        var size: UInt64
        var disk: Int
        var localHeader: UInt64
    }

    private static func u16(_ b: UnsafeRawBufferPointer, _ o: Int) -> Int {
        Int(UInt16(littleEndian: b.loadUnaligned(fromByteOffset: o, as: UInt16.self)))
    }
    private static func u32(_ b: UnsafeRawBufferPointer, _ o: Int) -> Int {
        Int(UInt32(littleEndian: b.loadUnaligned(fromByteOffset: o, as: UInt32.self)))
    }
    private static func u64(_ b: UnsafeRawBufferPointer, _ o: Int) -> UInt64 {
        UInt64(littleEndian: b.loadUnaligned(fromByteOffset: o, as: UInt64.self))
    }

    /// The ZIP64 extended information of an extra field `[start, end)`: the 64-bit values present are those
    /// whose 32-bit field is all ones, in the order size, compressed size, local header offset, disk.
    private static func zip64Values(_ b: UnsafeRawBufferPointer, extra start: Int, end: Int) -> (start: Int, count: Int)? {
        var q = start
        while q + 4 <= end {
            let id = u16(b, q), len = u16(b, q + 2)
            guard q + 4 + len <= end else { return nil }
            if id == 0x0001 { return (q + 4, len) }
            q += 4 + len
        }
        return nil
    }

    /// The central directory, or `nil` when the file has no end of central directory record.
    /// - Throws: ``InputError`` `.invalidStructure` when the end records or the directory are inconsistent.
    static func centralDirectory(_ b: UnsafeRawBufferPointer, path: String) throws -> [CentralEntry]? {
        let n = b.count
        guard n >= 22 else { return nil }
        var eocd = -1
        var i = n - 22
        let lowest = max(0, n - 22 - 65_535)
        while i >= lowest {
            if u32(b, i) == 0x0605_4B50 && i + 22 + u16(b, i + 20) <= n {
                eocd = i
                break
            }
            i -= 1
        }
        guard eocd >= 0 else { return nil }
        func bad(_ at: Int, _ msg: String) -> InputError { InputError(.invalidStructure, file: path, offset: at, msg) }
        guard u16(b, eocd + 4) == 0 || u16(b, eocd + 4) == 0xFFFF, u16(b, eocd + 6) == 0 || u16(b, eocd + 6) == 0xFFFF else {
            throw InputError(.unsupported, file: path, offset: eocd, "a zip archive split over several disks")
        }
        var count = UInt64(u16(b, eocd + 10))
        var cdOffset = UInt64(u32(b, eocd + 16))
        var cdSize = UInt64(u32(b, eocd + 12))
        var cdEnd = eocd
        if eocd >= 20, u32(b, eocd - 20) == 0x0706_4B50 {
            let z = u64(b, eocd - 20 + 8)
            guard z <= UInt64(eocd - 20 - 56), u32(b, Int(z)) == 0x0606_4B50 else {
                throw bad(eocd - 20, "the ZIP64 end of central directory locator points at byte \(z), where no ZIP64 end record is")
            }
            count = u64(b, Int(z) + 32)
            cdSize = u64(b, Int(z) + 40)
            cdOffset = u64(b, Int(z) + 48)
            cdEnd = Int(z)
        }
        guard count <= UInt64(maxEntries) else {
            throw InputError(.outOfRange, file: path, offset: eocd, "the zip archive has \(count) entries (limit \(maxEntries))")
        }
        guard cdOffset <= UInt64(cdEnd), cdSize <= UInt64(cdEnd) - cdOffset else {
            throw bad(eocd, "the central directory (\(cdSize) bytes at byte \(cdOffset)) lies outside the file before its end record")
        }
        var out: [CentralEntry] = []
        out.reserveCapacity(Int(count))
        var p = Int(cdOffset)
        let limit = Int(cdOffset + cdSize)
        for k in 0..<Int(count) {
            guard p <= limit - 46, u32(b, p) == 0x0201_4B50 else {
                throw bad(p, "central directory entry \(k) of \(count) is missing or damaged")
            }
            let nameLen = u16(b, p + 28), extraLen = u16(b, p + 30), commentLen = u16(b, p + 32)
            guard p + 46 + nameLen + extraLen + commentLen <= limit else {
                throw bad(p, "central directory entry \(k) runs past the end of the directory")
            }
            var e = CentralEntry(
                at: p, name: Array(UnsafeRawBufferPointer(rebasing: b[(p + 46)..<(p + 46 + nameLen)])), flags: u16(b, p + 8),
                method: u16(b, p + 10), crc32: UInt32(u32(b, p + 16)), compressedSize: UInt64(u32(b, p + 20)),
                size: UInt64(u32(b, p + 24)), disk: u16(b, p + 34), localHeader: UInt64(u32(b, p + 42)))
            if e.size == 0xFFFF_FFFF || e.compressedSize == 0xFFFF_FFFF || e.localHeader == 0xFFFF_FFFF || e.disk == 0xFFFF {
                guard let (f0, len) = zip64Values(b, extra: p + 46 + nameLen, end: p + 46 + nameLen + extraLen) else {
                    throw bad(p, "central directory entry '\(String(decoding: e.name, as: UTF8.self))' needs a ZIP64 extra field and has none")
                }
                var f = f0
                func next() throws -> UInt64 {
                    guard f + 8 <= f0 + len else {
                        throw bad(p, "the ZIP64 extra field of '\(String(decoding: e.name, as: UTF8.self))' is too short")
                    }
                    defer { f += 8 }
                    return u64(b, f)
                }
                if e.size == 0xFFFF_FFFF { e.size = try next() }
                if e.compressedSize == 0xFFFF_FFFF { e.compressedSize = try next() }
                if e.localHeader == 0xFFFF_FFFF { e.localHeader = try next() }
                if e.disk == 0xFFFF {
                    guard f + 4 <= f0 + len else { throw bad(p, "the ZIP64 extra field is too short") }
                    e.disk = u32(b, f)
                }
            }
            out.append(e)
            p += 46 + nameLen + extraLen + commentLen
        }
        return out
    }

    /// Checks one entry against the rules above and its local header.
    static func checkEntry(_ c: CentralEntry, index: UInt64, _ b: UnsafeRawBufferPointer, path: String) throws -> Entry {
        let name = String(decoding: c.name, as: UTF8.self)
        func fail(_ code: InputError.Code, _ at: Int, _ msg: String) -> InputError {
            InputError(code, file: path, offset: at, key: name, msg)
        }
        if c.flags & 0x0041 != 0 {
            throw fail(
                .unsupported, c.at, "zip record '\(name)' is encrypted (flags 0x\(String(c.flags, radix: 16))): Sentinel reads no encrypted archive")
        }
        if c.flags & 0x0020 != 0 {
            throw fail(.unsupported, c.at, "zip record '\(name)' holds patched data (flag bit 5), which Sentinel does not read")
        }
        guard c.disk == 0 else {
            throw fail(.unsupported, c.at, "zip record '\(name)' starts on disk \(c.disk): Sentinel reads single-disk archives only")
        }
        guard c.method == 0 || c.method == 8 else {
            throw fail(.unsupported, c.at, "zip record '\(name)' uses compression method \(c.method); Sentinel reads stored (0) and deflate (8)")
        }
        let n = UInt64(b.count)
        guard c.size <= n * UInt64(maxDeflateRatio) + 1024, c.compressedSize <= n else {
            throw fail(.outOfRange, c.at, "zip record '\(name)' claims \(c.size) bytes (\(c.compressedSize) compressed) in a file of \(n)")
        }
        if c.method == 0 && c.compressedSize != c.size {
            throw fail(
                .invalidStructure, c.at, "stored zip record '\(name)' has compressed size \(c.compressedSize) but size \(c.size): they must be equal")
        }
        if c.method == 8 && c.size > c.compressedSize * UInt64(maxDeflateRatio) + 64 {
            throw fail(
                .outOfRange, c.at,
                "zip record '\(name)' claims to inflate \(c.compressedSize) bytes to \(c.size), more than deflate can (a zip bomb or a lying directory)"
            )
        }
        let o = Int(clamping: c.localHeader)
        guard o <= b.count - 30 else {
            throw fail(.truncated, o, "the local header of '\(name)' at byte \(o) lies past the end of the file (truncated download?)")
        }
        guard u32(b, o) == 0x0403_4B50 else {
            throw fail(.invalidStructure, o, "the central directory puts the local header of '\(name)' at byte \(o), where there is none")
        }
        let flags = u16(b, o + 6), method = u16(b, o + 8), nameLen = u16(b, o + 26), extraLen = u16(b, o + 28)
        guard o + 30 + nameLen + extraLen <= b.count else {
            throw fail(.truncated, o, "the local header of '\(name)' runs past the end of the file (truncated download?)")
        }
        let local = UnsafeRawBufferPointer(rebasing: b[(o + 30)..<(o + 30 + nameLen)])
        guard local.elementsEqual(c.name) else {
            throw fail(
                .invalidStructure, o,
                "the local header at byte \(o) names \(quoted(String(decoding: local, as: UTF8.self))) but the central directory names \(quoted(name))"
            )
        }
        guard flags == c.flags else {
            throw fail(
                .invalidStructure, o,
                "the local header of '\(name)' has flags 0x\(String(flags, radix: 16)), the central directory 0x\(String(c.flags, radix: 16))")
        }
        guard method == c.method else {
            throw fail(.invalidStructure, o, "the local header of '\(name)' has method \(method), the central directory \(c.method)")
        }
        if flags & 0x0008 == 0 {
            // No data descriptor: the local header's own sizes and CRC must be the directory's.
            var size = UInt64(u32(b, o + 22)), comp = UInt64(u32(b, o + 18))
            if size == 0xFFFF_FFFF || comp == 0xFFFF_FFFF,
                let (f, len) = zip64Values(b, extra: o + 30 + nameLen, end: o + 30 + nameLen + extraLen), len >= 16
            {
                size = u64(b, f)
                comp = u64(b, f + 8)
            }
            guard size == c.size, comp == c.compressedSize, UInt32(u32(b, o + 14)) == c.crc32 else {
                throw fail(
                    .invalidStructure, o,
                    "the local header of '\(name)' says \(size) bytes (\(comp) compressed, CRC \(hex32(UInt32(u32(b, o + 14))))), the central "
                        + "directory \(c.size) (\(c.compressedSize), CRC \(hex32(c.crc32)))")
            }
        }
        let data = o + 30 + nameLen + extraLen
        guard c.compressedSize <= UInt64(b.count - data) else {
            throw fail(
                .truncated, data,
                "zip record '\(name)' needs \(c.compressedSize) bytes from byte \(data); the file has \(b.count - data) (truncated download?)")
        }
        return Entry(
            name: name, index: index, size: Int(c.size), compressedSize: Int(c.compressedSize), method: c.method, crc32: c.crc32,
            localHeader: o, dataStart: data)
    }
}

/// `0x` and eight hex digits.
func hex32(_ v: UInt32) -> String {
    let h = String(v, radix: 16)
    return "0x" + String(repeating: "0", count: 8 - h.count) + h
}
