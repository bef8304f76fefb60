import SentinelCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A HuggingFace model directory: which of the known files are present, where the weights are, and
/// which files Sentinel does not know (reported, never silently dropped).
///
/// Known files: `config.json`, `tokenizer.json`, `tokenizer_config.json`, `special_tokens_map.json`,
/// `vocab.txt`, `vocab.json` + `merges.txt` (byte-level BPE), the SentencePiece models `sentencepiece.bpe.model`,
/// `spiece.model`, `sentencepiece.model` (unigram; read, never copied into an adapted directory), `sentinel.json`, and weights: `model.safetensors`, `model.safetensors.index.json`,
/// `pytorch_model.bin`, `pytorch_model.bin.index.json` and the shards an index names.
public struct ModelDirectory: Sendable {
    /// Weights, in the order Sentinel prefers them when several are present.
    public static let weightFileNames = [
        "model.safetensors.index.json", "model.safetensors", "pytorch_model.bin.index.json", "pytorch_model.bin",
    ]
    public static let knownFileNames: Set<String> = [
        "config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt", "sentinel.json",
        "vocab.json", "merges.txt", "sentencepiece.bpe.model", "spiece.model", "sentencepiece.model",
    ]

    public let path: String
    /// File names (not paths) in the directory, sorted.
    public let fileNames: [String]
    /// Name of the chosen weights file (an index file for sharded checkpoints).
    public let weightsFileName: String
    /// Shard file names named by the index, or `[]`.
    public let shardFileNames: [String]
    /// Entries Sentinel does not read (other weights files, READMEs, sub-folders, …), sorted.
    public let unknownFileNames: [String]

    /// Lists `path`.
    /// - Throws: ``OutputError`` if it is not a readable directory; ``InputError`` (`.missing`) if it has no
    ///   weights file, (`.notJSON`/`.invalidStructure`) for a broken index file.
    public init(path: String) throws {
        self.path = path
        let names = try directoryEntries(path).sorted()
        fileNames = names
        guard let weights = Self.weightFileNames.first(where: names.contains) else {
            throw InputError(
                .missing, file: path,
                "no weights file (expected one of \(Self.weightFileNames.joined(separator: ", ")))")
        }
        weightsFileName = weights
        var shards: [String] = []
        if weights.hasSuffix(".index.json") {
            let index = try JSONValue.read(file: path + "/" + weights)
            guard let map = index["weight_map"]?.objectValue else {
                throw InputError(.invalidStructure, file: path + "/" + weights, key: "weight_map", "index file has no weight_map object")
            }
            for (_, v) in map {
                guard let s = v.stringValue, !s.contains("/"), s != "..", s != "." else {
                    throw InputError(
                        .invalidStructure, file: path + "/" + weights, key: "weight_map",
                        "weight_map values must be plain file names in the same directory")
                }
                if !shards.contains(s) { shards.append(s) }
            }
        }
        shardFileNames = shards
        let used = Self.knownFileNames.union([weights]).union(shards)
        unknownFileNames = names.filter { !used.contains($0) && !$0.hasPrefix(".") }
    }

    /// Full path of `name` in the directory.
    public func file(_ name: String) -> String { path + "/" + name }
    /// Whether `name` is present.
    public func has(_ name: String) -> Bool { fileNames.contains(name) }
    /// Full path of the weights file (or index).
    public var weightsPath: String { file(weightsFileName) }

    /// `config.json`, parsed.
    public func config() throws -> JSONValue {
        guard has("config.json") else { throw InputError(.missing, file: file("config.json"), "the model directory has no config.json") }
        return try JSONValue.read(file: file("config.json"))
    }
}
