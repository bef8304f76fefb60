import SentinelCore

/// A ``TensorArchive`` held in memory: for randomly initialised models (benchmarks, tests) and for
/// weights built in code.
public final class MemoryArchive: TensorArchive {
    public let path: String
    public var formatName: String { "memory" }
    public private(set) var entries: [TensorEntry] = []
    private var data: [String: [UInt8]] = [:]

    public init(path: String = "<memory>") { self.path = path }

    /// Adds a tensor; `bytes` must be its contiguous little-endian data (`entry.byteCount` bytes).
    public func add(_ entry: TensorEntry, bytes: [UInt8]) {
        precondition(bytes.count == entry.byteCount, "\(entry.name): \(bytes.count) bytes for \(entry.byteCount)")
        if data[entry.name] == nil {
            entries.append(entry)
        } else {
            entries.removeAll { $0.name == entry.name }
            entries.append(entry)
        }
        data[entry.name] = bytes
    }

    /// Adds a float tensor stored as `dtype` (F32, F16, BF16 by truncation-free rounding, or F64).
    public func add(_ name: String, shape: [Int], values: [Float], dtype: DType = .F32) {
        precondition(dtype.isFloatingPoint, "unsupported dtype \(dtype)")
        let bytes = FloatCoding.bytes(values, as: dtype)
        add(TensorEntry(name: name, dtype: dtype, shape: shape), bytes: bytes)
    }

    /// Removes a tensor (to build incomplete checkpoints in tests).
    public func remove(_ name: String) {
        entries.removeAll { $0.name == name }
        data[name] = nil
    }

    public func withBytes<R>(of name: String, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        guard let bytes = data[name] else {
            throw InputError(.missing, file: path, key: name, "no tensor of that name")
        }
        return try bytes.withUnsafeBytes(body)
    }

    /// A `BertModel` checkpoint with the geometry of `config` and deterministic pseudo-random weights
    /// (uniform with standard deviation 0.02, as `initializer_range`; LayerNorm weight 1, bias 0; the
    /// pooler included), named as in `model.safetensors` (prefix `""`) or a task model (`"bert."`).
    public static func randomBert(_ config: BertConfig, seed: UInt64 = 0, dtype: DType = .F32, prefix: String = "") -> MemoryArchive {
        let archive = MemoryArchive(path: "<random \(config.layerCount)-layer BERT>")
        var state = seed &+ 0x9E37_79B9_7F4A_7C15
        func next() -> Float {
            // SplitMix64 → uniform in [-√3·0.02, √3·0.02) (standard deviation 0.02).
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            z ^= z >> 31
            return (Float(z >> 40) / Float(1 << 24) * 2 - 1) * 0.034_641_016
        }
        func random(_ name: String, _ shape: [Int]) {
            archive.add(prefix + name, shape: shape, values: (0..<shape.reduce(1, *)).map { _ in next() }, dtype: dtype)
        }
        func constant(_ name: String, _ n: Int, _ v: Float) {
            archive.add(prefix + name, shape: [n], values: Array(repeating: v, count: n), dtype: dtype)
        }
        func linear(_ name: String, _ inF: Int, _ outF: Int) {
            random(name + ".weight", [outF, inF])
            random(name + ".bias", [outF])
        }
        func norm(_ name: String, _ n: Int) {
            constant(name + ".weight", n, 1)
            constant(name + ".bias", n, 0)
        }
        let h = config.hiddenSize, f = config.intermediateSize
        random("embeddings.word_embeddings.weight", [config.vocabSize, h])
        random("embeddings.position_embeddings.weight", [config.maxPositions, h])
        random("embeddings.token_type_embeddings.weight", [config.typeVocabSize, h])
        norm("embeddings.LayerNorm", h)
        for i in 0..<config.layerCount {
            let p = "encoder.layer.\(i)."
            linear(p + "attention.self.query", h, h)
            linear(p + "attention.self.key", h, h)
            linear(p + "attention.self.value", h, h)
            linear(p + "attention.output.dense", h, h)
            norm(p + "attention.output.LayerNorm", h)
            linear(p + "intermediate.dense", h, f)
            linear(p + "output.dense", f, h)
            norm(p + "output.LayerNorm", h)
        }
        linear("pooler.dense", h, h)
        return archive
    }
}
