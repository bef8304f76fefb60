import SentinelCore
import COpenBLAS
import Dispatch
#if canImport(Glibc)
    import Glibc
#endif

extension BLAS {
    /// `C[m, n] = alpha · op(A) · op(B) + beta · C`, row-major float32 (`cblas_sgemm` with either operand
    /// transposed): `op(A)` is `[m, k]` (stored `[k, m]` with `transposeA`), `op(B)` is `[k, n]` (stored
    /// `[n, k]` with `transposeB`); `lda`, `ldb`, `ldc` are the stored row strides.
    @inline(__always)
    static func gemm(
        transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float = 1,
        a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        _ = threads
        cblas_sgemm(
            CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
            Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }
}

/// Runs `body(part, parts)` on ``BLAS/threads`` cores (once on the calling thread with one core).
@inline(__always)
func onEveryCore(_ body: (Int, Int) -> Void) {
    let workers = BLAS.threads
    if workers <= 1 { body(0, 1) } else { Parallel.forEach(workers) { body($0, workers) } }
}

/// The backward-pass products of a linear layer `y = x · Wᵀ + b` (`torch.nn.Linear`, weight `[out, in]`),
/// each split over the cores into equal halves so that no two cores write the same memory.
enum LinearBackward {
    /// `gradW[out, in] += dyᵀ · x` with `dy` `[rows, out]`, `x` `[rows, in]`: the cores take blocks of output rows.
    static func weightGradient(
        _ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>, rows: Int, out: Int, in inF: Int,
        into gradW: UnsafeMutablePointer<Float>
    ) {
        onEveryCore { w, parts in
            let lo = out * w / parts, hi = out * (w + 1) / parts
            guard hi > lo else { return }
            BLAS.gemm(
                transposeA: true, transposeB: false, m: hi - lo, n: inF, k: rows, a: dy + lo, lda: out,
                b: x, ldb: inF, beta: 1, c: gradW + lo * inF, ldc: inF)
        }
    }

    /// `dx[rows, in] (+)= Σ dyᵢ · Wᵢ` over the given (`dy` `[rows, out]`, `W` `[out, in]`) pairs (`accumulate`
    /// adds to `dx` instead of overwriting it): the cores take blocks of rows.
    static func inputGradient(
        _ pairs: [(dy: UnsafePointer<Float>, weight: UnsafePointer<Float>, out: Int)], rows: Int,
        in inF: Int, into dx: UnsafeMutablePointer<Float>, accumulate: Bool
    ) {
        onEveryCore { w, parts in
            let lo = rows * w / parts, hi = rows * (w + 1) / parts
            guard hi > lo else { return }
            for (i, p) in pairs.enumerated() {
                BLAS.gemm(
                    transposeA: false, transposeB: false, m: hi - lo, n: inF, k: p.out, a: p.dy + lo * p.out,
                    lda: p.out, b: p.weight, ldb: inF, beta: accumulate || i > 0 ? 1 : 0, c: dx + lo * inF, ldc: inF)
            }
        }
    }

    /// `gradB[cols] += Σ_rows dy[r, :]` (the bias gradient), vectorised.
    static func biasGradient(_ dy: UnsafePointer<Float>, rows: Int, cols: Int, into gradB: UnsafeMutablePointer<Float>) {
        TrainingKernels.columnSums(dy, rows: rows, cols: cols, into: gradB)
    }
}

/// Vectorised row kernels of the backward pass (serial; callers split rows over the cores).
enum TrainingKernels {
    /// `acc[j] += Σ_r x[r, j]`.
    static func columnSums(_ x: UnsafePointer<Float>, rows: Int, cols: Int, into acc: UnsafeMutablePointer<Float>) {
        var c = 0
        // Blocks of 64 columns: four vector accumulators stay in registers over all rows.
        while c + 64 <= cols {
            var a0 = load(acc + c), a1 = load(acc + c + 16), a2 = load(acc + c + 32), a3 = load(acc + c + 48)
            for r in 0..<rows {
                let p = x + r * cols + c
                a0 += load(p)
                a1 += load(p + 16)
                a2 += load(p + 32)
                a3 += load(p + 48)
            }
            store(a0, acc + c)
            store(a1, acc + c + 16)
            store(a2, acc + c + 32)
            store(a3, acc + c + 48)
            c += 64
        }
        while c + 16 <= cols {
            var a = load(acc + c)
            for r in 0..<rows { a += load(x + r * cols + c) }
            store(a, acc + c)
            c += 16
        }
        while c < cols {
            var s: Float = 0
            for r in 0..<rows { s += x[r * cols + c] }
            acc[c] += s
            c += 1
        }
    }

    /// `x[i] *= m[i]` for `count` values (applying a dropout mask, or its backward).
    @inline(__always)
    static func multiply(_ x: UnsafeMutablePointer<Float>, by m: UnsafePointer<Float>, count: Int) {
        var i = 0
        while i + 16 <= count {
            store(load(x + i) * load(m + i), x + i)
            i += 16
        }
        while i < count {
            x[i] *= m[i]
            i += 1
        }
    }

    /// `out[i] = x[i] · m[i]`.
    @inline(__always)
    static func multiply(_ x: UnsafePointer<Float>, by m: UnsafePointer<Float>, count: Int, into out: UnsafeMutablePointer<Float>) {
        var i = 0
        while i + 16 <= count {
            store(load(x + i) * load(m + i), out + i)
            i += 16
        }
        while i < count {
            out[i] = x[i] * m[i]
            i += 1
        }
    }

    /// LayerNorm forward of one row that keeps what the backward pass needs: `row` (the pre-norm values)
    /// is replaced by `x̂ = (row − mean) · rstd`, `out = x̂ · gamma + beta`; returns `rstd`. The arithmetic is
    /// that of ``Kernels/normalizeRow(_:cols:gamma:beta:eps:out:)`` (same values).
    @inline(__always)
    static func normalizeRowKeeping(
        _ row: UnsafeMutablePointer<Float>, cols: Int, gamma: UnsafePointer<Float>,
        beta: UnsafePointer<Float>, eps: Float, out: UnsafeMutablePointer<Float>
    ) -> Float {
        let (mean, rstd) = Kernels.normalizeRow(row, cols: cols, gamma: gamma, beta: beta, eps: eps, out: out)
        var j = 0
        while j + 16 <= cols {
            store((load(row + j) - mean) * rstd, row + j)
            j += 16
        }
        while j < cols {
            row[j] = (row[j] - mean) * rstd
            j += 1
        }
        return rstd
    }

    /// Training epilogue of `BertSelfOutput` / `BertOutput`: `s = dropout(x + bias) + residual`, then
    /// LayerNorm. `x` (`[rows, cols]`, the product) is replaced by `x̂`, `out` gets the LayerNorm output,
    /// `rstd[r]` each row's `1/sqrt(var + eps)`; `mask` (`[rows, cols]`, 0 or 1/(1−p)) is the dropout mask.
    static func addBiasDropoutResidualLayerNorm(
        _ x: UnsafeMutablePointer<Float>, rows: Int, cols: Int,
        bias: UnsafePointer<Float>, mask: UnsafePointer<Float>?,
        residual: UnsafePointer<Float>, gamma: UnsafePointer<Float>,
        beta: UnsafePointer<Float>, eps: Float,
        out: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>
    ) {
        for r in 0..<rows {
            let t = x + r * cols, res = residual + r * cols
            var j = 0
            if let mask {
                let m = mask + r * cols
                while j + 16 <= cols {
                    store((load(t + j) + load(bias + j)) * load(m + j) + load(res + j), t + j)
                    j += 16
                }
                while j < cols {
                    t[j] = (t[j] + bias[j]) * m[j] + res[j]
                    j += 1
                }
            } else {
                while j + 16 <= cols {
                    store(load(t + j) + load(bias + j) + load(res + j), t + j)
                    j += 16
                }
                while j < cols {
                    t[j] = t[j] + bias[j] + res[j]
                    j += 1
                }
            }
            rstd[r] = normalizeRowKeeping(t, cols: cols, gamma: gamma, beta: beta, eps: eps, out: out + r * cols)
        }
    }

    /// LayerNorm backward for rows `rows` of `[·, cols]` (`torch.nn.LayerNorm` over the last dimension):
    /// with `g = dy · gamma`, `dx = rstd · (g − mean(g) − x̂ · mean(g · x̂))`; `gradGamma += Σ dy · x̂`,
    /// `gradBeta += Σ dy` (into the caller's per-core partial sums). `dx` may be `dy`.
    static func layerNormBackward(
        dy: UnsafePointer<Float>, normalized: UnsafePointer<Float>, rstd: UnsafePointer<Float>,
        rows: Range<Int>, cols: Int, gamma: UnsafePointer<Float>,
        gradGamma: UnsafeMutablePointer<Float>, gradBeta: UnsafeMutablePointer<Float>,
        dx: UnsafeMutablePointer<Float>
    ) {
        let inv = 1 / Float(cols)
        for r in rows {
            let d = dy + r * cols, xh = normalized + r * cols, o = dx + r * cols
            var sg = Vec(repeating: 0), sgx = Vec(repeating: 0)
            var j = 0
            while j + 16 <= cols {
                let dv = load(d + j), xv = load(xh + j)
                let g = dv * load(gamma + j)
                sg += g
                sgx += g * xv
                store(load(gradGamma + j) + dv * xv, gradGamma + j)
                store(load(gradBeta + j) + dv, gradBeta + j)
                j += 16
            }
            var a = hsum(sg), b = hsum(sgx)
            while j < cols {
                let g = d[j] * gamma[j]
                a += g
                b += g * xh[j]
                gradGamma[j] += d[j] * xh[j]
                gradBeta[j] += d[j]
                j += 1
            }
            a *= inv
            b *= inv
            let s = rstd[r]
            j = 0
            while j + 16 <= cols {
                store((load(d + j) * load(gamma + j) - a - load(xh + j) * b) * s, o + j)
                j += 16
            }
            while j < cols {
                o[j] = (d[j] * gamma[j] - a - xh[j] * b) * s
                j += 1
            }
        }
    }

    /// Training form of ``Kernels/addBiasActivate(_:rows:cols:bias:activation:preActivation:)``: `x = act(x + bias)` in
    /// place and `derivative = act′(x + bias)` (what the backward pass multiplies by), computed together (one `erf`
    /// or `tanh` per element). The values equal the inference kernel's.
    static func addBiasActivate(
        _ x: UnsafeMutablePointer<Float>, rows: Int, cols: Int, bias: UnsafePointer<Float>,
        activation: Activation, derivative: UnsafeMutablePointer<Float>
    ) {
        switch activation {
        case .gelu: addBiasActivate(x, rows, cols, bias, derivative, Activation.geluWithDerivative, Activation.geluWithDerivative)
        case .geluTanh: addBiasActivate(x, rows, cols, bias, derivative, Activation.geluTanhWithDerivative, Activation.geluTanhWithDerivative)
        case .relu: addBiasActivate(x, rows, cols, bias, derivative, Activation.reluWithDerivative, Activation.reluWithDerivative)
        }
    }

    @inline(__always)
    private static func addBiasActivate(
        _ x: UnsafeMutablePointer<Float>, _ rows: Int, _ cols: Int, _ bias: UnsafePointer<Float>,
        _ derivative: UnsafeMutablePointer<Float>, _ f: (Vec) -> (Vec, Vec),
        _ scalar: (Float) -> (Float, Float)
    ) {
        for r in 0..<rows {
            let row = x + r * cols, d = derivative + r * cols
            var j = 0
            while j + 16 <= cols {
                let (y, dy) = f(load(row + j) + load(bias + j))
                store(y, row + j)
                store(dy, d + j)
                j += 16
            }
            while j < cols {
                let (y, dy) = scalar(row[j] + bias[j])
                row[j] = y
                d[j] = dy
                j += 1
            }
        }
    }

    /// Softmax backward in place, row by row: `dS = P · (dP − Σⱼ dPⱼ·Pⱼ)` with `dP` in `grad` and the
    /// probabilities `P` (`[rows, cols]`, row stride `cols`).
    static func softmaxBackward(_ grad: UnsafeMutablePointer<Float>, probabilities p: UnsafePointer<Float>, rows: Int, cols: Int) {
        for r in 0..<rows {
            let g = grad + r * cols, pr = p + r * cols
            var acc = Vec(repeating: 0)
            var j = 0
            while j + 16 <= cols {
                acc += load(g + j) * load(pr + j)
                j += 16
            }
            var dot = hsum(acc)
            while j < cols {
                dot += g[j] * pr[j]
                j += 1
            }
            j = 0
            while j + 16 <= cols {
                store(load(pr + j) * (load(g + j) - dot), g + j)
                j += 16
            }
            while j < cols {
                g[j] = pr[j] * (g[j] - dot)
                j += 1
            }
        }
    }

    /// `Σ x[i]²` in float64 (for gradient norms), vectorised in float32 blocks of 1024 values.
    static func sumOfSquares(_ x: UnsafePointer<Float>, count: Int) -> Double {
        var total = 0.0
        var i = 0
        while i < count {
            let n = min(1024, count - i)
            var acc = Vec(repeating: 0)
            var j = 0
            while j + 16 <= n {
                let v = load(x + i + j)
                acc += v * v
                j += 16
            }
            var s = Double(hsum(acc))
            while j < n {
                s += Double(x[i + j]) * Double(x[i + j])
                j += 1
            }
            total += s
            i += n
        }
        return total
    }

    /// `x[i] *= factor` for `count` values.
    static func scale(_ x: UnsafeMutablePointer<Float>, count: Int, by factor: Float) {
        var i = 0
        while i + 16 <= count {
            store(load(x + i) * factor, x + i)
            i += 16
        }
        while i < count {
            x[i] *= factor
            i += 1
        }
    }

    /// `dst[i] += src[i]`.
    @inline(__always)
    static func add(_ src: UnsafePointer<Float>, into dst: UnsafeMutablePointer<Float>, count: Int) {
        var i = 0
        while i + 16 <= count {
            store(load(dst + i) + load(src + i), dst + i)
            i += 16
        }
        while i < count {
            dst[i] += src[i]
            i += 1
        }
    }
}

extension Activation {
    // Value and derivative of each activation, vector and scalar forms. The values use the same operations as
    // `apply` (so training and inference agree bitwise); the derivatives are
    // exact GELU `Φ(z) + z·φ(z)`; tanh GELU `½(1 + t) + ½·z·(1 − t²)·√(2/π)·(1 + 3·0.044715·z²)` with
    // `t = tanh(√(2/π)(z + 0.044715·z³))`; ReLU `1` for `z > 0`, else `0` (as PyTorch's `threshold_backward`).

    @inline(__always)
    static func geluWithDerivative(_ x: Vec) -> (Vec, Vec) {
        let e = VectorMath.erf(x * 0.707_106_781_186_547_5)
        let y: Vec = 0.5 * x * (1 + e)
        let pdf: Vec = 0.398_942_280_401_432_7 * VectorMath.exp(-0.5 * x * x)
        let cdf: Vec = 0.5 * (1 + e)
        return (y, cdf + x * pdf)
    }

    @inline(__always)
    static func geluWithDerivative(_ x: Float) -> (Float, Float) {
        let e = Glibc.erf(x * 0.707_106_781_186_547_5)
        return (0.5 * x * (1 + e), 0.5 * (1 + e) + x * 0.398_942_280_401_432_7 * expf(-0.5 * x * x))
    }

    @inline(__always)
    static func geluTanhWithDerivative(_ x: Vec) -> (Vec, Vec) {
        let x2: Vec = x * x
        let inner: Vec = 0.797_884_560_802_865_4 * (x + 0.044715 * x * x * x)
        let t: Vec = VectorMath.tanh(inner)
        let y: Vec = 0.5 * x * (1 + t)
        let slope: Vec = 0.797_884_560_802_865_4 * (1 + 0.134_145 * x2)
        let left: Vec = 0.5 * (1 + t)
        let right: Vec = 0.5 * x * (1 - t * t) * slope
        return (y, left + right)
    }

    @inline(__always)
    static func geluTanhWithDerivative(_ x: Float) -> (Float, Float) {
        let t = Glibc.tanh(0.797_884_560_802_865_4 * (x + 0.044715 * x * x * x))
        let d = 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * 0.797_884_560_802_865_4 * (1 + 0.134_145 * x * x)
        return (0.5 * x * (1 + t), d)
    }

    @inline(__always)
    static func reluWithDerivative(_ x: Vec) -> (Vec, Vec) {
        let positive = lessMask(Vec(repeating: 0), x)
        return (vmax(x, Vec(repeating: 0)), select(positive, Vec(repeating: 1), Vec(repeating: 0)))
    }

    @inline(__always)
    static func reluWithDerivative(_ x: Float) -> (Float, Float) { (max(0, x), x > 0 ? 1 : 0) }
}
