internal import CSodium

/// Argon2id parameters of the `hardened` scheme's key derivation, as recorded in `sentinel.json` (`kdf`).
///
/// The passkey becomes a 32-byte master key by libsodium's `crypto_pwhash` with `crypto_pwhash_ALG_ARGON2ID13`
/// (Argon2id version 0x13, one lane, RFC 9106), with `opsLimit` passes over `memLimit` bytes of memory and a
/// 16-byte random salt. Spec: `../shared/docs/SCHEME.md`, scheme `hardened`.
///
/// Cost (measured with `sentinel bench-kdf` on this project's 2-core machine; see the README): ``interactive``
/// (2 passes, 64 MiB) and ``moderate`` (3 passes, 256 MiB) are libsodium's named settings. Every party that holds
/// the key pays it once per command (`convert`, `encrypt`, `vocab`, `verify`), and so does an attacker per guessed passkey.
public struct Argon2idParameters: Sendable, Equatable {
    /// Argon2 passes (libsodium `opslimit`, Argon2's `t_cost`).
    public var opsLimit: Int
    /// Memory in bytes (libsodium `memlimit`; Argon2's `m_cost` is `memLimit / 1024` KiB). A multiple of 1024.
    public var memLimit: Int
    /// 16 random bytes (`crypto_pwhash_SALTBYTES`), public, written to `sentinel.json` as 32 lowercase hex characters.
    public var salt: [UInt8]

    /// Salt length in bytes (`crypto_pwhash_SALTBYTES`).
    public static let saltBytes = 16
    /// Master key length in bytes.
    public static let keyBytes = 32
    /// Name written to `sentinel.json` (`kdf.algorithm`).
    public static let algorithmName = "argon2id13"
    /// Accepted passes: libsodium's minimum (1) to 64. The cap keeps a hostile `sentinel.json` from stalling a client.
    public static let opsRange = 1...64
    /// Accepted memory: libsodium's minimum (8 KiB) to 4 GiB (libsodium's SENSITIVE setting is 1 GiB).
    public static let memRange = 8192...(4 << 30)

    /// libsodium's `crypto_pwhash_OPSLIMIT_INTERACTIVE` / `MEMLIMIT_INTERACTIVE`: 2 passes, 64 MiB.
    public static func interactive(salt: [UInt8]) -> Argon2idParameters {
        Argon2idParameters(opsLimit: 2, memLimit: 64 << 20, salt: salt)
    }

    /// libsodium's `crypto_pwhash_OPSLIMIT_MODERATE` / `MEMLIMIT_MODERATE`: 3 passes, 256 MiB.
    public static func moderate(salt: [UInt8]) -> Argon2idParameters {
        Argon2idParameters(opsLimit: 3, memLimit: 256 << 20, salt: salt)
    }

    /// The default of `sentinel convert --scheme hardened` (see ``moderate(salt:)``).
    public static func standard(salt: [UInt8]) -> Argon2idParameters { moderate(salt: salt) }

    public init(opsLimit: Int, memLimit: Int, salt: [UInt8]) {
        self.opsLimit = opsLimit
        self.memLimit = memLimit
        self.salt = salt
    }

    /// 16 bytes from libsodium's `randombytes_buf` (the operating system's CSPRNG).
    public static func randomSalt() -> [UInt8] {
        _ = sodiumReady
        var salt = [UInt8](repeating: 0, count: saltBytes)
        salt.withUnsafeMutableBytes { randombytes_buf($0.baseAddress!, $0.count) }
        return salt
    }

    /// Why the parameters are not acceptable, or nil when they are.
    public var problem: String? {
        if salt.count != Self.saltBytes { return "the salt is \(salt.count) bytes; Argon2id salts here are \(Self.saltBytes) bytes" }
        if !Self.opsRange.contains(opsLimit) { return "opslimit \(opsLimit) is outside \(Self.opsRange.lowerBound)...\(Self.opsRange.upperBound)" }
        if !Self.memRange.contains(memLimit) || memLimit % 1024 != 0 {
            return "memlimit \(memLimit) bytes is not a multiple of 1024 from \(Self.memRange.lowerBound) to \(Self.memRange.upperBound)"
        }
        return nil
    }
}

/// Errors of the key derivation. Messages never contain the passkey or any key material.
public enum KeyDerivationError: Error, CustomStringConvertible, Equatable {
    /// The parameters are outside what Sentinel accepts (the text says which).
    case invalidParameters(String)
    /// libsodium's `crypto_pwhash` failed (usually: `memLimit` bytes could not be allocated).
    case failed(opsLimit: Int, memLimit: Int)

    public var description: String {
        switch self {
        case let .invalidParameters(why): "invalid Argon2id parameters: \(why)"
        case let .failed(ops, mem): "Argon2id (opslimit \(ops), memlimit \(mem) bytes) failed: not enough memory?"
        }
    }
}

let sodiumReady: Bool = sodium_init() >= 0

/// 32 bytes of key material, wiped (`sodium_memzero`) when released. Never printed: `description` is redacted.
public final class SecretKey: @unchecked Sendable, CustomStringConvertible {
    /// Key length in bytes.
    public static let byteCount = 32
    let bytes: UnsafeMutablePointer<UInt8>

    init() {
        bytes = .allocate(capacity: Self.byteCount)
        bytes.initialize(repeating: 0, count: Self.byteCount)
    }

    /// A key made of `raw` (32 bytes), for known-answer tests and callers that hold raw key material.
    public convenience init(raw: [UInt8]) {
        precondition(raw.count == Self.byteCount, "a SecretKey is \(Self.byteCount) bytes")
        self.init()
        bytes.update(from: raw, count: Self.byteCount)
    }

    deinit {
        sodium_memzero(bytes, Self.byteCount)
        bytes.deallocate()
    }

    /// The key bytes, for the caller's closure only.
    public func withBytes<R>(_ body: (UnsafeBufferPointer<UInt8>) throws -> R) rethrows -> R {
        try body(UnsafeBufferPointer(start: bytes, count: Self.byteCount))
    }

    /// A copy of the key bytes (tests and the token hasher, which keeps its own copy).
    public var rawBytes: [UInt8] { Array(UnsafeBufferPointer(start: bytes, count: Self.byteCount)) }

    public var description: String { "SecretKey(redacted)" }
}

/// The `hardened` scheme's keys: the Argon2id master key and the three subkeys derived from it.
///
/// Subkey `i` is libsodium's `crypto_kdf_derive_from_key(32, id: 1, context: c_i, master)`, i.e.
/// `BLAKE2b(message: empty, key: master, digest_size: 32, salt: LE64(1) ‖ 0^8, personal: c_i ‖ 0^8)`,
/// with the 8-byte contexts ``Purpose`` lists, so that the three subkeys are independent.
public struct HardenedKeys: Sendable {
    /// What a subkey is for; its raw value is the 8-byte `crypto_kdf` context.
    public enum Purpose: String, CaseIterable, Sendable {
        /// Keyed BLAKE2b-128 digests of wordpieces.
        case tokenDigests = "SNTLtokn"
        /// The ChaCha20 stream that drives the Fisher–Yates permutation of ids.
        case permutation = "SNTLperm"
        /// The ChaCha20 streams of the embedding transform (noise, re-initialised rows, per-dimension scales).
        case embeddingTransform = "SNTLembd"
    }

    /// The `crypto_kdf` subkey id used with every context.
    public static let subkeyID: UInt64 = 1

    public let tokenDigests: SecretKey
    public let permutation: SecretKey
    public let embeddingTransform: SecretKey

    /// Runs Argon2id on `passkey` (its UTF-8 bytes, any length) and derives the subkeys.
    /// - Throws: ``KeyDerivationError``.
    public init(passkey: String, parameters: Argon2idParameters) throws {
        let master = try Self.masterKey(passkey: passkey, parameters: parameters)
        try self.init(masterKey: master)
    }

    /// Derives the subkeys from a master key.
    public init(masterKey: SecretKey) throws {
        tokenDigests = Self.subkey(.tokenDigests, of: masterKey)
        permutation = Self.subkey(.permutation, of: masterKey)
        embeddingTransform = Self.subkey(.embeddingTransform, of: masterKey)
    }

    /// `crypto_pwhash(out: 32 bytes, passwd: UTF-8 of passkey, salt, opslimit, memlimit, ALG_ARGON2ID13)`.
    /// - Throws: ``KeyDerivationError``.
    public static func masterKey(passkey: String, parameters: Argon2idParameters) throws -> SecretKey {
        if let problem = parameters.problem { throw KeyDerivationError.invalidParameters(problem) }
        _ = sodiumReady
        let key = SecretKey()
        // A trailing zero byte keeps the buffer non-empty for an empty passkey; it is not hashed.
        var password = Array(passkey.utf8) + [0]
        let length = password.count - 1
        defer { sodium_memzero(&password, password.count) }
        let status = password.withUnsafeBufferPointer { pw in
            parameters.salt.withUnsafeBufferPointer { salt in
                pw.withMemoryRebound(to: CChar.self) { pwc in
                    crypto_pwhash(
                        key.bytes, UInt64(SecretKey.byteCount), pwc.baseAddress!, UInt64(length), salt.baseAddress!,
                        UInt64(parameters.opsLimit), Int(parameters.memLimit), crypto_pwhash_ALG_ARGON2ID13)
                }
            }
        }
        guard status == 0 else { throw KeyDerivationError.failed(opsLimit: parameters.opsLimit, memLimit: parameters.memLimit) }
        return key
    }

    /// `crypto_kdf_derive_from_key(subkey, 32, subkeyID, purpose.rawValue, master)`.
    public static func subkey(_ purpose: Purpose, of master: SecretKey) -> SecretKey {
        _ = sodiumReady
        let out = SecretKey()
        let context = Array(purpose.rawValue.utf8)
        precondition(context.count == 8)
        context.withUnsafeBufferPointer { ctx in
            ctx.withMemoryRebound(to: CChar.self) { c in
                _ = crypto_kdf_derive_from_key(out.bytes, SecretKey.byteCount, subkeyID, c.baseAddress!, master.bytes)
            }
        }
        return out
    }

    /// The token hasher of the scheme: keyed BLAKE2b, 16-byte digests (32 lowercase hex characters, as in `seed`).
    public func tokenHasher() -> TokenHasher {
        // A 32-byte key and a 16-byte digest are always valid.
        try! TokenHasher(key: tokenDigests.rawBytes, digestSize: 16)
    }
}
