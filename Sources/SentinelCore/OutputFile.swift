#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Where a command writes its one output file, with the Unix conventions:
/// - `-` is standard output;
/// - an existing character device (`/dev/null`, a terminal) is written in place: it is opened for writing and
///   never truncated, renamed over or removed;
/// - any other path is written atomically (``AtomicFile``: a temporary sibling renamed over the target), which
///   refuses to replace a FIFO, a symlink or any other non-regular file (a FIFO without a reader would block).
public enum OutputFile {
    /// The path that means standard output.
    public static let standardOutput = "-"
    /// How standard output is named in ``OutputError``s.
    public static let standardOutputName = "<stdout>"

    /// Whether `path` is written in place rather than atomically: `-`, or an existing character device.
    public static func isStream(_ path: String) -> Bool {
        if path == standardOutput { return true }
        var st = stat()
        guard stat(path, &st) == 0 else { return false }
        return (st.st_mode & S_IFMT) == S_IFCHR
    }

    /// Calls `body` with a writer on `path` (see the type's rules).
    /// - Parameter replace: whether an existing regular file is replaced (`--force`); when false a file that
    ///   exists or appears meanwhile is left alone (``AtomicFile/write(to:mode:replace:_:)``).
    /// - Throws: ``OutputError`` for I/O (`EPIPE` when the reader of standard output or a FIFO went away),
    ///   ``OutputExistsError``, and whatever `body` throws; an atomic output is then left untouched.
    public static func write(to path: String, mode: mode_t = 0o644, replace: Bool = true, _ body: (FileWriter) throws -> Void) throws {
        if path == standardOutput {
            try body(FileWriter(path: standardOutputName, fd: 1))
            return
        }
        guard isStream(path) else { return try AtomicFile.write(to: path, mode: mode, replace: replace, body) }
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { throw OutputError(path: path, operation: "open", errno: errno) }
        defer { close(fd) }
        try body(FileWriter(path: path, fd: fd))
    }

    /// Writes `bytes` to `path` (see ``write(to:mode:replace:_:)``).
    public static func write(_ bytes: [UInt8], to path: String, replace: Bool = true) throws {
        try write(to: path, replace: replace) { writer in try bytes.withUnsafeBytes { try writer.write($0) } }
    }
}
