internal import COpenSSL
#if canImport(Glibc)
    import Glibc
#endif

/// SHA-256 over streamed bytes (OpenSSL libcrypto's EVP interface, which uses the CPU's SHA extensions).
/// Used for the source digests in `sentinel.json` and by tests comparing tensor bytes with fixtures.
public struct SHA256Stream: ~Copyable {
    private let context: OpaquePointer

    public init() {
        context = EVP_MD_CTX_new()!
        EVP_DigestInit_ex(context, EVP_sha256(), nil)
    }

    deinit { EVP_MD_CTX_free(context) }

    /// Adds `bytes` to the digest.
    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count > 0 else { return }
        EVP_DigestUpdate(context, bytes.baseAddress, bytes.count)
    }

    /// The digest as 64 lowercase hex characters.
    public consuming func finalize() -> String {
        var out = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 0
        EVP_DigestFinal_ex(context, &out, &length)
        let digits = Array("0123456789abcdef".utf8)
        return String(decoding: out.flatMap { [digits[Int($0 >> 4)], digits[Int($0 & 15)]] }, as: UTF8.self)
    }

    /// SHA-256 of a whole buffer.
    public static func hex(_ bytes: UnsafeRawBufferPointer) -> String {
        var s = SHA256Stream()
        s.update(bytes)
        return s.finalize()
    }

    /// SHA-256 and size of a file, read in 1 MiB blocks (no mapping, so it adds nothing to the resident set).
    /// - Throws: ``OutputError``.
    public static func hex(file path: String) throws -> (String, Int) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw OutputError(path: path, operation: "open", errno: errno) }
        defer { close(fd) }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 64)
        defer { buffer.deallocate() }
        var s = SHA256Stream(), total = 0
        while true {
            let n = try FileIO.read(fd, into: buffer.baseAddress!, count: buffer.count, path: path)
            if n == 0 { break }
            s.update(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
            total += n
        }
        return (s.finalize(), total)
    }
}
