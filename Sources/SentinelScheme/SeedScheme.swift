import CSentinelKernels
import Dispatch

/// The `seed` adaptation scheme of the SentinelLMs authors' converter (`llm_converter.py`, AAAI 2024
/// camera-ready code), reproduced bit for bit. Spec: `../shared/docs/SCHEME.md`, scheme `seed`.
public enum SeedScheme {
    /// Version of Sentinel's implementation of the scheme, recorded in `sentinel.json`.
    public static let version = 1
    /// Largest number of glide passes Sentinel accepts (each pass is a full sweep over the embedding matrix).
    public static let maxGlideSteps = 1000
    /// How many times the converter applies the same shuffle (`shuffle_param`).
    public static let shuffleRepetitions = 10

    /// Step 1: `sum(ord(c) for c in key) % 10000`, over Unicode code points.
    public static func seed(forKey key: String) -> Int {
        key.unicodeScalars.reduce(0) { ($0 + Int($1.value)) % 10_000 }
    }

    /// Step 4: the id mapping `old id -> new id` (an involution) for a vocabulary of `vocabSize` ids.
    ///
    /// The non-special ids, ascending, are shuffled ``shuffleRepetitions`` times, each time by a fresh
    /// `random.Random(seed)`; then `A = list[:n//2+5]`, `B = list[n//2+5:]`, and `A[i] ↔ B[i]` for `i < len(B)`.
    /// Without `shuffle` the mapping is the identity.
    /// - Returns: `mapping` with `mapping[old] = new`, `vocabSize` entries.
    public static func mapping(vocabSize: Int, specialIDs: Set<Int>, seed: Int, shuffle: Bool) -> [Int] {
        var mapping = Array(0..<vocabSize)
        guard shuffle else { return mapping }
        var ids = (0..<vocabSize).filter { !specialIDs.contains($0) }
        for _ in 0..<shuffleRepetitions {
            var rng = PythonRandom(seed: seed)
            rng.shuffle(&ids)
        }
        let pivot = ids.count / 2 + 5
        guard pivot < ids.count else { return mapping }
        for i in 0..<(ids.count - pivot) {
            let a = ids[i], b = ids[pivot + i]
            mapping[a] = b
            mapping[b] = a
        }
        return mapping
    }

    /// One glide pass's scalars, drawn from the global generator in this order.
    public struct GlidePass: Sendable, Equatable {
        /// `l`: the reflection line is `l · ones(hidden)`.
        public var line: Double
        /// `t`: the translation is `t · ones(hidden)`.
        public var translation: Double
    }

    /// Step 5's draws: `glideSteps` pairs `(l, t)` of `random.random()` from `generator`.
    public static func glidePasses(_ glideSteps: Int, generator: inout PythonRandom) -> [GlidePass] {
        (0..<max(0, glideSteps)).map { _ in
            let l = generator.random()
            let t = generator.random()
            return GlidePass(line: l, translation: t)
        }
    }

    /// The dot product in the order of OpenBLAS's SkylakeX `ddot` kernel, which numpy used for the
    /// reference (`../shared/fixtures/seed-converter/README.md` §7): 32 FMA lanes over the length rounded
    /// down to a multiple of 32, a fixed pairwise reduction, then the remainder added left to right.
    /// The kernel is C (`CSentinelKernels`) so that it can use the FMA instructions, chosen at run time.
    @inline(__always)
    static func referenceDot(_ x: UnsafePointer<Double>, _ y: UnsafePointer<Double>, _ n: Int) -> Double {
        CSentinelKernels_reference_ddot(x, y, n)
    }

    /// Step 5 on one row, in place, in float64: for each pass, `v ← v − (2(v·line)/(line·line))·line + t·1`
    /// with `line = l·1`, evaluated as the reference does (`p = coef·l; s = v − p; out = s + t`).
    /// - Parameters:
    ///   - row: `[hidden]` float64 values.
    ///   - lines: `[passes, hidden]`: each pass's line `l · 1`.
    @inline(__always)
    static func glide(
        row: UnsafeMutablePointer<Double>, hidden: Int, passes: [GlidePass], lineDots: [Double],
        lines: UnsafePointer<Double>
    ) {
        for (k, pass) in passes.enumerated() {
            let coef = (2 * referenceDot(row, lines + k * hidden, hidden)) / lineDots[k]
            let p = coef * pass.line
            for i in 0..<hidden { row[i] = (row[i] - p) + pass.translation }
        }
    }

    /// `line·line` for each pass, computed with the same kernel order as the reference.
    static func lineDots(_ passes: [GlidePass], hidden: Int) -> [Double] {
        passes.map { pass in
            let line = [Double](repeating: pass.line, count: hidden)
            return line.withUnsafeBufferPointer { referenceDot($0.baseAddress!, $0.baseAddress!, hidden) }
        }
    }
}
