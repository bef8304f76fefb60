// replaced by SentinelAdapt.TokenHasher at merge
//
// Minimal stand-in for the lead's keyed BLAKE2b token hasher, used only by ``Encryptor`` until
// SentinelAdapt.TokenHasher lands on main. Same primitive: libsodium crypto_generichash (BLAKE2b),
// 16-byte digest, key = UTF-8 bytes of the passkey (0–64 bytes), lowercase hex.
import CSodium

struct KeyedDigest: Sendable {
    private let key: [UInt8]

    /// - Throws: ``KeyError`` when the passkey is over 64 UTF-8 bytes (BLAKE2b's key limit).
    init(key: String) throws {
        let bytes = Array(key.utf8)
        guard bytes.count <= Int(crypto_generichash_KEYBYTES_MAX) else {
            throw KeyError(message: "the passkey is \(bytes.count) bytes long; keyed BLAKE2b accepts at most 64")
        }
        guard sodium_init() >= 0 else { fatalError("libsodium failed to initialise") }
        self.key = bytes
    }

    /// Writes the 32 lowercase hex characters of `blake2b(token, key, digest_size=16)` at `out`.
    func hexDigest(of token: String, into out: UnsafeMutablePointer<UInt8>) {
        var digest = [UInt8](repeating: 0, count: 16)
        var token = token
        token.withUTF8 { t in
            key.withUnsafeBufferPointer { k in
                _ = crypto_generichash(&digest, 16, t.baseAddress, UInt64(t.count), k.baseAddress, k.count)
            }
        }
        let hex: [UInt8] = Array("0123456789abcdef".utf8)
        for i in 0..<16 {
            out[2 * i] = hex[Int(digest[i] >> 4)]
            out[2 * i + 1] = hex[Int(digest[i] & 15)]
        }
    }
}
