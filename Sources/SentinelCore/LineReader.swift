#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Text lines read from a file, a device or standard input in bounded memory: chunks of 1 MiB, one line at a
/// time, each line checked to be UTF-8 and at most ``maxLineBytes`` long. For inputs too large to hold (or
/// endless, like `/dev/zero`), where ``TextFile`` holds the whole file. Lines are ``TextFile/Line`` values (the
/// same rules: `\n` ends a line, a `\r` before it is dropped, a final line without `\n` counts).
public final class LineReader {
    /// The path as given (`<stdin>` for `-`).
    public let path: String
    /// Longest accepted line in bytes (without its terminator).
    public let maxLineBytes: Int
    /// Default ``maxLineBytes``: 8 MiB.
    public static let defaultMaxLineBytes = 8 << 20
    static let chunk = 1 << 20

    private let fd: Int32
    private let buffer: UnsafeMutableRawBufferPointer
    /// Valid bytes are `buffer[start..<end]`; `base` is the file offset of `buffer[0]`.
    private var start = 0, end = 0, base = 0
    private var atEOF = false
    private var number = 0

    /// Opens `path` (`-` is standard input).
    /// - Throws: ``OutputError`` when it cannot be opened (a directory included).
    public init(path: String, maxLineBytes: Int = defaultMaxLineBytes) throws {
        self.maxLineBytes = maxLineBytes
        if path == "-" {
            fd = 0
            self.path = "<stdin>"
        } else {
            fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { throw OutputError(path: path, operation: "open", errno: errno) }
            var st = stat()
            if fstat(fd, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR {
                close(fd)
                throw OutputError(path: path, operation: "open (it is a directory)")
            }
            self.path = path
        }
        buffer = .allocate(byteCount: maxLineBytes + Self.chunk + 1, alignment: 64)
    }

    deinit {
        buffer.deallocate()
        if fd != 0 { close(fd) }
    }

    /// The next line, a view valid until the next call, or `nil` at the end of the input.
    /// - Throws: ``InputError`` `.notText` (line number, offset of the bad byte) or `.outOfRange` for a line over
    ///   ``maxLineBytes``; ``OutputError`` for a read error.
    public func next() throws -> TextFile.Line? {
        while true {
            if let base = buffer.baseAddress, end > start, let nl = memchr(base + start, 0x0A, end - start) {
                let stop = base.distance(to: nl)
                return try line(upTo: stop, consumed: stop + 1)
            }
            if end - start > maxLineBytes { throw tooLong() }
            if atEOF {
                guard end > start else { return nil }
                return try line(upTo: end, consumed: end)
            }
            // Move the partial line to the front and read more.
            if start > 0 {
                if end > start { memmove(buffer.baseAddress!, buffer.baseAddress! + start, end - start) }
                base += start
                end -= start
                start = 0
            }
            let n = try FileIO.read(fd, into: buffer.baseAddress! + end, count: buffer.count - end, path: path)
            if n == 0 { atEOF = true } else { end += n }
        }
    }

    private func tooLong() -> InputError {
        InputError(
            .outOfRange, file: path, offset: base + start,
            "line \(number + 1) is longer than \(maxLineBytes) bytes (the limit of one line): not line-oriented text?")
    }

    private func line(upTo stop: Int, consumed: Int) throws -> TextFile.Line {
        guard stop - start <= maxLineBytes else { throw tooLong() }
        number += 1
        var last = stop
        if last > start && buffer[last - 1] == 0x0D { last -= 1 }
        let bytes = UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(buffer)[start..<last])
        if let bad = UTF8Validation.firstInvalidByte(bytes) {
            throw InputError(
                .notText, file: path, offset: base + start + bad, "line \(number): invalid UTF-8 (byte 0x\(String(bytes[bad], radix: 16)))")
        }
        let line = TextFile.Line(number: number, offset: base + start, bytes: bytes)
        start = consumed
        return line
    }
}
