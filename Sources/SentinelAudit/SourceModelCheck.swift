import SentinelCore
import SentinelFormats

/// Whether `--original` (of `verify`, `audit`) is the model an adapted directory was converted from.
///
/// `convert` records the sha256 and size of every source file it read in `sentinel.json` (`source.files`). Each
/// recorded file that the original directory also holds is hashed again and must match. When none can be compared
/// (no `sentinel.json`, or an original re-saved under other file names), `config.json`'s shape fields
/// (`model_type`, `vocab_size`, `hidden_size`, `num_hidden_layers`, `num_attention_heads`, `intermediate_size`)
/// must agree instead.
public enum SourceModelCheck {
    /// The config fields compared when no recorded digest applies.
    public static let configFields = [
        "model_type", "vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
    ]

    /// The `source` check: passed when every comparable recorded digest (or, failing those, every shape field) matches.
    /// - Throws: ``InputError`` for an unreadable `sentinel.json` or `config.json`; ``OutputError`` when a file cannot be read.
    public static func check(adapted: ModelDirectory, original: ModelDirectory) throws -> VerificationCheck {
        var recorded: [(name: String, sha256: String, bytes: Int?)] = []
        if adapted.has("sentinel.json") {
            let manifest = try JSONValue.read(file: adapted.file("sentinel.json"))
            for (name, value) in manifest["source"]?["files"]?.objectValue ?? [] {
                if let sha = value["sha256"]?.stringValue { recorded.append((name, sha, value["bytes"]?.intValue)) }
            }
        }
        let comparable = recorded.filter { original.has($0.name) }
        if !comparable.isEmpty {
            var differing: [String] = []
            for f in comparable {
                let (sha, size) = try SHA256Stream.hex(file: original.file(f.name))
                if sha != f.sha256 || (f.bytes.map { $0 != size } ?? false) { differing.append(f.name) }
            }
            let ok = differing.isEmpty
            return VerificationCheck(
                name: "source", passed: ok,
                detail: ok
                    ? "the \(comparable.count) source files recorded in sentinel.json match \(original.path)"
                    : "\(original.path) is not the model this was adapted from: \(differing.joined(separator: ", ")) "
                        + "differ from the sha256 recorded in sentinel.json",
                values: [
                    ("compared", .array(comparable.map { .string($0.name) })), ("differing", .array(differing.map { .string($0) })),
                    ("by", .string("sha256")),
                ])
        }
        let a = try adapted.config(), o = try original.config()
        let differing = configFields.filter { a[$0] != o[$0] }
        let ok = differing.isEmpty
        return VerificationCheck(
            name: "source", passed: ok,
            detail: ok
                ? "no recorded source digest applies; config.json agrees on \(configFields.joined(separator: ", "))"
                : "\(original.path) is not the model this was adapted from: config.json differs in "
                    + differing.map { "\($0) (\(o[$0]?.serialized() ?? "absent") vs \(a[$0]?.serialized() ?? "absent"))" }.joined(separator: ", "),
            values: [("differing", .array(differing.map { .string($0) })), ("by", .string("config"))])
    }
}
