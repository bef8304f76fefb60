/// A memory-mapped UTF-8 text file, validated once, read line by line with line numbers and byte
/// offsets for error messages.
///
/// Used for vocab.txt and the dataset readers. Invalid UTF-8 is an ``InputError`` (`not_text`) naming
/// the file, the line and the byte offset of the first bad byte.
public final class TextFile: @unchecked Sendable {
    /// The path as given (or `<stdin>`).
    public let path: String
    private let mapped: MappedFile?
    private let owned: UnsafeMutableRawBufferPointer?
    /// The whole file.
    public let bytes: UnsafeRawBufferPointer

    /// One line without its terminator (`\n`; a `\r` before it is removed too).
    public struct Line {
        /// 1-based line number.
        public var number: Int
        /// Byte offset of the line's first byte in the file.
        public var offset: Int
        public var bytes: UnsafeRawBufferPointer
        public var text: String { String(decoding: bytes, as: UTF8.self) }
        /// Only spaces, tabs, CR, VT, FF (or nothing).
        public var isBlank: Bool { bytes.allSatisfy { $0 == 0x20 || $0 == 0x09 || $0 == 0x0D || $0 == 0x0B || $0 == 0x0C } }
    }

    /// Maps and validates `path`.
    /// - Parameter allowEmpty: when false, a zero-length file is an ``InputError`` (`file_too_small`).
    /// - Throws: ``OutputError`` when the file can't be read; ``InputError`` for an empty file or invalid UTF-8.
    public init(path: String, allowEmpty: Bool = false) throws {
        self.path = path
        let mapped = try MappedFile(path: path)
        mapped.adviseSequential()
        self.mapped = mapped
        owned = nil
        bytes = mapped.bytes
        try validate(allowEmpty: allowEmpty)
    }

    /// Validates bytes read elsewhere (standard input); `name` is used in errors.
    public init(name: String, bytes source: [UInt8], allowEmpty: Bool = false) throws {
        path = name
        mapped = nil
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(source.count, 1), alignment: 8)
        source.withUnsafeBytes { buffer.copyMemory(from: $0) }
        owned = buffer
        bytes = UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(buffer)[0..<source.count])
        try validate(allowEmpty: allowEmpty)
    }

    deinit { owned?.deallocate() }

    private func validate(allowEmpty: Bool) throws {
        if bytes.isEmpty && !allowEmpty {
            throw InputError(.fileTooSmall, file: path, offset: 0, "line 1: the file is empty")
        }
        if let bad = UTF8Validation.firstInvalidByte(bytes) {
            let line = 1 + bytes[..<bad].reduce(0) { $0 + ($1 == 0x0A ? 1 : 0) }
            throw InputError(
                .notText, file: path, offset: bad,
                "line \(line): invalid UTF-8 (byte 0x\(String(bytes[bad], radix: 16)))")
        }
    }

    /// Calls `body` for every line. A final line without a newline counts; a trailing newline does not
    /// start another line.
    public func forEachLine(_ body: (Line) throws -> Void) rethrows {
        let b = bytes
        var start = 0
        var number = 1
        while start < b.count {
            var end = start
            if let base = b.baseAddress, let nl = memchr(base + start, 0x0A, b.count - start) {
                end = base.distance(to: UnsafeRawPointer(nl))
            } else {
                end = b.count
            }
            var stop = end
            if stop > start && b[stop - 1] == 0x0D { stop -= 1 }
            try body(Line(number: number, offset: start, bytes: UnsafeRawBufferPointer(rebasing: b[start..<stop])))
            start = end + 1
            number += 1
        }
    }
}

enum UTF8Validation {
    /// The offset of the first byte that is not part of a well-formed UTF-8 sequence (RFC 3629: no
    /// overlongs, no surrogates, nothing above U+10FFFF), or nil when all of `b` is valid.
    static func firstInvalidByte(_ b: UnsafeRawBufferPointer) -> Int? {
        var i = 0
        let n = b.count
        while i < n {
            // ASCII fast path, 8 bytes at a time.
            while i + 8 <= n, b.loadUnaligned(fromByteOffset: i, as: UInt64.self) & 0x8080_8080_8080_8080 == 0 { i += 8 }
            if i >= n { break }
            let c = b[i]
            if c < 0x80 {
                i += 1
                continue
            }
            var need = 0
            var lo: UInt8 = 0x80, hi: UInt8 = 0xBF
            switch c {
            case 0xC2...0xDF: need = 1
            case 0xE0:
                need = 2
                lo = 0xA0
            case 0xE1...0xEC, 0xEE, 0xEF: need = 2
            case 0xED:
                need = 2
                hi = 0x9F
            case 0xF0:
                need = 3
                lo = 0x90
            case 0xF1...0xF3: need = 3
            case 0xF4:
                need = 3
                hi = 0x8F
            default: return i
            }
            if i + need >= n { return i }  // the sequence is cut off by the end of the input
            let second = b[i + 1]
            if second < lo || second > hi { return i }
            if need >= 2 {
                for k in 2...need where b[i + k] & 0xC0 != 0x80 { return i }
            }
            i += need + 1
        }
        return nil
    }
}

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif
