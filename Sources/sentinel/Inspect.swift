import ArgumentParser
import SentinelScheme
import SentinelCore
import SentinelTokenizer
import SentinelFormats
#if canImport(Glibc)
    import Glibc
#endif

/// `sentinel inspect`: list the tensors of a weights file or model directory (CLI.md).
struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the tensors of a weights file or a model directory.",
        discussion: """
            For each tensor: name, dtype, shape, byte offset and length. Only the header is read unless --stats is given. \
            For a directory also a config summary, a tokenizer summary, sentinel.json and the files Sentinel does not read.
            """
    )

    @Argument(help: "A weights file (model.safetensors) or a model directory.")
    var path: String

    @Option(help: "Show only this tensor.")
    var tensor: String?

    @Flag(help: "Compute min, max, mean, std and NaN/Inf counts of floating-point tensors (reads the data).")
    var stats = false

    @OptionGroup var report: ReportOptions

    func run() throws {
        try reportingErrors(json: report.json) {
            var doc: [(String, JSONValue)] = []
            var weightsPath = path
            var dir: ModelDirectory? = nil
            if isDirectory(path) {
                let d = try ModelDirectory(path: path)
                dir = d
                weightsPath = d.weightsPath
            }
            let format = try TensorFormat.detect(path: weightsPath)
            if format == .pytorchZip || format == .pytorchLegacy, tensor == nil, !stats {
                // Torch files: storage keys, offsets, strides, shared storages and non-tensor entries.
                let torch = try TorchCheckpoint(path: weightsPath)
                if report.json {
                    var desc = torch.describe().objectValue ?? []
                    if let dir { desc += try directorySummary(dir) }
                    print(JSONValue.object(desc).serialized(.pretty))
                } else {
                    print(torch.describeText())
                    if let dir { printText(JSONValue.object(try directorySummary(dir)), tensorsOnly: false) }
                }
                return
            }
            let archive = try openTensorArchive(path: weightsPath)
            // --stats reads every byte anyway: check the zip records' CRC-32 too.
            if stats { try checkRecordChecksums(archive) }
            var entries = archive.entries
            if let tensor {
                guard let e = archive.entry(named: tensor) else {
                    throw InputError(.missing, file: archive.path, key: tensor, "no tensor of that name")
                }
                entries = [e]
            }
            doc.append(("path", .string(path)))
            doc.append(("format", .string(archive.formatName)))
            let st = archive as? SafeTensorsFile
            if let st {
                doc.append(("header_length", .int(Int64(st.headerLength))))
                doc.append(("metadata", .object((st.metadata ?? []).map { ($0.0, .string($0.1)) })))
            }
            if let sharded = archive as? ShardedArchive {
                doc.append(
                    (
                        "shards",
                        .array(
                            zip(sharded.shardNames, sharded.shards).map { name, shard in
                                .object([
                                    ("file", .string(name)), ("format", .string(shard.formatName)),
                                    ("tensor_count", .int(Int64(shard.entries.count))),
                                ])
                            })
                    ))
            }
            var rows: [JSONValue] = []
            for e in entries {
                var t: [(String, JSONValue)] = [
                    ("name", .string(e.name)), ("dtype", .string(e.dtype.rawValue)),
                    ("shape", .array(e.shape.map { .int(Int64($0)) })),
                ]
                if let st, let info = st.tensor(named: e.name) {
                    t.append(("byte_offset", .int(Int64(st.dataStart + info.dataOffsets.lowerBound))))
                    t.append(("byte_length", .int(Int64(info.dataOffsets.count))))
                } else {
                    t.append(("byte_length", .int(Int64(e.byteCount))))
                }
                if stats, e.dtype.isFloatingPoint {
                    if let s = try archive.withBytes(of: e.name, { TensorStatistics(bytes: $0, dtype: e.dtype) }) {
                        func num(_ x: Double?) -> JSONValue { x.map { .double($0, text: nil) } ?? .null }
                        t.append(
                            (
                                "stats",
                                .object([
                                    ("min", num(s.min)), ("max", num(s.max)), ("mean", num(s.mean)), ("std", num(s.std)),
                                    ("nan", .int(Int64(s.nanCount))), ("inf", .int(Int64(s.infCount))),
                                ])
                            ))
                    }
                }
                rows.append(.object(t))
            }
            doc.append(("tensor_count", .int(Int64(archive.entries.count))))
            doc.append(("tensors", .array(rows)))
            if let dir { doc += try directorySummary(dir) }
            let json = JSONValue.object(doc)
            if report.json {
                print(json.serialized(.pretty))
            } else {
                printText(json)
            }
        }
    }

    private func directorySummary(_ dir: ModelDirectory) throws -> [(String, JSONValue)] {
        var out: [(String, JSONValue)] = []
        if dir.has("config.json") {
            let c = try dir.config()
            let keys = [
                "model_type", "architectures", "hidden_size", "num_hidden_layers", "num_attention_heads",
                "intermediate_size", "hidden_act", "vocab_size", "max_position_embeddings", "type_vocab_size", "layer_norm_eps",
            ]
            out.append(("config", .object(keys.compactMap { k in c[k].map { (k, $0) } })))
        }
        var tok: [(String, JSONValue)] = []
        // vocab.txt (WordPiece) or vocab.json (byte-level BPE); transformers 5 writes only tokenizer.json (one that is
        // neither WordPiece nor BPE is summarised without a size).
        if dir.has("vocab.txt") || dir.has("vocab.json") {
            let source = try SourceVocabulary(directory: dir)
            tok.append(("vocab_size", .int(Int64(source.vocabulary.count))))
            tok.append(("vocabulary", .string(source.family.rawValue)))
        } else if dir.has("tokenizer.json"), let source = try? SourceVocabulary(directory: dir) {
            tok.append(("vocab_size", .int(Int64(source.vocabulary.count))))
            tok.append(("vocabulary", .string(source.family.rawValue)))
        }
        tok.append(("special_tokens", .array(try SpecialTokensMap.read(directory: dir.path).all.map { .string($0) })))
        tok.append(
            (
                "files",
                .array(
                    ["vocab.txt", "vocab.json", "merges.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"].filter(dir.has)
                        .map { .string($0) })
            ))
        out.append(("tokenizer", .object(tok)))
        if dir.has("sentinel.json") { out.append(("sentinel", try JSONValue.read(file: dir.file("sentinel.json")))) }
        out.append(("weights_file", .string(dir.weightsFileName)))
        out.append(("unknown_files", .array(dir.unknownFileNames.map { .string($0) })))
        return out
    }

    private func printText(_ doc: JSONValue, tensorsOnly: Bool = true) {
        if tensorsOnly { print("\(path): \(doc["format"]?.stringValue ?? "?"), \(doc["tensor_count"]?.intValue ?? 0) tensors") }
        for shard in doc["shards"]?.arrayValue ?? [] {
            print(
                "shard \(shard["file"]?.stringValue ?? ""): \(shard["format"]?.stringValue ?? "?"), \(shard["tensor_count"]?.intValue ?? 0) tensors")
        }
        if let meta = doc["metadata"]?.objectValue, !meta.isEmpty {
            print("metadata: " + meta.map { "\($0.0)=\($0.1.stringValue ?? "")" }.joined(separator: ", "))
        }
        for t in doc["tensors"]?.arrayValue ?? [] {
            let shape = "[" + (t["shape"]?.arrayValue ?? []).map { "\($0.intValue ?? 0)" }.joined(separator: ", ") + "]"
            var line = "\(t["name"]?.stringValue ?? "")  \(t["dtype"]?.stringValue ?? "")  \(shape)"
            if let o = t["byte_offset"]?.intValue { line += "  offset \(o)" }
            line += "  \(t["byte_length"]?.intValue ?? 0) bytes"
            if let s = t["stats"] {
                func f(_ k: String) -> String { s[k]?.doubleValue.map { fixed($0, 6) } ?? "-" }
                line +=
                    "  min \(f("min")) max \(f("max")) mean \(f("mean")) std \(f("std")) nan \(s["nan"]?.intValue ?? 0) inf \(s["inf"]?.intValue ?? 0)"
            }
            print(line)
        }
        for key in ["config", "tokenizer", "sentinel"] {
            if let v = doc[key] { print("\(key): \(v.serialized(.compact))") }
        }
        if let u = doc["unknown_files"]?.arrayValue, !u.isEmpty {
            print("not read by sentinel: " + u.compactMap(\.stringValue).joined(separator: ", "))
        }
    }
}

/// Whether `path` names a directory.
func isDirectory(_ path: String) -> Bool {
    var st = stat()
    return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
}
