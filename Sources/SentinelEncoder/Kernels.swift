import SentinelCore
import Dispatch
#if canImport(Glibc)
    import Glibc
#endif

// Vectorised element-wise and row-wise float32 kernels of the encoder. Rows are contiguous
// (`[rows, cols]`, row-major); loops run 16 lanes at a time with a scalar tail. The row kernels are
// serial: callers split rows over the cores (see `BertModel`), usually together with the product
// that fed them.

typealias Vec = SIMD16<Float>
typealias IVec = SIMD16<Int32>

// Lane selection through masks built from the sign of a difference and bitwise ops: these lower to
// `subps`/`pcmpgtd`/`andps`/`orps` even in loop-carried code, while the standard library's generic
// `pointwiseMin`/`pointwiseMax`, `SIMDMask` results and `.max()`/`.sum()` get scalarised lane by lane.

/// Lanes of `a` where `mask` is all ones, of `b` elsewhere.
@inline(__always) func select(_ mask: IVec, _ a: Vec, _ b: Vec) -> Vec {
    let ai = unsafeBitCast(a, to: IVec.self), bi = unsafeBitCast(b, to: IVec.self)
    return unsafeBitCast((ai & mask) | (bi & ~mask), to: Vec.self)
}

/// All ones in the lanes where `a < b` (the sign of `a − b`; exact: a difference of two different
/// floats never rounds to zero), zero elsewhere. Not for NaN.
@inline(__always) func lessMask(_ a: Vec, _ b: Vec) -> IVec {
    unsafeBitCast(a - b, to: IVec.self) &>> IVec(repeating: 31)
}

@inline(__always) func vmin(_ a: Vec, _ b: Vec) -> Vec { select(lessMask(a, b), a, b) }
@inline(__always) func vmax(_ a: Vec, _ b: Vec) -> Vec { select(lessMask(a, b), b, a) }

/// Sum of the 16 lanes (pairwise).
@inline(__always) func hsum(_ v: Vec) -> Float {
    let a = v.lowHalf + v.highHalf
    let b = a.lowHalf + a.highHalf
    return (b[0] + b[1]) + (b[2] + b[3])
}

/// Largest of the 16 lanes.
@inline(__always) func hmax(_ v: Vec) -> Float {
    var m = v[0]
    for i in 1..<16 { m = Swift.max(m, v[i]) }
    return m
}

@inline(__always) func load(_ p: UnsafePointer<Float>) -> Vec {
    UnsafeRawPointer(p).loadUnaligned(as: Vec.self)
}

@inline(__always) func store(_ v: Vec, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: Vec.self)
}

// MARK: - Parallel split

extension Parallel {
    /// Work (in elements touched) below which a loop runs on the calling thread.
    static let minimumWork = 16_384

    /// Calls `body` on contiguous parts of `0..<count`, in parallel over ``BLAS/threads`` cores when
    /// `count × workPerItem` reaches ``minimumWork``.
    @inline(__always)
    static func chunks(_ count: Int, workPerItem: Int, _ body: (Range<Int>) -> Void) {
        let workers = BLAS.threads
        if workers <= 1 || count < 2 || count * workPerItem < minimumWork {
            body(0..<count)
            return
        }
        let parts = min(workers, count)
        Parallel.forEach(parts) { part in
            let lo = count * part / parts, hi = count * (part + 1) / parts
            if lo < hi { body(lo..<hi) }
        }
    }
}

// MARK: - Vector math

/// Fast vector functions with float32 accuracy (a few ulp), used where the scalar libm call per element
/// would dominate the layer's cost.
enum VectorMath {
    private static let magic: Float = 12_582_912  // 1.5 · 2^23: adding it rounds to an integer in the low bits.

    /// `exp(x)` lane-wise. Cephes `expf`: `x = n·ln2 + r`, degree-6 polynomial in `r`, `2^n` from the
    /// exponent bits. Inputs are clamped to [-87.3, 88]; relative error ≤ 2 ulp in that range.
    @inline(__always)
    static func exp(_ v: Vec) -> Vec {
        let x = vmin(vmax(v, Vec(repeating: -87.33654)), Vec(repeating: 88.0))
        let t = x * 1.442_695_04 + magic
        let n = t - magic
        var r = x - n * 0.693_359_375
        r = r + n * 2.121_944_4e-4
        var p = Vec(repeating: 1.987_569_15e-4)
        p = p * r + 1.398_199_95e-3
        p = p * r + 8.333_451_9e-3
        p = p * r + 4.166_579_59e-2
        p = p * r + 1.666_666_55e-1
        p = p * r + 5.000_000_1e-1
        let y = p * (r * r) + r + 1
        let ni = unsafeBitCast(t, to: IVec.self) &- IVec(repeating: 0x4B40_0000)
        let scale = unsafeBitCast((ni &+ IVec(repeating: 127)) &<< IVec(repeating: 23), to: Vec.self)
        return y * scale
    }

    /// `2^x` lane-wise for `x ≤ 0` (inputs below −126 give 2⁻¹²⁶ ≈ 1e-38): `x = n + f` with `f` in
    /// [−½, ½], degree-6 polynomial for `2^f` (Taylor in `f·ln 2`, relative error ≤ 1.3e-7), `2^n` from the
    /// exponent bits. The softmax works in base 2 (log₂e folded into the score scale): fewer operations
    /// than `exp`, no Cody–Waite split.
    @inline(__always)
    static func exp2NonPositive(_ v: Vec) -> Vec {
        let x = vmax(v, Vec(repeating: -126))
        let t = x + magic
        let n = t - magic
        let f = x - n
        var p = Vec(repeating: 1.540_353_0e-4)
        p = p * f + 1.333_355_8e-3
        p = p * f + 9.618_129_1e-3
        p = p * f + 5.550_410_9e-2
        p = p * f + 2.402_265_1e-1
        p = p * f + 6.931_471_8e-1
        p = p * f + 1
        let ni = unsafeBitCast(t, to: IVec.self) &- IVec(repeating: 0x4B40_0000)
        return p * unsafeBitCast((ni &+ IVec(repeating: 127)) &<< IVec(repeating: 23), to: Vec.self)
    }

    /// `erf(x)` lane-wise: the rational minimax approximation `x·P(x²)/Q(x²)` on [-4, 4] used by
    /// Eigen (`generic_fast_erf_float`); outside that range erf is ±1 in float32. Max abs error ≈ 2e-7.
    @inline(__always)
    static func erf(_ v: Vec) -> Vec {
        let x = vmin(vmax(v, Vec(repeating: -4)), Vec(repeating: 4))
        let x2 = x * x
        var p = x2 * -2.726_142_258_013_06e-10 + 2.770_681_424_959_02e-08
        p = x2 * p - 2.101_024_020_825_08e-06
        p = x2 * p - 5.692_506_394_623_46e-05
        p = x2 * p - 7.349_906_303_268_55e-04
        p = x2 * p - 2.954_599_808_540_25e-03
        p = x2 * p - 1.609_603_332_624_15e-02
        p = x * p
        var q = x2 * -1.456_607_184_649_96e-05 - 2.133_740_552_789_05e-04
        q = x2 * q - 1.682_826_974_382_03e-03
        q = x2 * q - 7.373_329_167_204_68e-03
        q = x2 * q - 1.426_473_905_141_89e-02
        return p / q
    }

    /// `tanh(x)` lane-wise as `1 − 2 / (exp(2x) + 1)` (absolute error ≈ 1e-7).
    @inline(__always)
    static func tanh(_ v: Vec) -> Vec {
        let x = vmin(vmax(v, Vec(repeating: -9)), Vec(repeating: 9))
        return 1 - 2 / (exp(x + x) + 1)
    }
}

// MARK: - Activations

/// The feed-forward activation, by its HuggingFace `hidden_act` name.
public enum Activation: String, Sendable, CaseIterable {
    /// `0.5·x·(1 + erf(x/√2))`, PyTorch's exact GELU (`hidden_act: "gelu"`).
    case gelu
    /// `0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))` (`"gelu_new"`, also `"gelu_pytorch_tanh"`).
    case geluTanh = "gelu_new"
    /// `max(0, x)`.
    case relu

    /// Parses a `hidden_act` value, or `nil` for one the encoder does not implement.
    public init?(huggingFaceName: String) {
        switch huggingFaceName {
        case "gelu": self = .gelu
        case "gelu_new", "gelu_pytorch_tanh", "gelu_fast": self = .geluTanh
        case "relu": self = .relu
        default: return nil
        }
    }

    @inline(__always)
    func apply(_ x: Vec) -> Vec {
        switch self {
        case .gelu:
            return 0.5 * x * (1 + VectorMath.erf(x * 0.707_106_781_186_547_5))
        case .geluTanh:
            let inner = 0.797_884_560_802_865_4 * (x + 0.044715 * x * x * x)
            return 0.5 * x * (1 + VectorMath.tanh(inner))
        case .relu:
            return vmax(x, Vec(repeating: 0))
        }
    }

    /// Scalar form, for the tail of a row (libm functions).
    @inline(__always)
    func apply(_ x: Float) -> Float {
        switch self {
        case .gelu: return 0.5 * x * (1 + Glibc.erf(x * 0.707_106_781_186_547_5))
        case .geluTanh: return 0.5 * x * (1 + Glibc.tanh(0.797_884_560_802_865_4 * (x + 0.044715 * x * x * x)))
        case .relu: return max(0, x)
        }
    }
}

// MARK: - Row kernels

enum Kernels {
    /// `x[r, :] += bias` for every row; `x` is `[rows, cols]`.
    static func addBias(_ x: UnsafeMutablePointer<Float>, rows: Int, cols: Int, bias: UnsafePointer<Float>) {
        for r in 0..<rows {
            let row = x + r * cols
            var j = 0
            while j + 16 <= cols {
                store(load(row + j) + load(bias + j), row + j)
                j += 16
            }
            while j < cols {
                row[j] += bias[j]
                j += 1
            }
        }
    }

    /// `x[r, :] = act(x[r, :] + bias)` in place; `x` is `[rows, cols]`. With `preActivation`, also
    /// stores `x + bias` there (what the activation's backward pass needs).
    static func addBiasActivate(
        _ x: UnsafeMutablePointer<Float>, rows: Int, cols: Int,
        bias: UnsafePointer<Float>, activation: Activation,
        preActivation: UnsafeMutablePointer<Float>? = nil
    ) {
        switch activation {
        case .gelu:
            addBiasActivate(
                x, rows: rows, cols: cols, bias: bias, preActivation: preActivation,
                { Activation.gelu.apply($0) }, { Activation.gelu.apply($0) })
        case .geluTanh:
            addBiasActivate(
                x, rows: rows, cols: cols, bias: bias, preActivation: preActivation,
                { Activation.geluTanh.apply($0) }, { Activation.geluTanh.apply($0) })
        case .relu:
            addBiasActivate(
                x, rows: rows, cols: cols, bias: bias, preActivation: preActivation,
                { Activation.relu.apply($0) }, { Activation.relu.apply($0) })
        }
    }

    @inline(__always)
    private static func addBiasActivate(
        _ x: UnsafeMutablePointer<Float>, rows: Int, cols: Int, bias: UnsafePointer<Float>,
        preActivation: UnsafeMutablePointer<Float>?,
        _ f: (Vec) -> Vec, _ scalar: (Float) -> Float
    ) {
        for r in 0..<rows {
            let row = x + r * cols
            let pre = preActivation.map { $0 + r * cols }
            var j = 0
            while j + 16 <= cols {
                let z = load(row + j) + load(bias + j)
                if let pre { store(z, pre + j) }
                store(f(z), row + j)
                j += 16
            }
            while j < cols {
                let z = row[j] + bias[j]
                pre?[j] = z
                row[j] = scalar(z)
                j += 1
            }
        }
    }

    /// LayerNorm of one row held in `t` (`cols` values): writes `(t − mean)·rstd·gamma + beta` to `out`
    /// and returns `rstd = 1/sqrt(var + eps)` (biased variance, as `torch.nn.LayerNorm`).
    @inline(__always)
    static func normalizeRow(
        _ t: UnsafePointer<Float>, cols: Int, gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>,
        eps: Float, out: UnsafeMutablePointer<Float>
    ) -> (mean: Float, rstd: Float) {
        var acc = Vec(repeating: 0)
        var j = 0
        while j + 16 <= cols {
            acc += load(t + j)
            j += 16
        }
        var sum = hsum(acc)
        while j < cols {
            sum += t[j]
            j += 1
        }
        let mean = sum / Float(cols)
        var acc2 = Vec(repeating: 0)
        j = 0
        while j + 16 <= cols {
            let d = load(t + j) - mean
            acc2 += d * d
            j += 16
        }
        var sq = hsum(acc2)
        while j < cols {
            let d = t[j] - mean
            sq += d * d
            j += 1
        }
        let rstd = 1 / (sq / Float(cols) + eps).squareRoot()
        j = 0
        while j + 16 <= cols {
            store((load(t + j) - mean) * rstd * load(gamma + j) + load(beta + j), out + j)
            j += 16
        }
        while j < cols {
            out[j] = (t[j] - mean) * rstd * gamma[j] + beta[j]
            j += 1
        }
        return (mean, rstd)
    }

    /// `out = LayerNorm(x + bias + residual)` row by row. `x` (the product just computed) is
    /// overwritten with the pre-norm sum; `out` may be `residual`. Saves each row's mean and rstd
    /// into `stats` (`[rows, 2]`) when given (for a backward pass).
    static func addBiasResidualLayerNorm(
        _ x: UnsafeMutablePointer<Float>, rows: Int, cols: Int,
        bias: UnsafePointer<Float>, residual: UnsafePointer<Float>,
        gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>, eps: Float,
        out: UnsafeMutablePointer<Float>, stats: UnsafeMutablePointer<Float>?
    ) {
        for r in 0..<rows {
            let t = x + r * cols, res = residual + r * cols
            var j = 0
            while j + 16 <= cols {
                store(load(t + j) + load(bias + j) + load(res + j), t + j)
                j += 16
            }
            while j < cols {
                t[j] = t[j] + bias[j] + res[j]
                j += 1
            }
            let s = normalizeRow(t, cols: cols, gamma: gamma, beta: beta, eps: eps, out: out + r * cols)
            if let stats {
                stats[2 * r] = s.mean
                stats[2 * r + 1] = s.rstd
            }
        }
    }

    /// Reads one float per 64-byte cache line of `p[0..<count]` (to pull the memory into the cache) and
    /// returns their sum, which the caller must store somewhere so the reads are not optimised away.
    @inline(__always)
    static func touch(_ p: UnsafePointer<Float>, count: Int) -> Float {
        var a0: Float = 0, a1: Float = 0, a2: Float = 0, a3: Float = 0
        var i = 0
        while i + 64 <= count {
            a0 += p[i]
            a1 += p[i + 16]
            a2 += p[i + 32]
            a3 += p[i + 48]
            i += 64
        }
        while i < count {
            a0 += p[i]
            i += 16
        }
        return (a0 + a1) + (a2 + a3)
    }

    /// `x[r, 0..<cols] *= factor[r]` for rows `stride` floats apart.
    @inline(__always)
    static func scaleRows(_ x: UnsafeMutablePointer<Float>, rows: Int, cols: Int, stride: Int, by factor: UnsafePointer<Float>) {
        for r in 0..<rows {
            let row = x + r * stride, f = factor[r]
            var j = 0
            while j + 16 <= cols {
                store(load(row + j) * f, row + j)
                j += 16
            }
            while j < cols {
                row[j] *= f
                j += 1
            }
        }
    }

    /// Masked softmax of `rows` score rows of length `cols` (row stride `cols`), in place, for scores in
    /// base 2 (already multiplied by log₂e): `p_j = 2^(s_j − max) / Σ`. `keyMask[j]` is 1 for a key that may
    /// be attended to and 0 for padding, `keyBias[j]` 0 or −FLT_MAX; masked keys get weight exactly 0.
    /// A row with no valid key gets uniform weights (what an additive `finfo.min` mask gives in PyTorch).
    ///
    /// With `deferredScale`, rows are left unnormalised (`2^(s − max)`) and `1 / Σ` is stored there
    /// instead, for the caller to apply to the much narrower `P·V` rows.
    @inline(__always)
    static func maskedSoftmax(
        _ s: UnsafeMutablePointer<Float>, rows: Int, cols: Int, keyMask: UnsafePointer<Float>,
        keyBias: UnsafePointer<Float>, deferredScale: UnsafeMutablePointer<Float>? = nil
    ) {
        for r in 0..<rows {
            let row = s + r * cols
            var vm = Vec(repeating: -Float.greatestFiniteMagnitude)
            var j = 0
            while j + 16 <= cols {
                vm = vmax(vm, load(row + j) + load(keyBias + j))
                j += 16
            }
            var m = hmax(vm)
            while j < cols {
                m = max(m, row[j] + keyBias[j])
                j += 1
            }
            var vsum = Vec(repeating: 0)
            j = 0
            while j + 16 <= cols {
                // row + bias − m ≤ 0 for every key; a masked key's −FLT_MAX bias makes it ≈ 0, the mask exactly 0.
                let e = VectorMath.exp2NonPositive(load(row + j) + load(keyBias + j) - m) * load(keyMask + j)
                store(e, row + j)
                vsum += e
                j += 16
            }
            var sum = hsum(vsum)
            while j < cols {
                let e = exp2f(row[j] + keyBias[j] - m) * keyMask[j]
                row[j] = e
                sum += e
                j += 1
            }
            if sum > 0, let deferredScale {
                deferredScale[r] = 1 / sum
            } else if sum > 0 {
                let inv = 1 / sum
                j = 0
                while j + 16 <= cols {
                    store(load(row + j) * inv, row + j)
                    j += 16
                }
                while j < cols {
                    row[j] *= inv
                    j += 1
                }
            } else {
                let u = 1 / Float(cols)
                for k in 0..<cols { row[k] = u }
                deferredScale?[r] = 1
            }
        }
    }
}
