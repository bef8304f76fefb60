import SentinelCore

/// The two weights formats Sentinel writes.
public enum WeightsFormat: String, CaseIterable, Sendable {
    case safetensors, pytorch

    /// HuggingFace's file name for an unsharded checkpoint: `model.safetensors`, `pytorch_model.bin`.
    public var fileName: String { self == .safetensors ? "model.safetensors" : "pytorch_model.bin" }

    /// HuggingFace's shard name: `model-00001-of-00003.safetensors`, `pytorch_model-00001-of-00003.bin`.
    public func shardName(_ i: Int, of n: Int) -> String {
        func five(_ k: Int) -> String { String(repeating: "0", count: max(0, 5 - String(k).count)) + String(k) }
        return self == .safetensors ? "model-\(five(i))-of-\(five(n)).safetensors" : "pytorch_model-\(five(i))-of-\(five(n)).bin"
    }

    /// Writes one file of this format atomically. `ties` are kept by the pytorch format (one object);
    /// safetensors stores every name with its own copy of the bytes. `metadata` is the safetensors
    /// `__metadata__` (ignored by the pytorch format). Without `replace` an existing `path` is left alone
    /// (``OutputExistsError``).
    public func write(
        _ items: [SafeTensorsWriter.Item], ties: [String: String] = [:],
        metadata: [(String, String)]? = [("format", "pt")], to path: String, replace: Bool = true
    ) throws {
        switch self {
        case .safetensors: try SafeTensorsWriter.write(items, metadata: metadata, to: path, replace: replace)
        case .pytorch: try TorchWriter.write(items, ties: ties, to: path, replace: replace)
        }
    }
}

/// Writes a checkpoint split into shards of bounded size with a `*.index.json`, as HuggingFace's
/// `save_pretrained(max_shard_size=…)` does: tensors are taken in order and a new shard starts when the
/// next tensor would push the current one past the limit (a tensor larger than the limit gets a shard
/// of its own); a tied tensor stays in the shard of the tensor it is tied to. One shard: a single
/// plain file (`model.safetensors` / `pytorch_model.bin`) and no index.
public enum ShardedWriter {
    /// - Parameters:
    ///   - maxShardBytes: largest shard, in bytes of tensor data (headers not counted, as in HF).
    ///   - directory: existing directory the files go to. Each file is written atomically; the index last.
    /// - Returns: the file names written, shards first, then the index (if any).
    /// - Throws: ``InputError``/``OutputError`` from the writers.
    @discardableResult
    public static func write(
        _ items: [SafeTensorsWriter.Item], ties: [String: String] = [:], format: WeightsFormat,
        metadata: [(String, String)]? = [("format", "pt")], maxShardBytes: Int, directory: String
    ) throws -> [String] {
        try SafeTensorsWriter.checkNames(items.lazy.map(\.entry), file: directory)
        var shards: [[Int]] = []
        var shardOf: [String: Int] = [:]
        var current = 0
        // safetensors has no shared storage: a tie is only kept (and its bytes counted once) in the pytorch format.
        let ties = format == .pytorch ? ties : [:]
        for (i, item) in items.enumerated() {
            if let target = ties[item.entry.name], let s = shardOf[target] {
                shards[s].append(i)
                shardOf[item.entry.name] = s
                continue
            }
            let size = item.entry.byteCount
            if shards.isEmpty || (current > 0 && current + size > maxShardBytes) {
                shards.append([])
                current = 0
            }
            shards[shards.count - 1].append(i)
            shardOf[item.entry.name] = shards.count - 1
            current += size
        }
        if shards.count <= 1 {
            try format.write(items, ties: ties, metadata: metadata, to: directory + "/" + format.fileName)
            return [format.fileName]
        }
        var names: [String] = []
        var weightMap: [(String, JSONValue)] = []
        for (k, members) in shards.enumerated() {
            let name = format.shardName(k + 1, of: shards.count)
            let shardItems = members.map { items[$0] }
            let memberNames = Set(shardItems.map(\.entry.name))
            try format.write(shardItems, ties: ties.filter { memberNames.contains($0.key) }, metadata: metadata, to: directory + "/" + name)
            names.append(name)
            for item in shardItems { weightMap.append((item.entry.name, .string(name))) }
        }
        weightMap.sort { $0.0 < $1.0 }
        let total = Set(items.indices.filter { ties[items[$0].entry.name] == nil }).reduce(0) { $0 + items[$1].entry.byteCount }
        let index = JSONValue.object([
            ("metadata", .object([("total_size", .int(Int64(total)))])),
            ("weight_map", .object(weightMap)),
        ])
        let indexName = format.fileName + ".index.json"
        try AtomicFile.write(to: directory + "/" + indexName) { try $0.write(index.serialized(.pretty) + "\n") }
        return names + [indexName]
    }
}

/// Renames old LayerNorm parameter names `….LayerNorm.gamma` / `….LayerNorm.beta` to `….LayerNorm.weight` /
/// `….LayerNorm.bias`, as transformers does when it loads old (TF-converted) BERT checkpoints
/// (`modeling_utils.py`, `_fix_state_dict_key_on_load`: keys ending in `LayerNorm.gamma`/`LayerNorm.beta`).
/// Other names containing `gamma` or `beta` are left alone.
/// - Returns: the new names in order and the renames made (`old → new`), for the conversion report.
/// - Throws: ``InputError`` `.duplicateTensor` when a renamed key collides with an existing one.
public func renameLegacyLayerNormKeys(_ names: [String], file: String = "<weights>") throws -> (
    names: [String], renamed: [(from: String, to: String)]
) {
    var out: [String] = []
    var renamed: [(String, String)] = []
    for n in names {
        var new = n
        if n.hasSuffix("LayerNorm.gamma") {
            new = String(n.dropLast("gamma".count)) + "weight"
        } else if n.hasSuffix("LayerNorm.beta") {
            new = String(n.dropLast("beta".count)) + "bias"
        }
        if new != n { renamed.append((n, new)) }
        out.append(new)
    }
    var seen = Set<String>()
    for n in out where !seen.insert(n).inserted {
        throw InputError(.duplicateTensor, file: file, key: n, "renaming gamma/beta to weight/bias gives '\(n)' twice")
    }
    return (out, renamed)
}

/// A view of an archive with some tensors renamed (e.g. by ``renameLegacyLayerNormKeys(_:file:)``).
public final class RenamedArchive: TensorArchive {
    public let base: TensorArchive
    public let entries: [TensorEntry]
    private let original: [String: String]
    public var path: String { base.path }
    public var formatName: String { base.formatName }

    /// - Parameter renames: `old → new` name pairs; other names are kept.
    public init(_ base: TensorArchive, renames: [(from: String, to: String)]) {
        self.base = base
        let map = Dictionary(renames.map { ($0.from, $0.to) }, uniquingKeysWith: { a, _ in a })
        var original: [String: String] = [:]
        entries = base.entries.map { e in
            var e = e
            let new = map[e.name] ?? e.name
            original[new] = e.name
            e.name = new
            return e
        }
        self.original = original
    }

    public func withBytes<R>(of name: String, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        guard let old = original[name] else { throw InputError(.missing, file: path, key: name, "no tensor of that name") }
        return try base.withBytes(of: old, body)
    }

    public func releaseBytes(of name: String) {
        if let old = original[name] { base.releaseBytes(of: old) }
    }

    public func fileRange(of name: String) -> FileRange? {
        original[name].flatMap { base.fileRange(of: $0) }
    }
}
