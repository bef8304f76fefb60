#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif
import Dispatch
import CSentinelLinux

/// A file opened for writing; `write` loops until every byte is written.
public final class FileWriter {
    public let path: String
    private let fd: Int32
    /// Bytes written so far.
    public private(set) var offset = 0

    init(path: String, fd: Int32) {
        self.path = path
        self.fd = fd
    }

    /// Writes all of `bytes`.
    /// - Throws: ``OutputError`` (e.g. `ENOSPC` on a full disk).
    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        try FileIO.writeAll(fd, bytes, path: path)
        offset += bytes.count
    }

    /// Appends `count` bytes of the file at `source` (from `source.offset`), copied by the kernel
    /// (`copy_file_range`, no pass through this process's memory); falls back to `pread` + `write`.
    /// - Throws: ``OutputError``; ``InputError`` `.truncated` when the source file ends early.
    public func copy(from source: FileRange, count: Int) throws {
        let input = open(source.path, O_RDONLY | O_CLOEXEC)
        guard input >= 0 else { throw OutputError(path: source.path, operation: "open", errno: errno) }
        defer { close(input) }
        var inOffset = Int64(source.offset), done = 0
        var kernelCopy = true
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 64)
        defer { buffer.deallocate() }
        while done < count {
            if kernelCopy {
                var outOffset = Int64(offset)
                let r = CSentinelLinux_copy_file_range(input, &inOffset, fd, &outOffset, UInt(count - done))
                if r > 0 {
                    done += r
                    offset += r
                    // copy_file_range with an explicit output offset does not move the file position.
                    guard lseek(fd, off_t(offset), SEEK_SET) >= 0 else { throw OutputError(path: path, operation: "seek", errno: errno) }
                    continue
                }
                if r == 0 { throw InputError(.truncated, file: source.path, offset: Int(inOffset), "the file ends before the tensor does") }
                if errno == EINTR { continue }
                if errno == EXDEV || errno == ENOSYS || errno == EINVAL || errno == EOPNOTSUPP {
                    kernelCopy = false
                    continue
                }
                throw OutputError(path: path, operation: "copy_file_range", errno: errno)
            }
            let n = try FileIO.pread(input, into: buffer.baseAddress!, count: min(buffer.count, count - done), offset: inOffset, path: source.path)
            if n == 0 { throw InputError(.truncated, file: source.path, offset: Int(inOffset), "the file ends before the tensor does") }
            try write(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
            inOffset += Int64(n)
            done += n
        }
    }

    /// Writes the UTF-8 bytes of `text`.
    public func write(_ text: String) throws {
        var copy = text
        try copy.withUTF8 { try write(UnsafeRawBufferPointer($0)) }
    }
}

/// Paths of partial outputs that must be removed if the process is interrupted.
///
/// ``installSignalHandlers()`` makes SIGINT, SIGTERM and SIGHUP remove them before exiting, so an
/// interrupted run leaves nothing half-written. A process killed with SIGKILL cannot clean up: its
/// temporary paths carry the PID and are removed by the next run (``removeStale(besides:)``).
public enum PartialOutputs {
    nonisolated(unsafe) private static var paths: [String] = []
    private static let lock = NSLockLite()
    nonisolated(unsafe) private static var sources: [DispatchSourceSignal] = []

    static func register(_ path: String) { lock.locked { paths.append(path) } }
    static func unregister(_ path: String) { lock.locked { paths.removeAll { $0 == path } } }

    /// Removes every registered partial output now.
    public static func removeAll() {
        let list = lock.locked { paths }
        for p in list { removeTree(p) }
    }

    /// Installs handlers for SIGINT, SIGTERM and SIGHUP that remove partial outputs and exit with
    /// 128 + signal number. Call once, early, from the executable.
    public static func installSignalHandlers() {
        for sig in [SIGINT, SIGTERM, SIGHUP] {
            signal(sig, SIG_IGN)
            let s = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            s.setEventHandler {
                removeAll()
                _exit(128 + sig)
            }
            s.resume()
            sources.append(s)
        }
    }

    /// Temporary name used for an output at `path`: a hidden sibling carrying the PID.
    static func temporaryName(for path: String) -> String {
        let (dir, base) = splitPath(path)
        return dir + "/." + base + ".sentinel-partial." + String(getpid())
    }

    /// Removes partial outputs for `path` left by processes that no longer run.
    public static func removeStale(besides path: String) {
        let (dir, base) = splitPath(path)
        let prefix = "." + base + ".sentinel-partial."
        for name in (try? directoryEntries(dir)) ?? [] {
            guard name.hasPrefix(prefix), let pid = Int32(name.dropFirst(prefix.count)) else { continue }
            if pid != getpid() && kill(pid, 0) != 0 && errno == ESRCH { removeTree(dir + "/" + name) }
        }
    }
}

/// A tiny mutex (Foundation-free).
final class NSLockLite: @unchecked Sendable {
    private var m = pthread_mutex_t()
    init() { pthread_mutex_init(&m, nil) }
    deinit { pthread_mutex_destroy(&m) }
    func locked<T>(_ body: () throws -> T) rethrows -> T {
        pthread_mutex_lock(&m)
        defer { pthread_mutex_unlock(&m) }
        return try body()
    }
}

func splitPath(_ path: String) -> (dir: String, base: String) {
    var p = path
    while p.count > 1 && p.hasSuffix("/") { p.removeLast() }
    if let slash = p.lastIndex(of: "/") {
        let dir = String(p[..<slash])
        return (dir.isEmpty ? "/" : dir, String(p[p.index(after: slash)...]))
    }
    return (".", p)
}

/// Whether `path` names a regular file (following symbolic links).
public func isRegularFile(_ path: String) -> Bool {
    var st = stat()
    return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFREG
}

/// Names in directory `path` (without `.` and `..`), in directory order.
/// - Throws: ``OutputError`` when it cannot be opened.
public func directoryEntries(_ path: String) throws -> [String] {
    guard let d = opendir(path) else { throw OutputError(path: path, operation: "open directory", errno: errno) }
    defer { closedir(d) }
    var names: [String] = []
    while let e = readdir(d) {
        let name = withUnsafePointer(to: e.pointee.d_name) {
            $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
        }
        if name != "." && name != ".." { names.append(name) }
    }
    return names
}

/// Removes a file or a directory tree (best effort; used for partial outputs only).
func removeTree(_ path: String) {
    var st = stat()
    guard lstat(path, &st) == 0 else { return }
    if (st.st_mode & S_IFMT) == S_IFDIR {
        for n in (try? directoryEntries(path)) ?? [] { removeTree(path + "/" + n) }
        rmdir(path)
    } else {
        unlink(path)
    }
}

/// Writes one file atomically: to a hidden temporary sibling first, then `rename(2)` over the target.
public enum AtomicFile {
    /// Calls `body` with a writer on a temporary file and renames it to `path` when `body` returns.
    /// On any error the temporary file is removed and `path` is untouched.
    public static func write(to path: String, mode: mode_t = 0o644, _ body: (FileWriter) throws -> Void) throws {
        // Only a regular file is ever replaced: renaming over /dev/null, a FIFO or a symlink would destroy it.
        var existing = stat()
        if lstat(path, &existing) == 0 && (existing.st_mode & S_IFMT) != S_IFREG {
            throw OutputError(path: path, operation: "replace (it exists and is not a regular file)", errno: EEXIST)
        }
        PartialOutputs.removeStale(besides: path)
        let tmp = PartialOutputs.temporaryName(for: path)
        PartialOutputs.register(tmp)
        defer { PartialOutputs.unregister(tmp) }
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
        guard fd >= 0 else { throw OutputError(path: path, operation: "create", errno: errno) }
        do {
            try body(FileWriter(path: path, fd: fd))
            guard fsync(fd) == 0 else { throw OutputError(path: path, operation: "fsync", errno: errno) }
            guard close(fd) == 0 else { throw OutputError(path: path, operation: "close", errno: errno) }
        } catch {
            close(fd)
            unlink(tmp)
            throw error
        }
        guard rename(tmp, path) == 0 else {
            let e = errno
            unlink(tmp)
            throw OutputError(path: path, operation: "rename", errno: e)
        }
    }
}

/// Builds an output directory atomically: files are written into a hidden temporary sibling, which is
/// renamed to the target when ``commit(replacing:)`` is called. Until then the target does not exist
/// (or keeps its old content); an error or a signal removes the temporary directory.
public final class AtomicDirectory {
    /// Final path.
    public let path: String
    /// Temporary directory the files go to.
    public let temporaryPath: String
    private var committed = false

    /// Creates the temporary directory.
    /// - Throws: ``OutputError``: `path` exists and `replace` is false (operation "create (exists; use --force)"),
    ///   or the parent directory is not writable.
    public init(path: String, replace: Bool) throws {
        self.path = path
        var st = stat()
        if lstat(path, &st) == 0 && !replace {
            throw OutputError(path: path, operation: "create (it exists; use --force to replace it)", errno: EEXIST)
        }
        if lstat(path, &st) == 0 && (st.st_mode & S_IFMT) != S_IFDIR {
            throw OutputError(path: path, operation: "replace (it exists and is not a directory)", errno: EEXIST)
        }
        PartialOutputs.removeStale(besides: path)
        temporaryPath = PartialOutputs.temporaryName(for: path)
        removeTree(temporaryPath)
        guard mkdir(temporaryPath, 0o755) == 0 else {
            throw OutputError(path: path, operation: "create directory", errno: errno)
        }
        PartialOutputs.register(temporaryPath)
    }

    /// Path of `name` inside the temporary directory.
    public func file(_ name: String) -> String { temporaryPath + "/" + name }

    /// Writes a whole file into the directory.
    public func write(_ name: String, _ body: (FileWriter) throws -> Void) throws {
        let p = file(name)
        let fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw OutputError(path: p, operation: "create", errno: errno) }
        defer { close(fd) }
        try body(FileWriter(path: path + "/" + name, fd: fd))
        guard fsync(fd) == 0 else { throw OutputError(path: path + "/" + name, operation: "fsync", errno: errno) }
    }

    /// Writes `text` as a whole file.
    public func write(_ name: String, text: String) throws {
        try write(name) { try $0.write(text) }
    }

    /// Renames the temporary directory to ``path``; an existing target is replaced (it was checked at init).
    public func commit() throws {
        var st = stat()
        var old: String? = nil
        if lstat(path, &st) == 0 {
            let aside = temporaryPath + ".old"
            guard rename(path, aside) == 0 else { throw OutputError(path: path, operation: "move old output aside", errno: errno) }
            old = aside
        }
        guard rename(temporaryPath, path) == 0 else {
            let e = errno
            if let old { rename(old, path) }
            throw OutputError(path: path, operation: "rename", errno: e)
        }
        committed = true
        PartialOutputs.unregister(temporaryPath)
        if let old { removeTree(old) }
    }

    deinit {
        if !committed {
            removeTree(temporaryPath)
            PartialOutputs.unregister(temporaryPath)
        }
    }
}
