#if canImport(Glibc)
    import Glibc
#endif

/// `torch.optim.AdamW` (`foreach=False`, `amsgrad=False`, `maximize=False`), one tensor at a time.
///
/// Per step `t` (1-based) and element, in float32 as PyTorch's `_single_tensor_adamw`:
/// `p ← p·(1 − lr·wd)`; `m ← m + (1 − β₁)(g − m)` (`lerp_`); `v ← v·β₂ + (1 − β₂)·g·g`;
/// `p ← p − (lr / (1 − β₁ᵗ)) · m / (√v / √(1 − β₂ᵗ) + eps)`. The scalars are computed in float64, as
/// Python does, then rounded to float32.
public struct AdamW: Sendable, Equatable {
    /// `betas[0]`, `betas[1]`.
    public var beta1: Double, beta2: Double
    public var eps: Double
    /// The weight decay of the parameters that decay (HF Trainer: every parameter but biases and LayerNorm).
    public var weightDecay: Double

    /// HF Trainer's defaults: betas (0.9, 0.999), eps 1e-8, weight decay 0.01 (`TrainingArguments.weight_decay` is
    /// 0.0 by default; 0.01 is the usual fine-tuning setting and what the fixtures use).
    public init(beta1: Double = 0.9, beta2: Double = 0.999, eps: Double = 1e-8, weightDecay: Double = 0.01) {
        self.beta1 = beta1
        self.beta2 = beta2
        self.eps = eps
        self.weightDecay = weightDecay
    }

    /// Whether HF Trainer's grouping decays the parameter `name` (a HuggingFace parameter name): all but
    /// those whose name ends in `.bias` or contains `LayerNorm` (`Trainer.get_decay_parameter_names`).
    public static func decays(_ name: String) -> Bool {
        !(name.hasSuffix(".bias") || name == "bias" || name.contains("LayerNorm"))
    }

    /// One AdamW update of `count` elements in place: parameter `p`, gradient `g`, first and second moments
    /// `m`, `v` (zero before the first step), at step `t` ≥ 1 with learning rate `lr` and weight decay `weightDecay`.
    public func update(
        parameter p: UnsafeMutablePointer<Float>, gradient g: UnsafePointer<Float>,
        expAvg m: UnsafeMutablePointer<Float>, expAvgSq v: UnsafeMutablePointer<Float>,
        count: Int, step t: Int, learningRate lr: Double, weightDecay: Double
    ) {
        let decay = Float(1 - lr * weightDecay)
        let w1 = Float(1 - beta1), b2 = Float(beta2), w2 = Float(1 - beta2)
        let bc1 = 1 - pow(beta1, Double(t)), bc2Sqrt = (1 - pow(beta2, Double(t))).squareRoot()
        let negStep = Float(-(lr / bc1)), bc2 = Float(bc2Sqrt), epsF = Float(eps)
        var i = 0
        while i + 16 <= count {
            let gv = load(g + i)
            let pv = load(p + i) * decay
            var mv = load(m + i)
            mv = mv + w1 * (gv - mv)
            let vv = load(v + i) * b2 + w2 * gv * gv
            let denom = vv.squareRoot() / bc2 + epsF
            store(pv + (negStep * mv) / denom, p + i)
            store(mv, m + i)
            store(vv, v + i)
            i += 16
        }
        while i < count {
            let gv = g[i]
            let pv = p[i] * decay
            let mv = m[i] + w1 * (gv - m[i])
            let vv = v[i] * b2 + w2 * gv * gv
            p[i] = pv + (negStep * mv) / (vv.squareRoot() / bc2 + epsF)
            m[i] = mv
            v[i] = vv
            i += 1
        }
    }
}

/// The learning rate at each optimizer step: constant, or HF's `get_linear_schedule_with_warmup`
/// (`LambdaLR` with `λ(s) = s / max(1, warmup)` for `s < warmup`, else `max(0, (total − s) / max(1, total − warmup))`).
public struct LearningRateSchedule: Sendable, Equatable {
    /// The optimizer's `lr` (the peak).
    public var baseLearningRate: Double
    /// `num_warmup_steps`, `num_training_steps`; `nil` for a constant rate.
    public var warmupSteps: Int?, totalSteps: Int?

    public static func constant(_ lr: Double) -> LearningRateSchedule {
        LearningRateSchedule(baseLearningRate: lr, warmupSteps: nil, totalSteps: nil)
    }

    /// `get_linear_schedule_with_warmup(optimizer, num_warmup_steps: warmup, num_training_steps: total)`.
    public static func linear(_ lr: Double, warmupSteps: Int, totalSteps: Int) -> LearningRateSchedule {
        LearningRateSchedule(baseLearningRate: lr, warmupSteps: max(0, warmupSteps), totalSteps: max(0, totalSteps))
    }

    /// The rate of optimizer step `step` (0-based: the first `optimizer.step()` uses `learningRate(at: 0)`, which
    /// is 0 when there is a warm-up, as in HF Trainer).
    public func learningRate(at step: Int) -> Double {
        guard let warmup = warmupSteps, let total = totalSteps else { return baseLearningRate }
        if step < warmup { return baseLearningRate * Double(step) / Double(max(1, warmup)) }
        return baseLearningRate * max(0, Double(total - step) / Double(max(1, total - warmup)))
    }
}

/// `torch.nn.utils.clip_grad_norm_` (`norm_type` 2, `error_if_nonfinite=False`): the total norm is the L2 norm
/// of the per-tensor L2 norms; every gradient is multiplied by `min(1, maxNorm / (total + 1e-6))`.
public enum GradientClipping {
    /// The factor `clip_grad_norm_` multiplies the gradients by.
    public static func coefficient(totalNorm: Double, maxNorm: Double) -> Double {
        min(1, maxNorm / (totalNorm + 1e-6))
    }

    /// Total norm from per-tensor norms.
    public static func totalNorm(_ norms: [Double]) -> Double {
        norms.reduce(0) { $0 + $1 * $1 }.squareRoot()
    }
}
