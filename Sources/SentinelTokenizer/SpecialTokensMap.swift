import SentinelCore

/// The special tokens of a model directory, read once for every command (tokenizers, the converter,
/// the encryptor, verify, inspect).
///
/// Sources, as transformers reads them: `tokenizer_config.json`'s `*_token` keys, overridden by
/// `special_tokens_map.json`; values are strings or `{"content": …}` objects.
public struct SpecialTokensMap: Sendable, Equatable {
    /// Role → token, for the roles `unk_token`, `cls_token`, `sep_token`, `pad_token`, `mask_token`,
    /// `bos_token`, `eos_token`, in the order first seen.
    public private(set) var roles: [(String, String)] = []
    /// Every special token in the order the files list it (members of `additional_special_tokens`
    /// included): `special_tokens_map.json`'s values when it has any, else `tokenizer_config.json`'s
    /// `*_token` keys, else the tokenizer family's defaults (``robertaDefaults``, or BERT's five `[UNK] [SEP] [PAD] [CLS] [MASK]`). These are the tokens the
    /// encryption scheme never hashes and never moves (SCHEME.md, step 2).
    public private(set) var all: [String] = []

    /// The special tokens of RoBERTa and XLM-R when the files name none (transformers' `all_special_tokens` of
    /// `RobertaTokenizer`/`XLMRobertaTokenizer` with their default arguments).
    public static let robertaDefaults = ["<s>", "</s>", "<unk>", "<pad>", "<mask>"]

    public static let roleKeys = ["unk_token", "sep_token", "pad_token", "cls_token", "mask_token", "bos_token", "eos_token"]

    public init(roles: [(String, String)], all: [String]) {
        self.roles = roles
        self.all = all
    }

    public static func == (a: SpecialTokensMap, b: SpecialTokensMap) -> Bool {
        a.all == b.all && a.roles.map(\.0) == b.roles.map(\.0) && a.roles.map(\.1) == b.roles.map(\.1)
    }

    /// The token of a role key (`"unk_token"`), if the files name one.
    public subscript(role: String) -> String? { roles.first { $0.0 == role }?.1 }

    /// Reads the special tokens of `directory` (weights not needed).
    /// - Throws: ``InputError`` `.notJSON` for a malformed file; ``OutputError`` for I/O.
    public static func read(directory: String) throws -> SpecialTokensMap {
        func file(_ name: String) -> String? {
            isRegularFile(directory + "/" + name) ? directory + "/" + name : nil
        }
        let config = try file("tokenizer_config.json").map { try JSONValue.read(file: $0) }
        let map = try file("special_tokens_map.json").map { try JSONValue.read(file: $0) }
        var result = SpecialTokensMap()
        for source in [config, map] {
            guard let source else { continue }
            for key in roleKeys {
                guard let token = source[key].flatMap(content) else { continue }
                if let i = result.roles.firstIndex(where: { $0.0 == key }) { result.roles[i].1 = token } else { result.roles.append((key, token)) }
            }
        }
        if let map, let members = map.objectValue, !members.isEmpty {
            for (_, v) in members { collect(v, into: &result.all) }
        }
        if result.all.isEmpty, let config {
            for key in ["unk_token", "sep_token", "pad_token", "cls_token", "mask_token", "additional_special_tokens"] {
                if let v = config[key] { collect(v, into: &result.all) }
            }
        }
        if result.all.isEmpty {
            // Nothing named: the defaults of the tokenizer class (RoBERTa's and XLM-R's `<s> </s> <unk> <pad> <mask>` for a
            // byte-level `vocab.json`, a SentencePiece `.model` or a *Roberta* tokenizer_class), else BERT's.
            let robertaStyle =
                (config?["tokenizer_class"]?.stringValue?.contains("Roberta") ?? false) || isRegularFile(directory + "/vocab.json")
                || UnigramTokenizer.modelFileNames.contains { isRegularFile(directory + "/" + $0) }
            result.all = robertaStyle ? robertaDefaults : ["[UNK]", "[SEP]", "[PAD]", "[CLS]", "[MASK]"]
        }
        return result
    }

    private init() {}

    private static func content(_ v: JSONValue) -> String? { v.stringValue ?? v["content"]?.stringValue }

    private static func collect(_ v: JSONValue, into out: inout [String]) {
        switch v {
        case let .string(s): if !out.contains(s) { out.append(s) }
        case .object: if let c = content(v), !out.contains(c) { out.append(c) }
        case let .array(a): for x in a { collect(x, into: &out) }
        default: break
        }
    }
}

extension BertTokenizer.SpecialTokens {
    /// The BERT roles of a directory's special-tokens map (defaults for roles it does not name).
    public init(_ map: SpecialTokensMap) {
        self.init()
        if let v = map["unk_token"] { unknown = v }
        if let v = map["cls_token"] { classifier = v }
        if let v = map["sep_token"] { separator = v }
        if let v = map["pad_token"] { padding = v }
        if let v = map["mask_token"] { mask = v }
    }
}
