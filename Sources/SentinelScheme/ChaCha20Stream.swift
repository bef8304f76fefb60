internal import CSodium
#if canImport(Glibc)
    import Glibc
#endif

/// A ChaCha20 keystream (RFC 8439, 96-bit nonce, 32-bit block counter from 0) as a source of random numbers
/// for the `hardened` scheme: libsodium's `crypto_stream_chacha20_ietf_xor_ic` over zero bytes.
///
/// Words are read as little-endian `UInt64`s from consecutive keystream bytes. Derived draws:
/// - ``uniform(below:)``: Lemire's multiply-and-reject method (D. Lemire, "Fast Random Integer Generation in an
///   Interval", ACM TOMACS 2019), exactly unbiased;
/// - ``unitInterval()``: `(word >> 11) · 2⁻⁵³`, in `[0, 1)`;
/// - ``gaussianPair()``: Box–Muller, `r = √(−2 ln(1 − u₁))`, `(r cos 2πu₂, r sin 2πu₂)` from two unit draws.
public struct ChaCha20Stream {
    /// Bytes of keystream produced per refill (64 ChaCha20 blocks).
    static let bufferBytes = 4096

    private let key: [UInt8]
    private let nonce: [UInt8]
    private var counter: UInt32 = 0
    private var buffer = [UInt8](repeating: 0, count: ChaCha20Stream.bufferBytes)
    private var position = ChaCha20Stream.bufferBytes

    /// - Parameters:
    ///   - key: 32 bytes.
    ///   - nonce: 12 bytes (``nonce(domain:index:)`` builds the scheme's nonces).
    public init(key: SecretKey, nonce: [UInt8]) {
        precondition(nonce.count == 12)
        _ = sodiumReady
        self.key = key.rawBytes
        self.nonce = nonce
    }

    /// The scheme's nonce: `LE32(domain) ‖ LE64(index)`.
    public static func nonce(domain: UInt32, index: UInt64) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 12)
        for i in 0..<4 { out[i] = UInt8(truncatingIfNeeded: domain >> (8 * UInt32(i))) }
        for i in 0..<8 { out[4 + i] = UInt8(truncatingIfNeeded: index >> (8 * UInt64(i))) }
        return out
    }

    /// Writes `count` bytes of the keystream of `key` and `nonce` starting at block `initialCounter` into `out`.
    public static func keystream(
        key: UnsafeBufferPointer<UInt8>, nonce: [UInt8], initialCounter: UInt32 = 0,
        into out: UnsafeMutableRawBufferPointer
    ) {
        precondition(key.count == 32 && nonce.count == 12)
        _ = sodiumReady
        guard let base = out.baseAddress?.assumingMemoryBound(to: UInt8.self), !out.isEmpty else { return }
        base.update(repeating: 0, count: out.count)
        _ = crypto_stream_chacha20_ietf_xor_ic(base, base, UInt64(out.count), nonce, initialCounter, key.baseAddress!)
    }

    private mutating func refill() {
        let blocks = UInt32(Self.bufferBytes / 64)
        let (k, n, c) = (key, nonce, counter)
        buffer.withUnsafeMutableBytes { b in
            k.withUnsafeBufferPointer { Self.keystream(key: $0, nonce: n, initialCounter: c, into: b) }
        }
        counter &+= blocks
        position = 0
    }

    /// The next 8 keystream bytes as a little-endian `UInt64`.
    public mutating func next64() -> UInt64 {
        if position + 8 > Self.bufferBytes { refill() }
        let v = buffer.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: position, as: UInt64.self)) }
        position += 8
        return v
    }

    /// A uniform integer in `0..<n` (`n ≥ 1`), without bias: Lemire's method on 64-bit words.
    public mutating func uniform(below n: UInt64) -> UInt64 {
        precondition(n > 0)
        var m = next64().multipliedFullWidth(by: n)
        if m.low < n {
            let threshold = (0 &- n) % n
            while m.low < threshold { m = next64().multipliedFullWidth(by: n) }
        }
        return m.high
    }

    /// A uniform double in `[0, 1)` with 53 random bits.
    public mutating func unitInterval() -> Double {
        Double(next64() >> 11) * 0x1p-53
    }

    /// Two independent standard normal values (Box–Muller).
    public mutating func gaussianPair() -> (Double, Double) {
        let u1 = unitInterval(), u2 = unitInterval()
        return Self.boxMuller(u1, u2)
    }

    @inline(__always)
    static func boxMuller(_ u1: Double, _ u2: Double) -> (Double, Double) {
        let r = (-2 * log(1 - u1)).squareRoot()
        let angle = 2 * Double.pi * u2
        return (r * cos(angle), r * sin(angle))
    }

    /// Fills `out` with standard normal values from the keystream of `key` and `nonce` (from block 0): value pair
    /// `k` uses words `2k` and `2k+1` (Box–Muller); an odd count drops the last sine value.
    /// - Parameter scratch: at least `8 · 2 · ⌈count/2⌉` bytes, reused across calls.
    public static func gaussians(
        key: UnsafeBufferPointer<UInt8>, nonce: [UInt8], into out: UnsafeMutablePointer<Double>,
        count: Int, scratch: UnsafeMutableRawBufferPointer
    ) {
        let pairs = (count + 1) / 2
        precondition(scratch.count >= pairs * 16)
        keystream(key: key, nonce: nonce, into: UnsafeMutableRawBufferPointer(rebasing: scratch[0..<(pairs * 16)]))
        let words = scratch.baseAddress!.assumingMemoryBound(to: UInt64.self)
        for k in 0..<pairs {
            let u1 = Double(UInt64(littleEndian: words[2 * k]) >> 11) * 0x1p-53
            let u2 = Double(UInt64(littleEndian: words[2 * k + 1]) >> 11) * 0x1p-53
            let (a, b) = boxMuller(u1, u2)
            out[2 * k] = a
            if 2 * k + 1 < count { out[2 * k + 1] = b }
        }
    }
}
