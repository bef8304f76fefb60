internal import CZip
import SentinelCore

/// A zip archive read with libzip from a memory-mapped file (`zip_source_buffer_create` on the
/// mapping: libzip copies nothing).
///
/// libzip lists and checks the archive (`ZIP_CHECKCONS`: central directory and local headers agree;
/// ZIP64 and data descriptors handled). libzip has no public call for where an entry's data starts,
/// so for STORED entries this reader walks the central directory itself to find each local header,
/// checks it against libzip's listing (name, method, size, bounds) and then hands out the bytes in
/// place: a view into the mapping, no copy. Compressed entries, or any entry whose local header does
/// not check out, are read through `zip_fread` (which verifies the CRC-32). Views are not CRC-checked.
final class ZipReader {
    struct Entry {
        var name: String
        var index: UInt64
        /// Uncompressed size in bytes.
        var size: Int
        var compressedSize: Int
        /// 0 = stored, 8 = deflate, …
        var method: Int
        var crc32: UInt32
        /// File offset of the entry's bytes when they can be used in place (stored, checked).
        var dataOffset: Int?
    }

    let file: MappedFile
    var path: String { file.path }
    private(set) var entries: [Entry] = []
    private var byName: [String: Int] = [:]
    private let archive: OpaquePointer

    /// Largest number of entries accepted.
    static let maxEntries = 1_000_000

    /// Opens the zip in `file`.
    /// - Throws: ``InputError`` `.truncated` when the file starts like a zip but its end is missing,
    ///   `.unknownFormat` when it is not a zip, `.invalidStructure` for an inconsistent archive.
    init(file: MappedFile) throws {
        self.file = file
        var err = zip_error_t()
        zip_error_init(&err)
        defer { zip_error_fini(&err) }
        guard let src = zip_source_buffer_create(file.bytes.baseAddress, UInt64(file.bytes.count), 0, &err) else {
            throw InputError(.invalidStructure, file: file.path, "libzip could not read the mapped file")
        }
        guard let za = zip_open_from_source(src, ZIP_RDONLY | ZIP_CHECKCONS, &err) else {
            zip_source_free(src)
            let code = zip_error_code_zip(&err)
            let startsLikeZip = file.bytes.count >= 4 && file.bytes.loadUnaligned(as: UInt32.self) == 0x0403_4B50
            if startsLikeZip && (code == ZIP_ER_NOZIP || code == ZIP_ER_INCONS || code == ZIP_ER_EOF) {
                throw InputError(
                    .truncated, file: file.path, offset: file.bytes.count,
                    "the file starts like a zip archive (a torch checkpoint) but its central directory is missing or "
                        + "damaged (\(String(cString: zip_error_strerror(&err)))): most likely a truncated or interrupted "
                        + "download; fetch the file again")
            }
            if code == ZIP_ER_NOZIP {
                throw InputError(.unknownFormat, file: file.path, offset: 0, "not a zip archive")
            }
            throw InputError(.invalidStructure, file: file.path, "invalid zip archive: \(String(cString: zip_error_strerror(&err)))")
        }
        archive = za
        let count = zip_get_num_entries(za, 0)
        guard count >= 0, count <= Int64(Self.maxEntries) else {
            zip_discard(za)
            throw InputError(.outOfRange, file: file.path, "the zip archive has \(count) entries (limit \(Self.maxEntries))")
        }
        let local = Self.localHeaderOffsets(file.bytes)
        for i in 0..<UInt64(count) {
            var st = zip_stat_t()
            zip_stat_init(&st)
            guard zip_stat_index(za, i, 0, &st) == 0, let cname = st.name else {
                throw InputError(.invalidStructure, file: file.path, "zip entry \(i) cannot be read")
            }
            let name = String(cString: cname)
            guard st.size <= UInt64(Int.max), st.comp_size <= UInt64(Int.max) else {
                throw InputError(.outOfRange, file: file.path, key: name, "zip entry size \(st.size) is out of range")
            }
            var e = Entry(
                name: name, index: i, size: Int(st.size), compressedSize: Int(st.comp_size),
                method: Int(st.comp_method), crc32: st.crc, dataOffset: nil)
            if e.method == 0, e.size == e.compressedSize, let local, Int(i) < local.count {
                e.dataOffset = Self.checkedDataOffset(file.bytes, localHeader: local[Int(i)], name: name, size: e.size)
            }
            if byName[name] != nil {
                throw InputError(.duplicateTensor, file: file.path, key: name, "the zip archive holds two records named '\(name)'")
            }
            byName[name] = entries.count
            entries.append(e)
        }
    }

    deinit { zip_discard(archive) }

    func entry(named name: String) -> Entry? { byName[name].map { entries[$0] } }

    /// Deflate's largest expansion: 258 bytes from one 2-bit code, 1032 : 1 (zlib's technical notes); an entry
    /// claiming more than this from its compressed size cannot be honest (a zip bomb's header).
    static let maxDeflateRatio = 1032

    /// Calls `body` with the entry's uncompressed bytes: a view into the mapping for checked stored
    /// entries, otherwise a buffer filled by `zip_fread` (CRC-checked by libzip).
    /// - Throws: ``InputError`` `.outOfRange` when the entry's claimed size is more than its compressed bytes in
    ///   the file can hold (stored: more than its compressed size; compressed: over 1032 : 1), before any
    ///   allocation; `.invalidStructure`, `.truncated` for a record libzip cannot read in full.
    func withBytes<R>(of e: Entry, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        if let off = e.dataOffset {
            return try body(UnsafeRawBufferPointer(rebasing: file.bytes[off..<(off + e.size)]))
        }
        // Never trust a claimed uncompressed size: what the file can back is the bound.
        let (cap, overflow) = e.compressedSize.multipliedReportingOverflow(by: e.method == 0 ? 1 : Self.maxDeflateRatio)
        guard e.compressedSize <= file.bytes.count, overflow || e.size <= cap else {
            throw InputError(
                .outOfRange, file: path, key: e.name,
                "zip record claims \(e.size) bytes from \(e.compressedSize) \(e.method == 0 ? "stored" : "compressed") bytes "
                    + "(the file has \(file.bytes.count)): more than they can hold (a zip bomb or a damaged header)")
        }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(e.size, 1), alignment: 64)
        defer { buffer.deallocate() }
        guard let zf = zip_fopen_index(archive, e.index, 0) else {
            throw InputError(.invalidStructure, file: path, key: e.name, "cannot open zip record: \(String(cString: zip_strerror(archive)))")
        }
        defer { zip_fclose(zf) }
        var done = 0
        while done < e.size {
            let r = zip_fread(zf, buffer.baseAddress! + done, UInt64(e.size - done))
            if r < 0 {
                throw InputError(.invalidStructure, file: path, key: e.name, "cannot read zip record: \(String(cString: zip_file_strerror(zf)))")
            }
            if r == 0 { break }
            done += Int(r)
        }
        guard done == e.size else {
            throw InputError(.truncated, file: path, key: e.name, "zip record holds \(done) bytes, its header says \(e.size)")
        }
        return try body(UnsafeRawBufferPointer(rebasing: buffer[0..<e.size]))
    }

    // MARK: Central directory walk (only to locate stored data; libzip has validated the archive)

    private static func u16(_ b: UnsafeRawBufferPointer, _ o: Int) -> Int {
        Int(UInt16(littleEndian: b.loadUnaligned(fromByteOffset: o, as: UInt16.self)))
    }
    private static func u32(_ b: UnsafeRawBufferPointer, _ o: Int) -> Int {
        Int(UInt32(littleEndian: b.loadUnaligned(fromByteOffset: o, as: UInt32.self)))
    }
    private static func u64(_ b: UnsafeRawBufferPointer, _ o: Int) -> UInt64 {
        UInt64(littleEndian: b.loadUnaligned(fromByteOffset: o, as: UInt64.self))
    }

    /// Local header offsets of the central directory entries, in order, or `nil` when the directory
    /// cannot be walked (then every entry is read through libzip).
    static func localHeaderOffsets(_ b: UnsafeRawBufferPointer) -> [Int]? {
        let n = b.count
        guard n >= 22 else { return nil }
        var eocd = -1
        var i = n - 22
        let lowest = max(0, n - 22 - 65_535)
        while i >= lowest {
            if u32(b, i) == 0x0605_4B50 {
                eocd = i
                break
            }
            i -= 1
        }
        guard eocd >= 0 else { return nil }
        var count = u16(b, eocd + 10)
        var cdOffset = u32(b, eocd + 16)
        if eocd >= 20, u32(b, eocd - 20) == 0x0706_4B50 {
            let z = u64(b, eocd - 20 + 8)
            guard z <= UInt64(n - 56), u32(b, Int(z)) == 0x0606_4B50 else { return nil }
            let c64 = u64(b, Int(z) + 32), o64 = u64(b, Int(z) + 48)
            guard c64 <= UInt64(maxEntries), o64 <= UInt64(n) else { return nil }
            count = Int(c64)
            cdOffset = Int(o64)
        }
        var out: [Int] = []
        out.reserveCapacity(count)
        var p = cdOffset
        for _ in 0..<count {
            guard p >= 0, p <= n - 46, u32(b, p) == 0x0201_4B50 else { return nil }
            let nameLen = u16(b, p + 28), extraLen = u16(b, p + 30), commentLen = u16(b, p + 32)
            guard p + 46 + nameLen + extraLen + commentLen <= n else { return nil }
            var local = u32(b, p + 42)
            if local == 0xFFFF_FFFF {
                // ZIP64 extended information: the 64-bit fields present are those whose 32-bit field is all ones.
                var q = p + 46 + nameLen
                let end = q + extraLen
                var found = false
                while q + 4 <= end {
                    let id = u16(b, q), len = u16(b, q + 2)
                    guard q + 4 + len <= end else { return nil }
                    if id == 0x0001 {
                        var f = q + 4
                        if u32(b, p + 24) == 0xFFFF_FFFF { f += 8 }
                        if u32(b, p + 20) == 0xFFFF_FFFF { f += 8 }
                        guard f + 8 <= q + 4 + len else { return nil }
                        let v = u64(b, f)
                        guard v <= UInt64(n) else { return nil }
                        local = Int(v)
                        found = true
                    }
                    q += 4 + len
                }
                guard found else { return nil }
            }
            out.append(local)
            p += 46 + nameLen + extraLen + commentLen
        }
        return out
    }

    /// The data offset of a stored entry whose local header at `localHeader` names `name`, or `nil`.
    static func checkedDataOffset(_ b: UnsafeRawBufferPointer, localHeader o: Int, name: String, size: Int) -> Int? {
        let n = b.count
        guard o >= 0, o <= n - 30, u32(b, o) == 0x0403_4B50, u16(b, o + 8) == 0 else { return nil }
        let nameLen = u16(b, o + 26), extraLen = u16(b, o + 28)
        let data = o + 30 + nameLen + extraLen
        guard data <= n, size <= n - data else { return nil }
        let stored = UnsafeRawBufferPointer(rebasing: b[(o + 30)..<(o + 30 + nameLen)])
        guard stored.elementsEqual(name.utf8) else { return nil }
        return data
    }
}
