#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A read-only, memory-mapped file. Bytes are paged in on demand: opening a 100 GB file costs
/// nothing until its bytes are touched.
///
/// The mapping lives as long as the object; ``bytes`` must not escape it.
public final class MappedFile: @unchecked Sendable {
    /// The path as given.
    public let path: String
    /// The whole file. Empty for a zero-length file.
    public let bytes: UnsafeRawBufferPointer
    private let base: UnsafeMutableRawPointer?

    /// Maps `path` read-only.
    /// - Throws: ``OutputError`` when the file cannot be opened, stat'ed or mapped (exit 74).
    public init(path: String) throws {
        self.path = path
        // O_NONBLOCK: opening a FIFO must not wait for a writer; the file type is checked next.
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { throw OutputError(path: path, operation: "open", errno: errno) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw OutputError(path: path, operation: "stat", errno: errno) }
        guard (st.st_mode & S_IFMT) == S_IFREG else {
            throw OutputError(path: path, operation: (st.st_mode & S_IFMT) == S_IFDIR ? "open (it is a directory)" : "open (not a regular file)")
        }
        let size = Int(st.st_size)
        if size == 0 {
            base = nil
            bytes = UnsafeRawBufferPointer(start: nil, count: 0)
            return
        }
        let p = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0)
        guard let p, p != MAP_FAILED else { throw OutputError(path: path, operation: "mmap", errno: errno) }
        base = p
        bytes = UnsafeRawBufferPointer(start: p, count: size)
    }

    /// A private anonymous mapping holding a copy of `bytes`, named `path` in errors: readers see it exactly as
    /// a mapped file of that content (used to run the readers on many mutated copies of a file in memory).
    /// - Throws: ``OutputError`` when the mapping cannot be made.
    public init(copying bytes: UnsafeRawBufferPointer, path: String) throws {
        self.path = path
        guard bytes.count > 0 else {
            base = nil
            self.bytes = UnsafeRawBufferPointer(start: nil, count: 0)
            return
        }
        let p = mmap(nil, bytes.count, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
        guard let p, p != MAP_FAILED else { throw OutputError(path: path, operation: "mmap", errno: errno) }
        p.copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
        _ = mprotect(p, bytes.count, PROT_READ)
        base = p
        self.bytes = UnsafeRawBufferPointer(start: p, count: bytes.count)
    }

    /// Tells the kernel the whole file will be read in order (read-ahead).
    public func adviseSequential() {
        if let base { _ = madvise(base, bytes.count, MADV_SEQUENTIAL) }
    }

    /// Drops the resident pages wholly inside `range` (bytes of the file) from this process's memory.
    /// They are read again from the page cache if touched later; use it after streaming a region once.
    public func evict(_ range: Range<Int>) {
        guard let base, !range.isEmpty else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let lo = (range.lowerBound + page - 1) / page * page
        let hi = min(range.upperBound, bytes.count) / page * page
        if hi > lo { _ = madvise(base + lo, hi - lo, MADV_DONTNEED) }
    }

    deinit {
        if let base { munmap(base, bytes.count) }
    }
}
