import SentinelCore

/// A sharded checkpoint: a `*.index.json` (`{"metadata": {...}, "weight_map": {tensor: shard file}}`,
/// HuggingFace's `model.safetensors.index.json` / `pytorch_model.bin.index.json`) and its shards,
/// each opened with the function given (any ``TensorArchive``).
///
/// The index is the authority: every tensor it maps must be in the named shard, and a shard may not
/// hold tensors the index does not map to it. Shard names must be plain relative paths (no `..`,
/// not absolute). Entries are listed shard by shard (in order of first mention), in file order.
public final class ShardedArchive: TensorArchive, @unchecked Sendable {
    public let path: String
    public var formatName: String { "sharded-" + (shards.first?.formatName ?? "empty") }
    /// Shard file names as the index gives them, and the opened shards.
    public let shardNames: [String]
    public let shards: [TensorArchive]
    /// The index's `metadata` object, if any.
    public let metadata: JSONValue?
    public let entries: [TensorEntry]
    private let location: [String: Int]

    /// Largest accepted index file and shard count.
    public static let maxIndexBytes = 64 << 20
    public static let maxShards = 100_000

    /// - Throws: ``InputError`` for a malformed index, an unsafe shard name, or a tensor missing from its shard.
    public init(indexPath: String, open: (String) throws -> TensorArchive) throws {
        path = indexPath
        let f = try MappedFile(path: indexPath)
        guard f.bytes.count <= Self.maxIndexBytes else {
            throw InputError(.headerTooLarge, file: indexPath, "index file of \(f.bytes.count) bytes (limit \(Self.maxIndexBytes))")
        }
        let json: JSONValue
        // The mapping must outlive the parse (ARC may release `f` after its last use).
        do { json = try withExtendedLifetime(f) { try JSONValue.parse(f.bytes) } } catch let e as JSONValue.ParseError {
            throw InputError(.notJSON, file: indexPath, offset: e.offset, "not valid JSON: \(e.reason)")
        }
        metadata = json["metadata"]
        guard let map = json["weight_map"]?.objectValue else {
            throw InputError(.invalidStructure, file: indexPath, key: "weight_map", "a sharded checkpoint index needs a \"weight_map\" object")
        }
        let dir: String = indexPath.contains("/") ? String(indexPath[...indexPath.lastIndex(of: "/")!]) : ""
        var names: [String] = []
        var nameIndex: [String: Int] = [:]  // a hash lookup: a linear search made 100,000 shards quadratic
        var shardOf: [String: Int] = [:]
        var wanted: [[String]] = []
        for (tensor, v) in map {
            guard case let .string(shard) = v else {
                throw InputError(.invalidStructure, file: indexPath, key: tensor, "weight_map values must be shard file names")
            }
            guard !shard.isEmpty, !shard.hasPrefix("/"), !shard.split(separator: "/").contains("..") else {
                throw InputError(.unsafe, file: indexPath, key: tensor, "shard name '\(shard)' leaves the checkpoint's directory")
            }
            guard shardOf[tensor] == nil else {
                throw InputError(.duplicateTensor, file: indexPath, key: tensor, "weight_map names the tensor twice")
            }
            var i = nameIndex[shard] ?? -1
            if i < 0 {
                guard names.count < Self.maxShards else { throw InputError(.outOfRange, file: indexPath, "more than \(Self.maxShards) shards") }
                i = names.count
                nameIndex[shard] = i
                names.append(shard)
                wanted.append([])
            }
            shardOf[tensor] = i
            wanted[i].append(tensor)
        }
        var shards: [TensorArchive] = []
        var entries: [TensorEntry] = []
        for (i, name) in names.enumerated() {
            let shard = try open(dir + name)
            let have = Set(shard.entries.map(\.name))
            for t in wanted[i] where !have.contains(t) {
                throw InputError(.missing, file: dir + name, key: t, "the index maps '\(t)' to this shard, which does not hold it")
            }
            for e in shard.entries {
                guard shardOf[e.name] == i else {
                    throw InputError(
                        .invalidStructure, file: dir + name, key: e.name,
                        shardOf[e.name] == nil
                            ? "tensor '\(e.name)' is in this shard but not in the index's weight_map"
                            : "tensor '\(e.name)' is in this shard but the index maps it to \(names[shardOf[e.name]!])")
                }
                entries.append(e)
            }
            shards.append(shard)
        }
        self.shardNames = names
        self.shards = shards
        self.entries = entries
        self.location = shardOf
    }

    public func withBytes<R>(of name: String, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        guard let i = location[name] else { throw InputError(.missing, file: path, key: name, "no tensor of that name") }
        return try shards[i].withBytes(of: name, body)
    }

    public func releaseBytes(of name: String) {
        if let i = location[name] { shards[i].releaseBytes(of: name) }
    }

    public func fileRange(of name: String) -> FileRange? {
        location[name].flatMap { shards[$0].fileRange(of: name) }
    }
}
