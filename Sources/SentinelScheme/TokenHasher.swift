internal import CSodium
import Dispatch
import SentinelCore
#if canImport(Glibc)
    import Glibc
#endif

/// Keyed BLAKE2b token digests: `blake2b(token.utf8, key: passkey.utf8, digest_size: 16).hexdigest()`.
///
/// libsodium's `crypto_generichash` is BLAKE2b with the digest length and key in the parameter block,
/// identical to Python's `hashlib.blake2b` for keys of 0–64 bytes (an empty key is unkeyed BLAKE2b).
/// Source: SentinelLMs converter (`llm_converter.py`), `../shared/docs/SCHEME.md` step 3; pinned by
/// `../shared/fixtures/blake2b/keyed_hashes.json`.
public struct TokenHasher: Sendable {
    /// Largest key libsodium and Python accept, in bytes.
    public static let maxKeyBytes = 64

    /// Errors constructing a hasher.
    public enum Error: Swift.Error, CustomStringConvertible, Equatable {
        /// The key is longer than 64 bytes of UTF-8 (the value is the length, never the key).
        case keyTooLong(bytes: Int)
        /// The digest size is outside 1...64 bytes.
        case invalidDigestSize(Int)

        public var description: String {
            switch self {
            case let .keyTooLong(n): "the passkey is \(n) bytes of UTF-8; BLAKE2b keys are at most 64 bytes"
            case let .invalidDigestSize(n): "digest size \(n) is outside 1...64 bytes"
            }
        }
    }

    private let key: [UInt8]
    /// Digest length in bytes (16 for the seed scheme: 32 hex characters).
    public let digestSize: Int

    /// - Parameters:
    ///   - key: the key bytes (the passkey's UTF-8 for the seed scheme), 0–64 bytes.
    ///   - digestSize: bytes of digest, 1–64.
    /// - Throws: ``Error``.
    public init(key: [UInt8], digestSize: Int = 16) throws {
        guard key.count <= Self.maxKeyBytes else { throw Error.keyTooLong(bytes: key.count) }
        guard (1...64).contains(digestSize) else { throw Error.invalidDigestSize(digestSize) }
        _ = Self.sodiumReady
        self.key = key
        self.digestSize = digestSize
    }

    /// A hasher keyed with the UTF-8 bytes of `passkey`.
    public init(passkey: String, digestSize: Int = 16) throws {
        try self.init(key: Array(passkey.utf8), digestSize: digestSize)
    }

    private static let sodiumReady: Bool = sodium_init() >= 0

    /// Writes the raw digest of `bytes` into `out` (`digestSize` bytes).
    public func digest(_ bytes: UnsafeRawBufferPointer, into out: UnsafeMutableRawBufferPointer) {
        key.withUnsafeBufferPointer { k in
            _ = crypto_generichash(
                out.baseAddress!.assumingMemoryBound(to: UInt8.self), digestSize,
                bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(bytes.count),
                k.baseAddress, k.count)
        }
    }

    /// The lowercase hex digest of `bytes` (2 × `digestSize` characters).
    public func hexDigest(_ bytes: UnsafeRawBufferPointer) -> String {
        withUnsafeTemporaryAllocation(byteCount: 64, alignment: 8) { raw in
            digest(bytes, into: raw)
            return String(unsafeUninitializedCapacity: digestSize * 2) { out in
                let hex: StaticString = "0123456789abcdef"
                hex.withUTF8Buffer { h in
                    for i in 0..<digestSize {
                        let b = raw[i]
                        out[2 * i] = h[Int(b >> 4)]
                        out[2 * i + 1] = h[Int(b & 15)]
                    }
                }
                return digestSize * 2
            }
        }
    }

    /// The lowercase hex digest of the UTF-8 bytes of `token`.
    public func hexDigest(_ token: String) -> String {
        var copy = token
        return copy.withUTF8 { hexDigest(UnsafeRawBufferPointer($0)) }
    }
}

extension TokenHasher {
    /// The adapted spelling of every vocabulary entry (SCHEME.md steps 2–3): the hex digest of each token,
    /// except the ids in `special`, which keep their text. Uses both cores.
    /// - Parameter tokens: the vocabulary by id, `[vocab]`.
    /// - Returns: `[vocab]` strings, index = original id.
    public func hexDigests(of tokens: [String], keeping special: Set<Int>) -> [String] {
        var out = [String](repeating: "", count: tokens.count)
        out.withUnsafeMutableBufferPointer { buf in
            let base = buf.baseAddress!
            Parallel.forEach(2) { w in
                for i in stride(from: w, to: tokens.count, by: 2) {
                    (base + i).pointee = special.contains(i) ? tokens[i] : hexDigest(tokens[i])
                }
            }
        }
        return out
    }
}
