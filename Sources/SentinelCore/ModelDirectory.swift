#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A HuggingFace model directory: which of the known files are present, where the weights are, and
/// which files Sentinel does not know (reported, never silently dropped).
///
/// Known files: `config.json`, `tokenizer.json`, `tokenizer_config.json`, `special_tokens_map.json`,
/// `vocab.txt`, `vocab.json` + `merges.txt` (byte-level BPE), `sentinel.json`, and weights: `model.safetensors`, `model.safetensors.index.json`,
/// `pytorch_model.bin`, `pytorch_model.bin.index.json` and the shards an index names.
public struct ModelDirectory: Sendable {
    /// Weights, in the order Sentinel prefers them when several are present.
    public static let weightFileNames = [
        "model.safetensors.index.json", "model.safetensors", "pytorch_model.bin.index.json", "pytorch_model.bin",
    ]
    public static let knownFileNames: Set<String> = [
        "config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt", "sentinel.json",
        "vocab.json", "merges.txt",
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
            throw InputError(.missing, file: path,
                             "no weights file (expected one of \(Self.weightFileNames.joined(separator: ", ")))")
        }
        weightsFileName = weights
        var shards: [String] = []
        if weights.hasSuffix(".index.json") {
            let index = try Self.readJSON(path + "/" + weights)
            guard let map = index["weight_map"]?.objectValue else {
                throw InputError(.invalidStructure, file: path + "/" + weights, key: "weight_map", "index file has no weight_map object")
            }
            for (_, v) in map {
                guard let s = v.stringValue, !s.contains("/"), s != "..", s != "." else {
                    throw InputError(.invalidStructure, file: path + "/" + weights, key: "weight_map",
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

    /// Parses a JSON file.
    /// - Throws: ``InputError`` `.notJSON` with the byte offset, ``OutputError`` if unreadable.
    public static func readJSON(_ path: String) throws -> JSONValue {
        let f = try MappedFile(path: path)
        do { return try withExtendedLifetime(f) { try JSONValue.parse(f.bytes) } } catch let e as JSONValue.ParseError {
            throw InputError(.notJSON, file: path, offset: e.offset, e.reason)
        }
    }

    /// `config.json`, parsed.
    public func config() throws -> JSONValue {
        guard has("config.json") else { throw InputError(.missing, file: file("config.json"), "the model directory has no config.json") }
        return try Self.readJSON(file("config.json"))
    }

    /// The special tokens: values of `special_tokens_map.json` (strings, `{"content": …}` objects, and the
    /// members of `additional_special_tokens`), else of `tokenizer_config.json`'s `*_token` keys, else
    /// BERT's five. Order: as they appear.
    public func specialTokens() throws -> [String] { try Self.specialTokens(inDirectory: path) }

    /// ``specialTokens()`` for any directory holding tokenizer files (weights not needed).
    public static func specialTokens(inDirectory path: String) throws -> [String] {
        func has(_ name: String) -> Bool { access(path + "/" + name, F_OK) == 0 }
        func file(_ name: String) -> String { path + "/" + name }
        func collect(_ v: JSONValue, into out: inout [String]) {
            switch v {
            case let .string(s): if !out.contains(s) { out.append(s) }
            case let .object(o): if let c = o.first(where: { $0.0 == "content" })?.1.stringValue, !out.contains(c) { out.append(c) }
            case let .array(a): for x in a { collect(x, into: &out) }
            default: break
            }
        }
        var out: [String] = []
        if has("special_tokens_map.json") {
            for (_, v) in try readJSON(file("special_tokens_map.json")).objectValue ?? [] { collect(v, into: &out) }
            if !out.isEmpty { return out }
        }
        if has("tokenizer_config.json") {
            let cfg = try readJSON(file("tokenizer_config.json"))
            for key in ["unk_token", "sep_token", "pad_token", "cls_token", "mask_token", "additional_special_tokens"] {
                if let v = cfg[key] { collect(v, into: &out) }
            }
            if !out.isEmpty { return out }
        }
        return ["[UNK]", "[SEP]", "[PAD]", "[CLS]", "[MASK]"]
    }
}

/// A WordPiece vocabulary as `vocab.txt` lists it: line `i` is the token with id `i`.
///
/// Read as HuggingFace's `load_vocab` does (`transformers/models/bert/tokenization_bert.py`: a text-mode
/// `open(…, encoding="utf-8")`, so Python's universal newlines apply): `\n`, `\r\n` and a lone `\r` all end a
/// line; no empty token after a final line break.
public struct Vocabulary: Sendable {
    /// Tokens by id.
    public let tokens: [String]
    /// Token → id (for a duplicated token, the last id, as HF's dict does).
    public let ids: [String: Int]

    public init(tokens: [String]) {
        self.tokens = tokens
        var ids: [String: Int] = [:]
        ids.reserveCapacity(tokens.count)
        for (i, t) in tokens.enumerated() { ids[t] = i }
        self.ids = ids
    }

    /// Reads `vocab.txt`.
    /// - Throws: ``InputError`` `.notText` naming the line of invalid UTF-8, `.missing` for an empty file.
    public init(contentsOf path: String) throws {
        let f = try MappedFile(path: path)
        var tokens: [String] = []
        try withExtendedLifetime(f) {
            let b = f.bytes
            var start = 0, i = 0
            func take(_ end: Int) throws {
                let slice = UnsafeRawBufferPointer(rebasing: b[start..<end])
                guard let s = String(validating: slice, as: UTF8.self) else {
                    throw InputError(.notText, file: path, offset: start, key: "line \(tokens.count + 1)", "not valid UTF-8")
                }
                tokens.append(s)
            }
            while i < b.count {
                if b[i] == 0x0A || b[i] == 0x0D {
                    try take(i)
                    if b[i] == 0x0D && i + 1 < b.count && b[i + 1] == 0x0A { i += 1 }
                    start = i + 1
                }
                i += 1
            }
            if start < b.count { try take(b.count) }
        }
        guard !tokens.isEmpty else { throw InputError(.missing, file: path, "the vocabulary is empty") }
        self.init(tokens: tokens)
    }

    public var count: Int { tokens.count }

    /// The first thing that makes this vocabulary unfit for adaptation, as an error naming `path` and
    /// the line: a byte-order mark, an empty token, or a token listed twice (each would give the adapted
    /// vocabulary a digest that no client produces, or two ids for one digest).
    public func checkForAdaptation(path: String) throws {
        if tokens.first?.unicodeScalars.first == "\u{FEFF}" {
            throw InputError(.invalidStructure, file: path, offset: 0, key: "line 1", "starts with a byte-order mark (U+FEFF), which would become part of the first token")
        }
        var seen: [String: Int] = [:]
        for (i, t) in tokens.enumerated() {
            if t.isEmpty { throw InputError(.invalidStructure, file: path, key: "line \(i + 1)", "empty line: a token cannot be empty") }
            if let first = seen[t] {
                throw InputError(.invalidStructure, file: path, key: "line \(i + 1)", "token repeats line \(first + 1)")
            }
            seen[t] = i
        }
    }
}
