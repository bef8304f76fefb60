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
/// temporary paths carry the PID (`.NAME.sentinel-partial.PID`) and the next run writing NAME removes those
/// of processes that no longer run (``removeStale(besides:)``).
public enum PartialOutputs {
    nonisolated(unsafe) private static var paths: [String] = []
    private static let lock = NSLockLite()
    nonisolated(unsafe) private static var sources: [DispatchSourceSignal] = []

    static func register(_ path: String) { lock.locked { paths.append(path) } }
    static func unregister(_ path: String) { lock.locked { paths.removeAll { $0 == path } } }

    /// Removes every registered partial output now.
    ///
    /// Called from a signal handler while the writing thread still runs: each path is first renamed to a
    /// name no writer uses (`….removing`), so that the writer can add no file to a directory being removed
    /// (its next `open` fails), then removed; a second pass catches a file the writer created in between.
    public static func removeAll() {
        for _ in 0..<3 {
            let list = lock.locked { paths }
            var found = false
            for p in list {
                var st = stat()
                guard lstat(p, &st) == 0 else { continue }
                found = true
                let doomed = p + ".removing"
                if rename(p, doomed) == 0 { removeTree(doomed) } else { removeTree(p) }
            }
            if !found { break }
            usleep(2_000)
        }
    }

    /// Installs handlers for SIGINT, SIGTERM and SIGHUP that remove partial outputs and exit with
    /// 128 + signal number, and ignores SIGXFSZ, so that a write over the file size limit (`ulimit -f`) fails
    /// with `EFBIG` (an ``OutputError``, exit 74, the partial output removed) instead of killing the process
    /// without a word. Call once, early, from the executable.
    public static func installSignalHandlers() {
        signal(SIGXFSZ, SIG_IGN)
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

    /// The infix of temporary names: `.NAME` + this + PID (+ a suffix).
    static let infix = ".sentinel-partial."

    /// Temporary name used for an output at `path`: a hidden sibling carrying the PID.
    static func temporaryName(for path: String) -> String {
        let (dir, base) = splitPath(path)
        return dir + "/." + base + infix + String(getpid())
    }

    /// Removes partial outputs for `path` left by processes that no longer run: `.NAME.sentinel-partial.PID`
    /// and its suffixed forms (`….removing`, `….old`) whose PID is not a running process.
    public static func removeStale(besides path: String) {
        let (dir, base) = splitPath(path)
        let prefix = "." + base + infix
        for name in (try? directoryEntries(dir)) ?? [] {
            guard name.hasPrefix(prefix) else { continue }
            let rest = name.dropFirst(prefix.count)
            let digits = rest.prefix { $0.isASCII && $0.isNumber }
            guard !digits.isEmpty, digits.count == rest.count || rest.dropFirst(digits.count).hasPrefix("."),
                let pid = Int32(digits)
            else { continue }
            if pid != getpid() && kill(pid, 0) != 0 && errno == ESRCH { removeTree(dir + "/" + name) }
        }
    }
}

/// An output exists (or appeared while this run was writing it) and replacing it needs `--force`.
/// A usage error: the CLI exits with 64, like its other conflicts between the arguments and the file system.
public struct OutputExistsError: Error, CustomStringConvertible, Equatable, Sendable {
    public var path: String
    /// True when the path did not exist at the start and another process created it meanwhile.
    public var appearedMeanwhile: Bool

    public init(path: String, appearedMeanwhile: Bool = false) {
        self.path = path
        self.appearedMeanwhile = appearedMeanwhile
    }

    public var description: String {
        appearedMeanwhile
            ? "\(path) appeared while this run was writing it (another run writing the same output?); it was left as it is: use --force to replace it"
            : "\(path) exists: use --force to replace it"
    }
}

/// Renames that never replace by accident (`renameat2(2)`, through the CSentinelLinux shim).
enum AtomicRename {
    /// Renames `from` to `to`, failing with ``OutputExistsError`` when `to` exists (atomically:
    /// `RENAME_NOREPLACE`). Where the file system lacks the flag, a file is linked then unlinked (`link(2)`
    /// also never replaces) and a directory is renamed after a check (not atomic there).
    static func noReplace(_ from: String, _ to: String, isDirectory: Bool) throws {
        if CSentinelLinux_rename_noreplace(from, to) == 0 { return }
        var e = errno
        if e == EINVAL || e == ENOSYS || e == EOPNOTSUPP {
            if !isDirectory {
                if link(from, to) == 0 {
                    unlink(from)
                    return
                }
                e = errno
                if e == EPERM || e == EOPNOTSUPP || e == EXDEV { e = plainRename(from, to) }
            } else {
                e = plainRename(from, to)
            }
            if e == 0 { return }
        }
        if e == EEXIST || e == ENOTEMPTY { throw OutputExistsError(path: to, appearedMeanwhile: true) }
        throw OutputError(path: to, operation: "rename", errno: e)
    }

    private static func plainRename(_ from: String, _ to: String) -> Int32 {
        var st = stat()
        if lstat(to, &st) == 0 { return EEXIST }
        return rename(from, to) == 0 ? 0 : errno
    }

    /// Puts `from` at `to`, replacing what is there in one step: `to`, if present, is swapped with `from`
    /// (`RENAME_EXCHANGE`), so that `from` then holds the old content, which the caller removes. At no moment
    /// is `to` missing or partial. Returns whether an old `to` now sits at `from`.
    static func replacing(_ from: String, _ to: String, isDirectory: Bool) throws -> Bool {
        var st = stat()
        if lstat(to, &st) == 0 {
            if CSentinelLinux_rename_exchange(from, to) == 0 { return true }
            let e = errno
            if e != EINVAL && e != ENOSYS && e != EOPNOTSUPP && e != ENOENT {
                throw OutputError(path: to, operation: "rename (exchange)", errno: e)
            }
            if e != ENOENT {
                // No exchange on this file system: a file is renamed over; a directory is moved aside first.
                if !isDirectory {
                    guard rename(from, to) == 0 else { throw OutputError(path: to, operation: "rename", errno: errno) }
                    return false
                }
                let aside = from + ".old"
                guard rename(to, aside) == 0 else { throw OutputError(path: to, operation: "move old output aside", errno: errno) }
                guard rename(from, to) == 0 else {
                    let e = errno
                    rename(aside, to)
                    throw OutputError(path: to, operation: "rename", errno: e)
                }
                guard rename(aside, from) == 0 else {
                    removeTree(aside)
                    return false
                }
                return true
            }
        }
        // Nothing to replace (or it went away meanwhile).
        if CSentinelLinux_rename_noreplace(from, to) == 0 { return false }
        let e = errno
        if e == EEXIST { return try replacing(from, to, isDirectory: isDirectory) }
        guard rename(from, to) == 0 else { throw OutputError(path: to, operation: "rename", errno: errno) }
        _ = e
        return false
    }

    /// `fsync(2)` of the directory holding `path`, so that a rename into it survives a crash (best effort).
    static func syncParent(of path: String) {
        let fd = open(splitPath(path).dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return }
        fsync(fd)
        close(fd)
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

/// Writes one file atomically: to a hidden temporary sibling first, then renamed to the target.
public enum AtomicFile {
    /// Calls `body` with a writer on a temporary file and renames it to `path` when `body` returns.
    /// On any error the temporary file is removed and `path` is untouched.
    /// - Parameter replace: whether an existing `path` is replaced (in one step). When false, a `path` that
    ///   exists, or appears while `body` runs (another process), is left as it is and
    ///   ``OutputExistsError`` is thrown.
    /// - Throws: ``OutputError`` (`ENOSPC`, `EFBIG` over `ulimit -f`, …), ``OutputExistsError``, what `body` throws.
    public static func write(to path: String, mode: mode_t = 0o644, replace: Bool = true, _ body: (FileWriter) throws -> Void) throws {
        // Only a regular file is ever replaced: renaming over /dev/null, a FIFO or a symlink would destroy it.
        var existing = stat()
        let exists = lstat(path, &existing) == 0
        if exists && (existing.st_mode & S_IFMT) != S_IFREG {
            throw OutputError(path: path, operation: "replace (it exists and is not a regular file)", errno: EEXIST)
        }
        if exists && !replace { throw OutputExistsError(path: path) }
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
        do {
            if replace {
                if try AtomicRename.replacing(tmp, path, isDirectory: false) { unlink(tmp) }
            } else {
                try AtomicRename.noReplace(tmp, path, isDirectory: false)
            }
        } catch {
            unlink(tmp)
            throw error
        }
        AtomicRename.syncParent(of: path)
    }
}

/// Builds an output directory atomically: files are written into a hidden temporary sibling, which is
/// renamed to the target when ``commit()`` is called. Until then the target does not exist (or keeps its
/// old content); an error or a signal removes the temporary directory, and a SIGKILL leaves it under a name
/// carrying the PID, which the next run removes (``PartialOutputs/removeStale(besides:)``).
public final class AtomicDirectory {
    /// Final path.
    public let path: String
    /// Temporary directory the files go to.
    public let temporaryPath: String
    /// Whether an existing ``path`` may be replaced (`--force`).
    public let replace: Bool
    private var committed = false

    /// Creates the temporary directory.
    /// - Throws: ``OutputExistsError`` when `path` exists and `replace` is false; ``OutputError`` when `path`
    ///   is not a directory, or the parent directory is not writable.
    public init(path: String, replace: Bool) throws {
        self.path = path
        self.replace = replace
        var st = stat()
        if lstat(path, &st) == 0 && !replace { throw OutputExistsError(path: path) }
        if lstat(path, &st) == 0 && (st.st_mode & S_IFMT) != S_IFDIR {
            throw OutputError(path: path, operation: "replace (it exists and is not a directory)", errno: EEXIST)
        }
        PartialOutputs.removeStale(besides: path)
        temporaryPath = PartialOutputs.temporaryName(for: path)
        removeTree(temporaryPath)
        // Registered before it exists: a signal right after mkdir still removes it.
        PartialOutputs.register(temporaryPath)
        guard mkdir(temporaryPath, 0o755) == 0 else {
            let e = errno
            PartialOutputs.unregister(temporaryPath)
            throw OutputError(path: path, operation: "create directory", errno: e)
        }
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

    /// Renames the temporary directory to ``path`` in one step. With ``replace``, an existing target is
    /// swapped out atomically (`RENAME_EXCHANGE`) and then removed: a kill at any moment leaves the old
    /// directory or the new one at ``path``. Without it, a target that appeared since `init` (another run)
    /// is left alone and ``OutputExistsError`` is thrown (`RENAME_NOREPLACE`).
    public func commit() throws {
        if replace {
            let hasOld = try AtomicRename.replacing(temporaryPath, path, isDirectory: true)
            committed = true
            AtomicRename.syncParent(of: path)
            // The old directory now sits at the temporary path, still registered: remove it, then forget it.
            if hasOld { removeTree(temporaryPath) }
            PartialOutputs.unregister(temporaryPath)
        } else {
            try AtomicRename.noReplace(temporaryPath, path, isDirectory: true)
            committed = true
            PartialOutputs.unregister(temporaryPath)
            AtomicRename.syncParent(of: path)
        }
    }

    deinit {
        if !committed {
            removeTree(temporaryPath)
            PartialOutputs.unregister(temporaryPath)
        }
    }
}
