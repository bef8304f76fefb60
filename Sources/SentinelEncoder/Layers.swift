import SentinelCore

/// A float32 tensor with its shape, row-major; what the encoder returns.
public struct FloatTensor: Sendable, Equatable {
    /// Dimensions, outermost first, e.g. `[batch, sequence, hidden]`.
    public var shape: [Int]
    /// `shape.reduce(1, *)` values, row-major.
    public var values: [Float]

    public init(shape: [Int], values: [Float]) {
        precondition(shape.reduce(1, *) == values.count, "shape \(shape) does not hold \(values.count) values")
        self.shape = shape
        self.values = values
    }

    init(shape: [Int], copying p: UnsafePointer<Float>) {
        self.shape = shape
        values = Array(UnsafeBufferPointer(start: p, count: shape.reduce(1, *)))
    }
}

/// A 64-byte aligned float32 scratch buffer that grows on demand (never shrinks).
final class FloatBuffer {
    private(set) var pointer: UnsafeMutablePointer<Float>
    private(set) var capacity: Int

    init(_ capacity: Int = 0) {
        self.capacity = max(capacity, 16)
        pointer = Self.allocate(self.capacity)
    }

    deinit { pointer.deallocate() }

    private static func allocate(_ n: Int) -> UnsafeMutablePointer<Float> {
        UnsafeMutableRawPointer.allocate(byteCount: n * 4, alignment: 64).bindMemory(to: Float.self, capacity: n)
    }

    /// Ensures room for `n` floats (contents are lost when it grows) and returns the pointer.
    @discardableResult
    func reserve(_ n: Int) -> UnsafeMutablePointer<Float> {
        if n > capacity {
            pointer.deallocate()
            capacity = n
            pointer = Self.allocate(n)
        }
        return pointer
    }
}

/// `y = x · Wᵀ + b` with a PyTorch weight `[outFeatures, inFeatures]` (`torch.nn.Linear`).
public struct Linear: Sendable {
    /// `[outFeatures, inFeatures]`.
    public let weight: Parameter
    /// `[outFeatures]`.
    public let bias: Parameter
    public var inFeatures: Int { weight.shape[1] }
    public var outFeatures: Int { weight.shape[0] }

    public init(weight: Parameter, bias: Parameter) {
        precondition(weight.shape.count == 2 && bias.shape == [weight.shape[0]], "\(weight.name): bad linear shapes")
        self.weight = weight
        self.bias = bias
    }

    /// `out[rows, outFeatures] = x[rows, inFeatures] · Wᵀ` (no bias: callers fuse it with what follows).
    /// One `cblas_sgemm` (`CblasNoTrans`, `CblasTrans`).
    func product(_ x: UnsafePointer<Float>, rows: Int, into out: UnsafeMutablePointer<Float>) {
        BLAS.sgemm(
            m: rows, n: outFeatures, k: inFeatures, a: x, lda: inFeatures,
            b: weight.values, ldb: inFeatures, transposeB: true, c: out, ldc: outFeatures)
    }

    static func load(
        _ loader: inout ParameterLoader, _ name: String, in inFeatures: Int, out outFeatures: Int,
        prefixed: Bool = true
    ) throws -> Linear? {
        let w = try loader.parameter(name + ".weight", [outFeatures, inFeatures], prefixed: prefixed)
        let b = try loader.parameter(name + ".bias", [outFeatures], prefixed: prefixed)
        guard let w, let b else { return nil }
        return Linear(weight: w, bias: b)
    }
}

/// `torch.nn.LayerNorm` over the last dimension: `(x − mean) / sqrt(var + eps) · weight + bias`.
public struct LayerNorm: Sendable {
    /// `[hidden]` (gamma).
    public let weight: Parameter
    /// `[hidden]` (beta).
    public let bias: Parameter
    public let eps: Float

    static func load(_ loader: inout ParameterLoader, _ name: String, size: Int, eps: Float) throws -> LayerNorm? {
        let w = try loader.parameter(name + ".weight", [size])
        let b = try loader.parameter(name + ".bias", [size])
        guard let w, let b else { return nil }
        return LayerNorm(weight: w, bias: b, eps: eps)
    }
}

/// `BertEmbeddings`: `LayerNorm(word[input_ids] + position[0..<L] + token_type[token_type_ids])`.
public struct BertEmbeddings: Sendable {
    /// `embeddings.word_embeddings.weight`, `[vocab, hidden]`.
    public let word: Parameter
    /// `embeddings.position_embeddings.weight`, `[maxPositions, hidden]`.
    public let position: Parameter
    /// `embeddings.token_type_embeddings.weight`, `[typeVocab, hidden]`.
    public let tokenType: Parameter
    /// `embeddings.LayerNorm`.
    public let norm: LayerNorm
}

/// One `BertLayer`: self-attention, output projection + residual + LayerNorm, feed-forward +
/// residual + LayerNorm (post-norm, as in BERT).
public struct BertLayer: Sendable {
    /// `attention.self.query` / `key` / `value`, each `[hidden, hidden]`.
    public let query: Linear, key: Linear, value: Linear
    /// `attention.output.dense`, `[hidden, hidden]`.
    public let attentionOutput: Linear
    /// `attention.output.LayerNorm`.
    public let attentionNorm: LayerNorm
    /// `intermediate.dense`, `[intermediate, hidden]`.
    public let intermediate: Linear
    /// `output.dense`, `[hidden, intermediate]`.
    public let output: Linear
    /// `output.LayerNorm`.
    public let outputNorm: LayerNorm

    /// Every parameter of the layer, in HuggingFace order.
    public var parameters: [Parameter] {
        [
            query.weight, query.bias, key.weight, key.bias, value.weight, value.bias,
            attentionOutput.weight, attentionOutput.bias, attentionNorm.weight, attentionNorm.bias,
            intermediate.weight, intermediate.bias, output.weight, output.bias, outputNorm.weight, outputNorm.bias,
        ]
    }
}

/// What one layer's forward pass leaves behind. Inference shares one set between all layers; with
/// `keepActivations` every layer has its own, which is what a backward pass reads:
/// the layer input (previous output), `query`/`key`/`value` `[T, hidden]` (biases added),
/// `probabilities` `[batch, heads, L, L]`, `context` `[T, hidden]`, `attentionSum` (pre-norm sum) and
/// `attentionOutput` `[T, hidden]` with `attentionStats` (mean, rstd per row), `intermediate`
/// `[T, intermediate]` (after the activation; `preActivation` before it), `outputSum` and `output`
/// `[T, hidden]` with `outputStats`. `T = batch · L`.
final class LayerActivations {
    let query = FloatBuffer(), key = FloatBuffer(), value = FloatBuffer()
    let probabilities = FloatBuffer()
    let context = FloatBuffer()
    let attentionSum = FloatBuffer(), attentionOutput = FloatBuffer(), attentionStats = FloatBuffer()
    let preActivation = FloatBuffer(), intermediate = FloatBuffer()
    let outputSum = FloatBuffer(), output = FloatBuffer(), outputStats = FloatBuffer()
}
