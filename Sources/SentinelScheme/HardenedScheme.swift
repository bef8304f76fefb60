import Dispatch
import SentinelCore
#if canImport(Glibc)
    import Glibc
#endif

/// The `hardened` adaptation scheme (`../shared/docs/SCHEME.md`, scheme `hardened`): the seed scheme's files and
/// client flow with primitives that the audit does not break.
///
/// 1. **Keys.** Argon2id (``Argon2idParameters``, salt and parameters in `sentinel.json`) turns the passkey into a
///    master key; three subkeys (``HardenedKeys``) for token digests, the permutation and the embedding transform.
/// 2. **Digests.** Every non-special token `t` becomes `BLAKE2b(t.utf8, key: tokenDigests subkey, digest_size: 16)`
///    as 32 lowercase hex characters — the seed scheme's format, so every downstream command works unchanged.
/// 3. **Permutation** (always on). The non-special ids, ascending, are shuffled by Fisher–Yates (`i` from `n−1`
///    down to 1, `j = uniform(below: i+1)`, swap) driven by ``ChaCha20Stream`` with the permutation subkey and
///    nonce `(domain 0, index 0)`; the `k`-th non-special id maps to the `k`-th element of the shuffled list.
///    Special ids keep theirs. Every permutation of the non-special ids is equally likely (unbiased draws).
/// 4. **Embedding transform** of `E [vocab, hidden]` in float64, row `i` of the source (see
///    ``HardenedTransformOptions``), then row `mapping[i]` of the output is transformed row `i`.
///
/// Token frequencies still leak (digests are deterministic per token, as in `seed`).
public enum HardenedScheme {
    /// Scheme name in `sentinel.json` and reports.
    public static let name = "hardened"
    /// Version of the scheme's definition, recorded in `sentinel.json` (`scheme_version`).
    public static let version = 1

    /// ChaCha20 nonce domains (`LE32(domain) ‖ LE64(index)`): one stream per purpose and row.
    public enum NonceDomain: UInt32, Sendable {
        /// The permutation stream (permutation subkey), index 0.
        case permutation = 0
        /// Additive noise of source row `index` (transform subkey).
        case noise = 1
        /// New values of re-initialised source row `index` (transform subkey).
        case reinitValues = 2
        /// The per-dimension scale factors, index 0 (transform subkey).
        case dimensionScales = 3
        /// Which rows are re-initialised, index 0 (transform subkey).
        case reinitRows = 4
    }

    /// Step 3: `mapping[old id] = new id`, a uniform random permutation of the non-special ids (specials fixed).
    /// - Parameter key: the permutation subkey (``HardenedKeys/permutation``).
    public static func mapping(vocabSize: Int, specialIDs: Set<Int>, key: SecretKey) -> [Int] {
        var mapping = Array(0..<vocabSize)
        let ids = (0..<vocabSize).filter { !specialIDs.contains($0) }
        var shuffled = ids
        var stream = ChaCha20Stream(key: key, nonce: ChaCha20Stream.nonce(domain: NonceDomain.permutation.rawValue, index: 0))
        fisherYates(&shuffled, stream: &stream)
        for (k, id) in ids.enumerated() { mapping[id] = shuffled[k] }
        return mapping
    }

    /// Fisher–Yates (Durstenfeld): `i` from `count−1` down to 1, `j = uniform(below: i+1)`, swap `x[i]`, `x[j]`.
    public static func fisherYates<T>(_ x: inout [T], stream: inout ChaCha20Stream) {
        guard x.count > 1 else { return }
        for i in stride(from: x.count - 1, to: 0, by: -1) {
            let j = Int(stream.uniform(below: UInt64(i + 1)))
            x.swapAt(i, j)
        }
    }

    /// The source rows that are re-initialised: `round(fraction · n)` (ties to even) of the `n` non-special ids, chosen uniformly
    /// by the first `k` steps of a forward Fisher–Yates (`i` from 0: `j = i + uniform(below: n−i)`, swap) on the
    /// ascending non-special ids, with the transform subkey and nonce `(domain 4, index 0)`.
    public static func reinitRows(vocabSize: Int, specialIDs: Set<Int>, fraction: Double, key: SecretKey) -> [Bool] {
        var selected = [Bool](repeating: false, count: vocabSize)
        guard fraction > 0 else { return selected }
        var ids = (0..<vocabSize).filter { !specialIDs.contains($0) }
        let k = min(ids.count, Int((fraction * Double(ids.count)).rounded(.toNearestOrEven)))
        var stream = ChaCha20Stream(key: key, nonce: ChaCha20Stream.nonce(domain: NonceDomain.reinitRows.rawValue, index: 0))
        for i in 0..<k {
            let j = i + Int(stream.uniform(below: UInt64(ids.count - i)))
            ids.swapAt(i, j)
            selected[ids[i]] = true
        }
        return selected
    }

    /// Per-dimension scale factors `d_j = exp(ln(spread) · (2u_j − 1))`, log-uniform in `[1/spread, spread]`, from the
    /// transform subkey with nonce `(domain 3, index 0)`. All ones when `spread == 1`.
    public static func dimensionScales(hidden: Int, spread: Double, key: SecretKey) -> [Double] {
        guard spread != 1 else { return [Double](repeating: 1, count: hidden) }
        var stream = ChaCha20Stream(key: key, nonce: ChaCha20Stream.nonce(domain: NonceDomain.dimensionScales.rawValue, index: 0))
        let l = log(spread)
        return (0..<hidden).map { _ in exp(l * (2 * stream.unitInterval() - 1)) }
    }
}

/// The `hardened` embedding transform's settings (`sentinel convert` options, `sentinel.json` `embedding_transform`).
///
/// Source row `i` (float64) becomes
/// - `σ_r · z` if row `i` is re-initialised (`reinitFraction` of the non-special rows, chosen by the key), with
///   `z` standard normals from nonce `(domain 2, index i)` — like BERT's own initialisation `N(0, initializer_range)`;
/// - otherwise `scale · (d ⊙ x) + noiseStd · z`, with per-dimension factors `d` (``HardenedScheme/dimensionScales``)
///   and `z` standard normals from nonce `(domain 1, index i)`. Special rows get scale and noise too (no
///   noise-free anchors), never re-initialisation.
///
/// Whether the encoder computes the same function afterwards (BERT: `LayerNorm(E[id] + P[pos] + T[type])`):
/// - all settings neutral (`scale 1, dimScale 1, noiseStd 0, reinitFraction 0`): yes, exactly (only the permutation
///   and digests change, and they cancel on encrypted input);
/// - `scale ≠ 1`: no — LayerNorm is invariant to scaling its whole input, but only the word part is scaled, so the
///   balance with position and token-type embeddings changes. It does not hide rows: cosine or norm-normalised
///   matching ignores a global factor;
/// - `dimScale ≠ 1`: no (LayerNorm normalises across dimensions, not per dimension). Rows are permuted but
///   columns are not, so an attacker standardising each column over the vocabulary removes it;
/// - `noiseStd > 0`: no; the noise is a fixed perturbation that fine-tuning can learn around. It hides rows only
///   when it is large against the distances between neighbouring rows (measured on MiniLM, README);
/// - `reinitFraction > 0`: no; those rows carry no information about the original (nothing to match), and
///   fine-tuning must learn them from task data.
/// An orthogonal rotation is not offered: an isometry keeps every row norm and pairwise distance (`E Q Qᵀ Eᵀ = E Eᵀ`),
/// so these invariants match rows to their originals, and the fixed special rows give anchors for Procrustes.
public struct HardenedTransformOptions: Sendable, Equatable {
    /// Global factor on the word embeddings (> 0).
    public var scale: Double
    /// Spread of the per-dimension factors (≥ 1; 1 = off).
    public var dimScale: Double
    /// Standard deviation of the additive Gaussian noise, in embedding units (≥ 0).
    public var noiseStd: Double
    /// Fraction of non-special rows re-initialised (0...1).
    public var reinitFraction: Double
    /// Standard deviation of re-initialised rows; nil takes the model's `initializer_range` (0.02 when absent).
    public var reinitStd: Double?

    public init(scale: Double = 1, dimScale: Double = 1, noiseStd: Double = 0, reinitFraction: Double = 0, reinitStd: Double? = nil) {
        self.scale = scale
        self.dimScale = dimScale
        self.noiseStd = noiseStd
        self.reinitFraction = reinitFraction
        self.reinitStd = reinitStd
    }

    /// No transform: the adapted encoder computes the original function on encrypted input.
    public static let identity = HardenedTransformOptions()

    /// What `convert --scheme hardened` uses when no transform option is given: every non-special row
    /// re-initialised, the only setting that (by the README's nearest-neighbour measurement) leaves under 1 % of
    /// rows recoverable without drowning the position embeddings. Provisional until the audit and fine-tuning report.
    public static let standard = HardenedTransformOptions(reinitFraction: 1)

    /// Whether the adapted model on encrypted input computes the original model's function.
    public var isFunctionPreserving: Bool { scale == 1 && dimScale == 1 && noiseStd == 0 && reinitFraction == 0 }

    /// Largest accepted `noiseStd`, `reinitStd` and `scale` (beyond it float32 embeddings lose all meaning).
    public static let maxMagnitude = 1e6

    /// Why the settings are not acceptable, or nil.
    public var problem: String? {
        if !(scale.isFinite && scale > 0 && scale <= Self.maxMagnitude) { return "scale must be a number in (0, \(Self.maxMagnitude)]" }
        if !(dimScale.isFinite && dimScale >= 1 && dimScale <= Self.maxMagnitude) { return "dim-scale must be a number in [1, \(Self.maxMagnitude)]" }
        if !(noiseStd.isFinite && noiseStd >= 0 && noiseStd <= Self.maxMagnitude) { return "noise-std must be a number in [0, \(Self.maxMagnitude)]" }
        if !(reinitFraction >= 0 && reinitFraction <= 1) { return "reinit-fraction must be a number in [0, 1]" }
        if let s = reinitStd, !(s.isFinite && s > 0 && s <= Self.maxMagnitude) { return "reinit-std must be a number in (0, \(Self.maxMagnitude)]" }
        return nil
    }

    /// The `sentinel.json` object `embedding_transform` (with the resolved `reinit_std`).
    public func json(resolvedReinitStd: Double) -> JSONValue {
        .object([
            ("scale", .double(scale, text: nil)),
            ("dim_scale", .double(dimScale, text: nil)),
            ("noise_std", .double(noiseStd, text: nil)),
            ("reinit_fraction", .double(reinitFraction, text: nil)),
            ("reinit_std", .double(resolvedReinitStd, text: nil)),
            ("function_preserving", .bool(isFunctionPreserving)),
        ])
    }
}

/// Output rows of an embedding transform, produced in adapted-id order and in chunks (streamed to disk).
public protocol EmbeddingRowProducer {
    /// Writes output rows `range` (adapted ids) into `out` as `dtype` (F16, BF16, F32 or F64).
    func produce(rows range: Range<Int>, as dtype: DType, into out: UnsafeMutableRawBufferPointer)
}

extension EmbeddingTransform: EmbeddingRowProducer {}

/// The `hardened` embedding transform (``HardenedTransformOptions``) followed by the row permutation.
public struct HardenedEmbeddingTransform: EmbeddingRowProducer, @unchecked Sendable {
    let loader: EmbeddingTransform
    let options: HardenedTransformOptions
    let reinitStd: Double
    let reinit: [Bool]
    let dimensionScales: [Double]
    let key: [UInt8]
    public let rows: Int, hidden: Int

    /// - Parameters:
    ///   - source: the `[rows, hidden]` matrix bytes of `dtype` (F16, BF16, F32, F64), row-major little-endian.
    ///   - mapping: `mapping[old id] = new id`; output row `mapping[i]` is transformed row `i`.
    ///   - specialIDs: rows never re-initialised.
    ///   - reinitStd: the resolved standard deviation of re-initialised rows.
    ///   - key: the embedding-transform subkey.
    public init(
        source: UnsafeRawBufferPointer, dtype: DType, rows: Int, hidden: Int, mapping: [Int], specialIDs: Set<Int>,
        options: HardenedTransformOptions, reinitStd: Double, key: SecretKey
    ) {
        loader = EmbeddingTransform(source: source, dtype: dtype, rows: rows, hidden: hidden, passes: [], mapping: mapping)
        self.options = options
        self.reinitStd = reinitStd
        self.rows = rows
        self.hidden = hidden
        reinit = HardenedScheme.reinitRows(vocabSize: rows, specialIDs: specialIDs, fraction: options.reinitFraction, key: key)
        dimensionScales = HardenedScheme.dimensionScales(hidden: hidden, spread: options.dimScale, key: key)
        self.key = key.rawBytes
    }

    /// Transformed source row `i` into `row` (float64, `hidden` values); `noise` and `scratch` are work space.
    @inline(__always)
    func transform(
        source i: Int, into row: UnsafeMutablePointer<Double>, noise: UnsafeMutablePointer<Double>,
        scratch: UnsafeMutableRawBufferPointer
    ) {
        key.withUnsafeBufferPointer { k in
            if reinit[i] {
                ChaCha20Stream.gaussians(
                    key: k, nonce: ChaCha20Stream.nonce(domain: HardenedScheme.NonceDomain.reinitValues.rawValue, index: UInt64(i)),
                    into: row, count: hidden, scratch: scratch)
                for j in 0..<hidden { row[j] *= reinitStd }
                return
            }
            loader.load(row: i, into: row)
            let s = options.scale
            if options.dimScale != 1 {
                dimensionScales.withUnsafeBufferPointer { d in for j in 0..<hidden { row[j] = s * (d[j] * row[j]) } }
            } else if s != 1 {
                for j in 0..<hidden { row[j] *= s }
            }
            if options.noiseStd > 0 {
                ChaCha20Stream.gaussians(
                    key: k, nonce: ChaCha20Stream.nonce(domain: HardenedScheme.NonceDomain.noise.rawValue, index: UInt64(i)),
                    into: noise, count: hidden, scratch: scratch)
                let sigma = options.noiseStd
                for j in 0..<hidden { row[j] += sigma * noise[j] }
            }
        }
    }

    public func produce(rows range: Range<Int>, as dtype: DType, into out: UnsafeMutableRawBufferPointer) {
        let width = dtype.byteWidth!
        precondition(out.count >= range.count * hidden * width)
        let workers = range.count >= 256 ? 2 : 1
        Parallel.forEach(workers) { w in
            let lo = range.lowerBound + range.count * w / workers
            let hi = range.lowerBound + range.count * (w + 1) / workers
            let row = UnsafeMutablePointer<Double>.allocate(capacity: hidden)
            let noise = UnsafeMutablePointer<Double>.allocate(capacity: hidden)
            let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: (hidden + 1) / 2 * 16, alignment: 16)
            defer {
                row.deallocate()
                noise.deallocate()
                scratch.deallocate()
            }
            for j in lo..<hi {
                transform(source: loader.sourceRow[j], into: row, noise: noise, scratch: scratch)
                let dst = out.baseAddress! + (j - range.lowerBound) * hidden * width
                FloatCoding.encode(row, count: hidden, as: dtype, into: dst)
            }
        }
    }
}
