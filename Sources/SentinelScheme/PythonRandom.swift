/// CPython's `random.Random`: the MT19937 Mersenne Twister with CPython's seeding and derived draws.
///
/// Reproduces CPython 3.11 `Modules/_randommodule.c` and `Lib/random.py` bit for bit:
/// - seeding with an integer: `init_by_array` over the 32-bit words of `abs(seed)`, least significant first
///   (`0` → `[0]`);
/// - `random()`: `(a·2²⁶ + b) / 2⁵³` with `a = genrand >> 5`, `b = genrand >> 6`;
/// - `getrandbits(k)`, `_randbelow(n)` (rejection sampling) and `shuffle(x)`.
/// Pinned by `../shared/fixtures/pyrandom/mt19937.json`.
///
/// `@inlinable` so that callers in optimised modules (the audit's seed brute force draws ~4·10⁸ numbers) inline the
/// generator even when this module is built unoptimised.
public struct PythonRandom: Sendable {
    @usableFromInline var state = [UInt32](repeating: 0, count: 624)
    @usableFromInline var index = 625

    /// `random.Random(seed)` for an integer seed (its absolute value is used, as CPython does).
    @inlinable
    public init(seed: Int) {
        var magnitude = seed.magnitude
        var key: [UInt32] = []
        repeat {
            key.append(UInt32(truncatingIfNeeded: magnitude))
            magnitude >>= 32
        } while magnitude != 0
        initByArray(key)
    }

    @inlinable
    mutating func initGenrand(_ s: UInt32) {
        state[0] = s
        for i in 1..<624 {
            state[i] = 1_812_433_253 &* (state[i - 1] ^ (state[i - 1] >> 30)) &+ UInt32(i)
        }
        index = 624
    }

    @inlinable
    mutating func initByArray(_ key: [UInt32]) {
        initGenrand(19_650_218)
        var i = 1, j = 0
        for _ in 0..<max(624, key.count) {
            state[i] = (state[i] ^ ((state[i - 1] ^ (state[i - 1] >> 30)) &* 1_664_525)) &+ key[j] &+ UInt32(j)
            i += 1
            j += 1
            if i >= 624 {
                state[0] = state[623]
                i = 1
            }
            if j >= key.count { j = 0 }
        }
        for _ in 0..<623 {
            state[i] = (state[i] ^ ((state[i - 1] ^ (state[i - 1] >> 30)) &* 1_566_083_941)) &- UInt32(i)
            i += 1
            if i >= 624 {
                state[0] = state[623]
                i = 1
            }
        }
        state[0] = 0x8000_0000
    }

    @inlinable
    mutating func twist() {
        let upper: UInt32 = 0x8000_0000, lower: UInt32 = 0x7fff_ffff, matrixA: UInt32 = 0x9908_b0df
        for k in 0..<624 {
            let y = (state[k] & upper) | (state[(k + 1) % 624] & lower)
            state[k] = state[(k + 397) % 624] ^ (y >> 1) ^ ((y & 1) != 0 ? matrixA : 0)
        }
        index = 0
    }

    /// The next 32-bit output of MT19937 (`genrand_uint32`).
    @inlinable
    public mutating func nextUInt32() -> UInt32 {
        if index >= 624 { twist() }
        var y = state[index]
        index += 1
        y ^= y >> 11
        y ^= (y << 7) & 0x9d2c_5680
        y ^= (y << 15) & 0xefc6_0000
        y ^= y >> 18
        return y
    }

    /// `random()`: a float64 in [0, 1) with 53 random bits.
    @inlinable
    public mutating func random() -> Double {
        let a = Double(nextUInt32() >> 5), b = Double(nextUInt32() >> 6)
        return (a * 67_108_864.0 + b) * (1.0 / 9_007_199_254_740_992.0)
    }

    /// `getrandbits(k)` for `0 <= k <= 64` (words drawn least significant first, as CPython does).
    @inlinable
    public mutating func getrandbits(_ k: Int) -> UInt64 {
        precondition(k >= 0 && k <= 64, "getrandbits supports 0...64 bits")
        if k == 0 { return 0 }
        if k <= 32 { return UInt64(nextUInt32() >> (32 - k)) }
        let low = UInt64(nextUInt32())
        let high = UInt64(nextUInt32() >> (64 - k))
        return low | (high << 32)
    }

    /// `_randbelow(n)`: a uniform integer in `0..<n` by rejection sampling on `getrandbits(n.bit_length())`.
    @inlinable
    public mutating func randbelow(_ n: Int) -> Int {
        precondition(n > 0)
        let k = Int.bitWidth - n.leadingZeroBitCount
        var r = getrandbits(k)
        while r >= UInt64(n) { r = getrandbits(k) }
        return Int(r)
    }

    /// `shuffle(x)`: for `i` from `count-1` down to 1, swap `x[i]` with `x[randbelow(i+1)]`.
    @inlinable
    public mutating func shuffle<T>(_ x: inout [T]) {
        guard x.count > 1 else { return }
        x.withUnsafeMutableBufferPointer { buf in
            for i in stride(from: buf.count - 1, through: 1, by: -1) {
                buf.swapAt(i, randbelow(i + 1))
            }
        }
    }
}
