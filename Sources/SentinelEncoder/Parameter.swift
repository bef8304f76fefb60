import SentinelCore

/// One float32 parameter tensor of the model, by its HuggingFace name.
///
/// The values are either borrowed from a memory-mapped archive (F32, aligned: no copy) or owned
/// (converted from F16/BF16/F64, or copied). ``mutableValues()`` makes a borrowed parameter owned the
/// first time it is called, so an optimizer can update it in place; the mapping itself is never written.
///
/// `@unchecked Sendable`: the values are plain memory that the model reads from several cores during a
/// forward pass; writing them (``mutableValues()``) while a forward pass runs is the caller's error.
public final class Parameter: @unchecked Sendable {
    /// HuggingFace parameter name, e.g. `encoder.layer.0.attention.self.query.weight`.
    public let name: String
    /// Dimensions, outermost first; linear weights are `[outFeatures, inFeatures]` as in PyTorch.
    public let shape: [Int]
    /// Number of elements.
    public let count: Int
    private var storage: UnsafeMutablePointer<Float>
    /// Whether `storage` was allocated here (and is freed in `deinit`).
    public private(set) var isOwned: Bool
    /// Keeps the archive (and its mapping) alive while values are borrowed from it.
    private var source: AnyObject?

    /// An owned, zero-filled parameter.
    public init(name: String, shape: [Int]) {
        self.name = name
        self.shape = shape
        count = shape.reduce(1, *)
        storage = .allocate(capacity: max(count, 1))
        storage.initialize(repeating: 0, count: max(count, 1))
        isOwned = true
    }

    /// An owned parameter holding `values` (`values.count` must equal the element count of `shape`).
    public convenience init(name: String, shape: [Int], values: [Float]) {
        self.init(name: name, shape: shape)
        precondition(values.count == count, "\(name): \(values.count) values for shape \(shape)")
        values.withUnsafeBufferPointer { storage.update(from: $0.baseAddress!, count: count) }
    }

    private init(name: String, shape: [Int], borrowing pointer: UnsafePointer<Float>, from source: AnyObject) {
        self.name = name
        self.shape = shape
        count = shape.reduce(1, *)
        storage = UnsafeMutablePointer(mutating: pointer)
        isOwned = false
        self.source = source
    }

    deinit {
        if isOwned { storage.deallocate() }
    }

    /// Read-only view of the values (row-major).
    public var values: UnsafePointer<Float> { UnsafePointer(storage) }

    /// Writable values; a borrowed parameter is first copied out of the mapping.
    public func mutableValues() -> UnsafeMutablePointer<Float> {
        if !isOwned {
            let copy = UnsafeMutablePointer<Float>.allocate(capacity: max(count, 1))
            copy.update(from: storage, count: count)
            storage = copy
            isOwned = true
            source = nil
        }
        return storage
    }

    /// The values as an array (a copy).
    public var array: [Float] { Array(UnsafeBufferPointer(start: storage, count: count)) }

    /// Loads `entry` from `archive` as float32: F32 in place when the archive is memory-mapped and the
    /// data 4-byte aligned, otherwise converted (F16, BF16, F64) or copied.
    /// - Throws: ``InputError`` `.unknownDType` for any other dtype (naming the archive file and tensor).
    public static func load(_ entry: TensorEntry, from archive: TensorArchive) throws -> Parameter {
        let count = entry.elementCount
        if entry.dtype == .F32, let mapped = archive as? MappedTensorArchive,
            let bytes = mapped.mappedBytes(of: entry.name), bytes.count == count * 4,
            let base = bytes.baseAddress, Int(bitPattern: base) % MemoryLayout<Float>.alignment == 0
        {
            return Parameter(
                name: entry.name, shape: entry.shape,
                borrowing: base.assumingMemoryBound(to: Float.self), from: mapped)
        }
        let p = Parameter(name: entry.name, shape: entry.shape)
        let out = p.storage
        try archive.withBytes(of: entry.name) { raw in
            let width: Int
            switch entry.dtype {
            case .F32: width = 4
            case .F16, .BF16: width = 2
            case .F64: width = 8
            default:
                throw InputError(
                    .unknownDType, file: archive.path, key: entry.name,
                    "dtype \(entry.dtype) is not a floating-point type the encoder can use (F32, F16, BF16, F64)")
            }
            guard raw.count == count * width else {
                throw InputError(
                    .sizeMismatch, file: archive.path, key: entry.name,
                    "\(raw.count) bytes for \(count) elements of \(entry.dtype)")
            }
            FloatCoding.decode(raw, entry.dtype, count: count, into: out)
        }
        return p
    }
}

/// Looks parameters up by HuggingFace name, tolerating the `bert.` prefix of task models and the
/// `gamma`/`beta` LayerNorm names of TF-era checkpoints, and collects every missing or mis-shaped
/// parameter so that one error can list them all.
struct ParameterLoader {
    let archive: TensorArchive
    /// `""`, `"bert."` or `"roberta."`.
    let prefix: String
    private var byName: [String: TensorEntry] = [:]
    private(set) var problems: [String] = []
    private(set) var firstProblemKey: String?
    private(set) var anyMissing = false

    init(archive: TensorArchive) {
        self.archive = archive
        for e in archive.entries { byName[e.name] = e }
        // Task models prefix the encoder with `bert.` or (RoBERTa, XLM-R) `roberta.`.
        let names = byName
        prefix =
            names["embeddings.word_embeddings.weight"] != nil
            ? ""
            : ["bert.", "roberta."].first { names[$0 + "embeddings.word_embeddings.weight"] != nil } ?? ""
    }

    /// Whether the archive holds `name` (under the encoder prefix unless `prefixed` is false).
    func contains(_ name: String, prefixed: Bool = true) -> Bool {
        resolve(name, prefixed: prefixed) != nil
    }

    private func resolve(_ name: String, prefixed: Bool) -> TensorEntry? {
        let full = (prefixed ? prefix : "") + name
        if let e = byName[full] { return e }
        if full.hasSuffix("LayerNorm.weight") { return byName[String(full.dropLast(6)) + "gamma"] }
        if full.hasSuffix("LayerNorm.bias") { return byName[String(full.dropLast(4)) + "beta"] }
        return nil
    }

    /// The parameter `name` with shape `shape`, or `nil` after recording the problem.
    mutating func parameter(_ name: String, _ shape: [Int], prefixed: Bool = true) throws -> Parameter? {
        let full = (prefixed ? prefix : "") + name
        guard let e = resolve(name, prefixed: prefixed) else {
            record(full, "missing")
            anyMissing = true
            return nil
        }
        guard e.shape == shape else {
            record(e.name, "shape \(e.shape), expected \(shape)")
            return nil
        }
        return try Parameter.load(e, from: archive)
    }

    private mutating func record(_ key: String, _ what: String) {
        if firstProblemKey == nil { firstProblemKey = key }
        problems.append("\(key): \(what)")
    }

    /// Throws one ``InputError`` listing every recorded problem, if there is any.
    func check(_ what: String) throws {
        guard !problems.isEmpty else { return }
        throw InputError(
            anyMissing ? .missing : .sizeMismatch, file: archive.path, key: firstProblemKey,
            "\(problems.count) \(what) parameter(s) missing or mis-shaped: " + problems.joined(separator: "; "))
    }
}
