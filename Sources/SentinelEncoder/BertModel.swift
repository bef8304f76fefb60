import CSentinelKernels
import Dispatch
import SentinelCore
#if canImport(Glibc)
    import Glibc
#endif

/// A batch of token sequences, all padded to one length (right padding, like `tokenizer.pad`).
public struct EncoderBatch: Sendable, Equatable {
    public let batchSize: Int
    /// `L`, the padded length.
    public let sequenceLength: Int
    /// `input_ids`, `[batch, L]` row-major.
    public var inputIDs: [Int32]
    /// `attention_mask`, `[batch, L]`: 1 for a real token, 0 for padding.
    public var attentionMask: [Int32]
    /// `token_type_ids`, `[batch, L]`: 0 for the first segment, 1 for the second.
    public var tokenTypeIDs: [Int32]

    /// A batch from per-row lists, all of length `L`. A missing `attentionMask` means all ones; missing
    /// `tokenTypeIDs`, all zeros.
    /// - Throws: ``InputError`` `.invalidStructure` (file `input`) when rows differ in length or the batch is empty.
    public init(inputIDs: [[Int]], attentionMask: [[Int]]? = nil, tokenTypeIDs: [[Int]]? = nil) throws {
        guard let first = inputIDs.first, !first.isEmpty else {
            throw InputError(.invalidStructure, file: "input", key: "input_ids", "empty batch")
        }
        let l = first.count
        func flat(_ rows: [[Int]]?, _ key: String, fill: Int32) throws -> [Int32] {
            guard let rows else { return Array(repeating: fill, count: inputIDs.count * l) }
            guard rows.count == inputIDs.count, rows.allSatisfy({ $0.count == l }) else {
                throw InputError(
                    .invalidStructure, file: "input", key: key,
                    "every row must have the \(l) elements of the first input_ids row")
            }
            var out: [Int32] = []
            out.reserveCapacity(rows.count * l)
            for row in rows {
                for v in row {
                    guard let i = Int32(exactly: v) else {
                        throw InputError(.outOfRange, file: "input", key: key, "value \(v) does not fit in 32 bits")
                    }
                    out.append(i)
                }
            }
            return out
        }
        try self.init(
            batchSize: inputIDs.count, sequenceLength: l,
            inputIDs: flat(inputIDs, "input_ids", fill: 0),
            attentionMask: flat(attentionMask, "attention_mask", fill: 1),
            tokenTypeIDs: flat(tokenTypeIDs, "token_type_ids", fill: 0))
    }

    /// A batch from flat `[batch, L]` arrays.
    /// - Throws: ``InputError`` `.invalidStructure` when an array does not hold `batchSize · sequenceLength` values.
    public init(
        batchSize: Int, sequenceLength: Int, inputIDs: [Int32], attentionMask: [Int32]? = nil,
        tokenTypeIDs: [Int32]? = nil
    ) throws {
        let n = batchSize * sequenceLength
        guard batchSize > 0, sequenceLength > 0 else {
            throw InputError(.invalidStructure, file: "input", key: "input_ids", "empty batch")
        }
        for (key, a) in [("input_ids", inputIDs), ("attention_mask", attentionMask), ("token_type_ids", tokenTypeIDs)] {
            if let a, a.count != n {
                throw InputError(.invalidStructure, file: "input", key: key, "\(a.count) values for [\(batchSize), \(sequenceLength)]")
            }
        }
        self.batchSize = batchSize
        self.sequenceLength = sequenceLength
        self.inputIDs = inputIDs
        self.attentionMask = attentionMask ?? Array(repeating: 1, count: n)
        self.tokenTypeIDs = tokenTypeIDs ?? Array(repeating: 0, count: n)
    }
}

/// The result of ``BertModel/forward(_:outputHiddenStates:)`` (HuggingFace `BaseModelOutputWithPooling`).
public struct BertOutput: Sendable {
    /// Output of the last layer, float32 `[batch, L, hidden]`.
    public var lastHiddenState: FloatTensor
    /// `tanh(dense(lastHiddenState[:, 0]))`, float32 `[batch, hidden]`; `nil` for a model without a pooler.
    public var poolerOutput: FloatTensor?
    /// With `outputHiddenStates`: the embedding output then every layer's output, `layerCount + 1`
    /// tensors of `[batch, L, hidden]` (HF `hidden_states`); empty otherwise.
    public var hiddenStates: [FloatTensor]
}

/// The encoder is compiled for AVX2 and FMA (x86-64 CPUs since 2013–2015); this CPU has neither.
public struct UnsupportedCPU: Error, CustomStringConvertible {
    public var description: String {
        "this CPU lacks AVX2/FMA, which Sentinel's encoder is compiled for (rebuild without SENTINEL_TARGET_CPU)"
    }
}

/// A BERT encoder (`transformers.BertModel`) running natively on the CPU in float32.
///
/// Weights come from any ``TensorArchive`` by their HuggingFace names, with or without the `bert.`
/// prefix; F32 weights of a memory-mapped archive are used in place, F16/BF16/F64 converted on load.
/// The forward pass follows `modeling_bert.py` with eager attention: embeddings + LayerNorm; per layer
/// `softmax(Q·Kᵀ/√d + mask)·V`, output dense, residual, LayerNorm, `dense → act → dense`, residual,
/// LayerNorm; pooler `tanh(dense(h[:, 0]))`. Matrix products are `cblas_sgemm`; the rest is
/// vectorised and split over ``BLAS/threads`` cores; scratch memory is kept between calls.
///
/// Not thread-safe: one forward pass at a time per instance (it owns its workspace).
public final class BertModel {
    public let config: BertConfig
    public let embeddings: BertEmbeddings
    public let layers: [BertLayer]
    /// `pooler.dense`, or `nil` when the checkpoint has none (e.g. `BertForTokenClassification`).
    public let pooler: Linear?
    /// The archive the weights were read from (kept alive: borrowed weights point into it).
    public let archive: TensorArchive

    private let hidden = FloatBuffer()
    private let shared = LayerActivations()
    private var perLayer: [LayerActivations] = []
    private let keyMask = FloatBuffer(), keyBias = FloatBuffer()
    private var scores: [FloatBuffer] = []
    private let poolerInput = FloatBuffer(), poolerBuffer = FloatBuffer()

    /// Loads every `BertModel` parameter from `archive` for the geometry in `config`.
    /// - Throws: one ``InputError`` (`.missing` or `.sizeMismatch`, file = the archive) listing every
    ///   missing or mis-shaped parameter; `.unknownDType` for a non-float tensor.
    public init(archive: TensorArchive, config: BertConfig) throws {
        #if SENTINEL_CPU_CHECK
            guard CSentinelKernels_cpu_has_avx2_fma() != 0 else { throw UnsupportedCPU() }
        #endif
        self.config = config
        self.archive = archive
        var loader = ParameterLoader(archive: archive)
        let h = config.hiddenSize, f = config.intermediateSize, eps = config.layerNormEps
        let word = try loader.parameter("embeddings.word_embeddings.weight", [config.vocabSize, h])
        let position = try loader.parameter("embeddings.position_embeddings.weight", [config.maxPositions, h])
        let tokenType = try loader.parameter("embeddings.token_type_embeddings.weight", [config.typeVocabSize, h])
        let embNorm = try LayerNorm.load(&loader, "embeddings.LayerNorm", size: h, eps: eps)
        var layers: [BertLayer] = []
        for i in 0..<config.layerCount {
            let p = "encoder.layer.\(i)."
            let q = try Linear.load(&loader, p + "attention.self.query", in: h, out: h)
            let k = try Linear.load(&loader, p + "attention.self.key", in: h, out: h)
            let v = try Linear.load(&loader, p + "attention.self.value", in: h, out: h)
            let ao = try Linear.load(&loader, p + "attention.output.dense", in: h, out: h)
            let an = try LayerNorm.load(&loader, p + "attention.output.LayerNorm", size: h, eps: eps)
            let inter = try Linear.load(&loader, p + "intermediate.dense", in: h, out: f)
            let out = try Linear.load(&loader, p + "output.dense", in: f, out: h)
            let on = try LayerNorm.load(&loader, p + "output.LayerNorm", size: h, eps: eps)
            if let q, let k, let v, let ao, let an, let inter, let out, let on {
                layers.append(
                    BertLayer(
                        query: q, key: k, value: v, attentionOutput: ao, attentionNorm: an,
                        intermediate: inter, output: out, outputNorm: on))
            }
        }
        // The pooler is optional as a whole (token-classification checkpoints have none), not in part.
        var pooler: Linear? = nil
        if loader.contains("pooler.dense.weight") || loader.contains("pooler.dense.bias") {
            pooler = try Linear.load(&loader, "pooler.dense", in: h, out: h)
        }
        try loader.check("BertModel")
        guard let word, let position, let tokenType, let embNorm else {
            throw InputError(.missing, file: archive.path, "embedding parameters missing")
        }
        embeddings = BertEmbeddings(word: word, position: position, tokenType: tokenType, norm: embNorm)
        self.layers = layers
        self.pooler = pooler
    }

    /// Allocates the scratch memory for batches up to `[batchSize, sequenceLength]` now, so that later
    /// forward passes of that size or smaller allocate nothing (the workspace otherwise grows on demand).
    public func reserveWorkspace(batchSize b: Int, sequenceLength l: Int, keepActivations: Bool = false) {
        let t = b * l, h = config.hiddenSize, f = config.intermediateSize
        hidden.reserve(t * h)
        keyMask.reserve(t)
        keyBias.reserve(t)
        poolerInput.reserve(b * h)
        poolerBuffer.reserve(b * h)
        while scores.count < BLAS.threads { scores.append(FloatBuffer()) }
        for s in scores { s.reserve(l * l + l) }
        if keepActivations {
            while perLayer.count < layers.count { perLayer.append(LayerActivations()) }
        }
        for acts in (keepActivations ? perLayer : []) + [shared] {
            for buffer in [acts.query, acts.key, acts.value, acts.context, acts.attentionSum, acts.attentionOutput, acts.outputSum] {
                buffer.reserve(t * h)
            }
            acts.intermediate.reserve(t * f)
            if keepActivations && acts !== shared {
                acts.output.reserve(t * h)
                acts.preActivation.reserve(t * f)
                acts.probabilities.reserve(b * config.headCount * l * l)
                acts.attentionStats.reserve(2 * t)
                acts.outputStats.reserve(2 * t)
            }
        }
    }

    /// Every parameter, in HuggingFace order (embeddings, layers, pooler).
    public var parameters: [Parameter] {
        [embeddings.word, embeddings.position, embeddings.tokenType, embeddings.norm.weight, embeddings.norm.bias]
            + layers.flatMap(\.parameters) + (pooler.map { [$0.weight, $0.bias] } ?? [])
    }

    /// Runs the encoder.
    ///
    /// - Parameters:
    ///   - batch: `input_ids`, `attention_mask`, `token_type_ids`, each `[batch, L]`.
    ///   - outputHiddenStates: also return the embedding output and every layer's output.
    ///   - keepActivations: keep every layer's intermediate values (for a backward pass) instead of
    ///     sharing one scratch set; costs `≈ layers × (6·hidden + 2·intermediate + heads·L) × T` floats.
    /// - Returns: `last_hidden_state` `[batch, L, hidden]`, `pooler_output` `[batch, hidden]` (if the model has a
    ///   pooler) and, on request, `hidden_states`. Padded positions are computed too (they attend to
    ///   the valid keys, as in HuggingFace) and never change the valid positions' values.
    /// - Throws: ``InputError`` `.outOfRange` (file `input`) for an id outside the vocabulary, a token type
    ///   outside `type_vocab_size`, or `L` over `max_position_embeddings`.
    /// - Complexity: O(layers · T · hidden · (hidden + intermediate) + layers · batch · L² · hidden).
    public func forward(_ batch: EncoderBatch, outputHiddenStates: Bool = false, keepActivations: Bool = false) throws -> BertOutput {
        let b = batch.batchSize, l = batch.sequenceLength, t = b * l, h = config.hiddenSize
        try validate(batch)
        let x = hidden.reserve(t * h)
        embed(batch, into: x)
        var states: [FloatTensor] = []
        if outputHiddenStates { states.append(FloatTensor(shape: [b, l, h], copying: x)) }
        prepareMask(batch)
        if keepActivations {
            while perLayer.count < layers.count { perLayer.append(LayerActivations()) }
        }
        var input = UnsafePointer(x)
        for (i, layer) in layers.enumerated() {
            let acts = keepActivations ? perLayer[i] : shared
            let out = keepActivations ? acts.output.reserve(t * h) : x
            forward(layer, input: input, output: out, batch: b, length: l, acts: acts, keep: keepActivations)
            input = UnsafePointer(out)
            if outputHiddenStates { states.append(FloatTensor(shape: [b, l, h], copying: out)) }
        }
        let last = FloatTensor(shape: [b, l, h], copying: input)
        var pooled: FloatTensor? = nil
        if let pooler {
            let cls = poolerInput.reserve(b * h)
            for r in 0..<b { (cls + r * h).update(from: input + r * l * h, count: h) }
            let y = poolerBuffer.reserve(b * h)
            pooler.product(cls, rows: b, into: y)
            let bias = pooler.bias.values
            for r in 0..<b { for j in 0..<h { y[r * h + j] = tanhf(y[r * h + j] + bias[j]) } }
            pooled = FloatTensor(shape: [b, h], copying: y)
        }
        return BertOutput(lastHiddenState: last, poolerOutput: pooled, hiddenStates: states)
    }

    /// The convenience form: rows of equal length (see ``EncoderBatch/init(inputIDs:attentionMask:tokenTypeIDs:)``).
    public func forward(
        inputIDs: [[Int]], attentionMask: [[Int]]? = nil, tokenTypeIDs: [[Int]]? = nil,
        outputHiddenStates: Bool = false
    ) throws -> BertOutput {
        try forward(
            EncoderBatch(inputIDs: inputIDs, attentionMask: attentionMask, tokenTypeIDs: tokenTypeIDs),
            outputHiddenStates: outputHiddenStates)
    }

    // MARK: - Steps

    func validate(_ batch: EncoderBatch) throws {
        let l = batch.sequenceLength
        guard l <= config.maxSequenceLength else {
            throw InputError(
                .outOfRange, file: "input", key: "input_ids",
                "sequence length \(l) is over \(config.maxSequenceLength) (max_position_embeddings \(config.maxPositions)"
                    + (config.positionIDs == .absolute ? ")" : " less pad_token_id + 1: RoBERTa position ids)"))
        }
        let vocab = Int32(embeddings.word.shape[0]), types = Int32(config.typeVocabSize)
        for (i, id) in batch.inputIDs.enumerated() where id < 0 || id >= vocab {
            throw InputError(
                .outOfRange, file: "input", key: "input_ids[\(i / l)][\(i % l)]",
                "id \(id) is outside the vocabulary (0..<\(vocab))")
        }
        for (i, tt) in batch.tokenTypeIDs.enumerated() where tt < 0 || tt >= types {
            throw InputError(
                .outOfRange, file: "input", key: "token_type_ids[\(i / l)][\(i % l)]",
                "token type \(tt) is outside 0..<\(types)")
        }
    }

    /// The position id of every token, `[batch, L]` (``BertConfig/PositionIDs``).
    public func positionIDs(_ batch: EncoderBatch) -> [Int32] {
        let l = batch.sequenceLength
        switch config.positionIDs {
        case .absolute:
            return (0..<(batch.batchSize * l)).map { Int32($0 % l) }
        case let .roberta(pad):
            var out = [Int32](repeating: pad, count: batch.batchSize * l)
            for r in 0..<batch.batchSize {
                var count: Int32 = 0
                for j in 0..<l where batch.inputIDs[r * l + j] != pad {
                    count += 1
                    out[r * l + j] = pad + count
                }
            }
            return out
        }
    }

    private func embed(_ batch: EncoderBatch, into x: UnsafeMutablePointer<Float>) {
        let l = batch.sequenceLength, h = config.hiddenSize
        let positions = config.positionIDs == .absolute ? nil : positionIDs(batch)
        let word = embeddings.word.values, pos = embeddings.position.values, type = embeddings.tokenType.values
        let gamma = embeddings.norm.weight.values, beta = embeddings.norm.bias.values, eps = embeddings.norm.eps
        batch.inputIDs.withUnsafeBufferPointer { ids in
            batch.tokenTypeIDs.withUnsafeBufferPointer { types in
                Parallel.chunks(ids.count, workPerItem: h * 4) { range in
                    for r in range {
                        let row = x + r * h
                        let w = word + Int(ids[r]) * h, tt = type + Int(types[r]) * h
                        let p = pos + (positions.map { Int($0[r]) } ?? r % l) * h
                        var j = 0
                        while j + 16 <= h {
                            store(load(w + j) + load(p + j) + load(tt + j), row + j)
                            j += 16
                        }
                        while j < h {
                            row[j] = w[j] + p[j] + tt[j]
                            j += 1
                        }
                        _ = Kernels.normalizeRow(row, cols: h, gamma: gamma, beta: beta, eps: eps, out: row)
                    }
                }
            }
        }
    }

    /// Per key: 1/0 multiplier and 0/−FLT_MAX additive bias, `[batch, L]`.
    private func prepareMask(_ batch: EncoderBatch) { Self.prepareMask(batch, keyMask: keyMask, keyBias: keyBias) }

    /// Writes `keyMask` (1 valid, 0 padding) and `keyBias` (0 or −FLT_MAX) for every key of `batch`, `[batch, L]`.
    static func prepareMask(_ batch: EncoderBatch, keyMask: FloatBuffer, keyBias: FloatBuffer) {
        let n = batch.batchSize * batch.sequenceLength
        let m = keyMask.reserve(n), a = keyBias.reserve(n)
        for i in 0..<n {
            let valid = batch.attentionMask[i] != 0
            m[i] = valid ? 1 : 0
            a[i] = valid ? 0 : -Float.greatestFiniteMagnitude
        }
    }

    private func forward(
        _ layer: BertLayer, input x: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>,
        batch b: Int, length l: Int, acts: LayerActivations, keep: Bool
    ) {
        let t = b * l, h = config.hiddenSize, f = config.intermediateSize
        let q = acts.query.reserve(t * h), k = acts.key.reserve(t * h), v = acts.value.reserve(t * h)
        let qb = layer.query.bias.values, kb = layer.key.bias.values, vb = layer.value.bias.values
        Self.products([(layer.query, q), (layer.key, k), (layer.value, v)], x, rows: t) { lo, n in
            Kernels.addBias(q + lo * h, rows: n, cols: h, bias: qb)
            Kernels.addBias(k + lo * h, rows: n, cols: h, bias: kb)
            Kernels.addBias(v + lo * h, rows: n, cols: h, bias: vb)
        }
        let ctx = acts.context.reserve(t * h)
        attention(
            q: q, k: k, v: v, context: ctx, batch: b, length: l,
            probabilities: keep ? acts.probabilities.reserve(b * config.headCount * l * l) : nil)
        let h1 = acts.attentionOutput.reserve(t * h)
        Self.denseResidualNorm(
            layer.attentionOutput, layer.attentionNorm, ctx, rows: t, residual: x,
            sum: acts.attentionSum.reserve(t * h), out: h1,
            stats: keep ? acts.attentionStats.reserve(2 * t) : nil)
        let inter = acts.intermediate.reserve(t * f)
        let pre = keep ? acts.preActivation.reserve(t * f) : nil
        let ib = layer.intermediate.bias.values, act = config.activation
        Self.products([(layer.intermediate, inter)], h1, rows: t) { lo, n in
            Kernels.addBiasActivate(
                inter + lo * f, rows: n, cols: f, bias: ib, activation: act,
                preActivation: pre.map { $0 + lo * f })
        }
        Self.denseResidualNorm(
            layer.output, layer.outputNorm, inter, rows: t, residual: h1,
            sum: acts.outputSum.reserve(t * h), out: output,
            stats: keep ? acts.outputStats.reserve(2 * t) : nil)
    }

    /// `out = LayerNorm(x · Wᵀ + b + residual)` (HF `BertSelfOutput` / `BertOutput`); `sum` receives the
    /// pre-norm values and `stats` each row's mean and rstd.
    static func denseResidualNorm(
        _ dense: Linear, _ norm: LayerNorm, _ x: UnsafePointer<Float>, rows t: Int,
        residual: UnsafePointer<Float>, sum: UnsafeMutablePointer<Float>,
        out: UnsafeMutablePointer<Float>, stats: UnsafeMutablePointer<Float>?
    ) {
        let h = dense.outFeatures
        products([(dense, sum)], x, rows: t) { lo, n in
            Kernels.addBiasResidualLayerNorm(
                sum + lo * h, rows: n, cols: h, bias: dense.bias.values, residual: residual + lo * h,
                gamma: norm.weight.values, beta: norm.bias.values, eps: norm.eps,
                out: out + lo * h, stats: stats.map { $0 + 2 * lo })
        }
    }

    /// `y = x · Wᵀ` for each `(linear, y)` (all reading the same `x` `[rows, in]`), split over the
    /// cores, then `epilogue(firstRow, rowCount)` on each part's rows.
    ///
    /// With many rows each core takes a block of rows (16-aligned) and runs its epilogue at once, while
    /// the rows are in its cache. With few rows (≤ 64) the output columns are cut into blocks small
    /// enough for OpenBLAS's unpacked small-matrix kernel (Cooper Lake / Skylake-X `sgemm_small_kernel`:
    /// taken when `rows × block ≤ 1200` and `rows × block × in ≤ 10⁶`), which skips the packing of the
    /// weight matrix that dominates a small product; the blocks are shared between the cores and the
    /// epilogue runs after them.
    static func products(
        _ outputs: [(Linear, UnsafeMutablePointer<Float>)], _ x: UnsafePointer<Float>, rows t: Int,
        epilogue: (Int, Int) -> Void
    ) {
        let workers = BLAS.threads
        if t <= 64 {
            // Column blocks: (output index, first column, width).
            var blocks: [(Int, Int, Int)] = []
            for (i, (lin, _)) in outputs.enumerated() {
                let n = lin.outFeatures, k = lin.inFeatures
                let width = max(16, min(1200 / t, 1_000_000 / (t * k)) & ~15)
                var lo = 0
                while lo < n {
                    blocks.append((i, lo, min(width, n - lo)))
                    lo += width
                }
            }
            let run = { (w: Int, parts: Int) in
                for bi in stride(from: w, to: blocks.count, by: parts) {
                    let (i, lo, width) = blocks[bi]
                    let (lin, y) = outputs[i]
                    let n = lin.outFeatures, k = lin.inFeatures
                    let weights = lin.weight.values + lo * k
                    // The block's weights are contiguous; one sequential pass brings them into the cache at
                    // full memory bandwidth, which the small kernel's strided reads do not reach (≈ 15 %
                    // faster at (1, 16) on MiniLM, whose 42 MB of layer weights do not fit the L3 cache).
                    // The sum lands in C, which sgemm (beta 0) overwrites.
                    y[lo] = Kernels.touch(weights, count: width * k)
                    BLAS.sgemm(
                        m: t, n: width, k: k, a: x, lda: k, b: weights, ldb: k,
                        transposeB: true, c: y + lo, ldc: n)
                }
            }
            if workers <= 1 || blocks.count < 2 {
                run(0, 1)
            } else {
                let parts = min(workers, blocks.count)
                Parallel.forEach(parts) { run($0, parts) }
            }
            epilogue(0, t)
        } else if workers <= 1 {
            for (lin, y) in outputs { lin.product(x, rows: t, into: y) }
            epilogue(0, t)
        } else {
            Parallel.forEach(workers) { w in
                let lo = (t * w / workers) & ~15, hi = w == workers - 1 ? t : (t * (w + 1) / workers) & ~15
                guard hi > lo else { return }
                for (lin, y) in outputs {
                    lin.product(x + lo * lin.inFeatures, rows: hi - lo, into: y + lo * lin.outFeatures)
                }
                epilogue(lo, hi - lo)
            }
        }
    }

    /// Scaled dot-product attention for every (sequence, head) pair, the pairs split over the cores
    /// (OpenBLAS is single-threaded per call): `context[b, :, head] = softmax(Q·Kᵀ/√d + mask)·V`.
    private func attention(
        q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
        context: UnsafeMutablePointer<Float>, batch b: Int, length l: Int,
        probabilities: UnsafeMutablePointer<Float>?
    ) {
        let h = config.hiddenSize, heads = config.headCount, d = config.headSize
        let pairs = b * heads
        // Scores in base 2: the softmax uses 2^x, so log₂e joins the 1/√d scale inside the product.
        let alpha = 1.442_695_04 / Float(d).squareRoot()
        let workers = min(BLAS.threads, pairs)
        while scores.count < workers { scores.append(FloatBuffer()) }
        let scratch = (0..<workers).map { scores[$0].reserve(l * l + l) }
        let mask = UnsafePointer(keyMask.pointer), bias = UnsafePointer(keyBias.pointer)
        let run = { (worker: Int) in
            let lo = pairs * worker / workers, hi = pairs * (worker + 1) / workers
            for pair in lo..<hi {
                let s = probabilities.map { $0 + pair * l * l } ?? scratch[worker]
                let seq = pair / heads, head = pair % heads
                let offset = seq * l * h + head * d
                BLAS.sgemm(
                    m: l, n: l, k: d, alpha: alpha, a: q + offset, lda: h, b: k + offset, ldb: h,
                    transposeB: true, c: s, ldc: l)
                // Inference normalises the [L, d] context rows instead of the [L, L] weights.
                let scale = probabilities == nil ? scratch[worker] + l * l : nil
                Kernels.maskedSoftmax(
                    s, rows: l, cols: l, keyMask: mask + seq * l, keyBias: bias + seq * l,
                    deferredScale: scale)
                BLAS.sgemm(
                    m: l, n: d, k: l, a: s, lda: l, b: v + offset, ldb: h, transposeB: false,
                    c: context + offset, ldc: h)
                if let scale { Kernels.scaleRows(context + offset, rows: l, cols: d, stride: h, by: scale) }
            }
        }
        if workers <= 1 {
            run(0)
        } else {
            Parallel.forEach(workers, run)
        }
    }
}
