#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Plain file-descriptor I/O: the one place that retries system calls interrupted by a signal (`EINTR`).
public enum FileIO {
    /// Reads up to `count` bytes into `buffer`; 0 at the end of the file.
    /// - Throws: ``OutputError`` (operation `read`) naming `path`.
    public static func read(_ fd: Int32, into buffer: UnsafeMutableRawPointer, count: Int, path: String) throws -> Int {
        while true {
            let n = Glibc.read(fd, buffer, count)
            if n >= 0 { return n }
            if errno == EINTR { continue }
            throw OutputError(path: path, operation: "read", errno: errno)
        }
    }

    /// Reads up to `count` bytes at file offset `offset` (the position is not moved); 0 at the end of the file.
    /// - Throws: ``OutputError`` (operation `read`) naming `path`.
    public static func pread(_ fd: Int32, into buffer: UnsafeMutableRawPointer, count: Int, offset: Int64, path: String) throws -> Int {
        while true {
            let n = Glibc.pread(fd, buffer, count, off_t(offset))
            if n >= 0 { return n }
            if errno == EINTR { continue }
            throw OutputError(path: path, operation: "read", errno: errno)
        }
    }

    /// Writes every byte of `bytes`.
    /// - Throws: ``OutputError`` (operation `write`, e.g. `ENOSPC` on a full disk) naming `path`.
    public static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, path: String) throws {
        var done = 0
        while done < bytes.count {
            let r = Glibc.write(fd, bytes.baseAddress! + done, bytes.count - done)
            if r < 0 {
                if errno == EINTR { continue }
                throw OutputError(path: path, operation: "write", errno: errno)
            }
            done += r
        }
    }

    /// Reads `fd` to its end (or, with `firstLineOnly`, up to and including the first newline, one byte at a
    /// time so that nothing after it is consumed from a pipe).
    /// - Throws: ``OutputError`` for read errors; ``InputError`` (`out_of_range`, at byte `limit`) when the
    ///   data is longer than `limit` bytes.
    public static func readAll(_ fd: Int32, path: String, limit: Int = .max, firstLineOnly: Bool = false) throws -> [UInt8] {
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: firstLineOnly ? 1 : 1 << 16)
        while true {
            if firstLineOnly && out.last == 0x0A { break }
            let n = try chunk.withUnsafeMutableBytes { try read(fd, into: $0.baseAddress!, count: $0.count, path: path) }
            if n == 0 { break }
            out += chunk[0..<n]
            guard out.count <= limit else { throw InputError(.outOfRange, file: path, offset: limit, "larger than \(limit) bytes") }
        }
        return out
    }

    /// Reads a small file whole (a key file, a sentence list).
    /// - Parameter firstLineOnly: from a pipe or FIFO, stop after the first newline.
    /// - Throws: ``OutputError`` when it cannot be opened or read; ``InputError`` when longer than `limit`.
    public static func readSmallFile(_ path: String, limit: Int, firstLineOnly: Bool = false) throws -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw OutputError(path: path, operation: "open", errno: errno) }
        defer { close(fd) }
        var st = stat()
        let lineByLine = firstLineOnly && fstat(fd, &st) == 0 && (st.st_mode & S_IFMT) != S_IFREG
        return try readAll(fd, path: path, limit: limit, firstLineOnly: lineByLine)
    }
}

extension TextFile {
    /// Opens an input: a regular file is memory-mapped; `-` (standard input), pipes and FIFOs (`<(…)`,
    /// `/dev/stdin`) are read as streams. Errors name `<stdin>` for `-`.
    /// - Parameter allowEmpty: when false, an empty input is an ``InputError`` (`file_too_small`).
    /// - Throws: ``OutputError`` for I/O; ``InputError`` for an empty input or invalid UTF-8.
    public static func read(_ path: String, allowEmpty: Bool = false) throws -> TextFile {
        var st = stat()
        if path != "-" && (stat(path, &st) != 0 || (st.st_mode & S_IFMT) == S_IFREG || (st.st_mode & S_IFMT) == S_IFDIR) {
            return try TextFile(path: path, allowEmpty: allowEmpty)
        }
        let fd = path == "-" ? 0 : open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw OutputError(path: path, operation: "open", errno: errno) }
        defer { if fd != 0 { close(fd) } }
        let name = path == "-" ? "<stdin>" : path
        return try TextFile(name: name, bytes: FileIO.readAll(fd, path: name), allowEmpty: allowEmpty)
    }
}
