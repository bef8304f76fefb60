import Foundation
import SentinelCore

extension UnigramTokenizer {
    /// The SentencePiece model files a directory may hold, in the order they are looked for.
    public static let modelFileNames = ["sentencepiece.bpe.model", "spiece.model", "sentencepiece.model"]

    /// Loads the tokenizer of an XLM-R-style model directory as transformers 5's `AutoTokenizer` does:
    /// `tokenizer.json` when present (``load(tokenizerJSON:specialTokens:)``), otherwise
    /// `sentencepiece.bpe.model` converted as `XLMRobertaTokenizer` converts it
    /// (``load(sentencePieceModel:specialTokens:addPrefixSpace:)``). The special-tokens map comes from
    /// `tokenizer_config.json` and `special_tokens_map.json` (XLM-R's names by default), `add_prefix_space`
    /// from `tokenizer_config.json` (default true).
    /// - Throws: ``InputError`` naming the file and key (no tokenizer file, unsupported components, malformed
    ///   JSON or protobuf); ``OutputError`` when the directory or a file cannot be read.
    public static func load(directory: String) throws -> UnigramTokenizer {
        let dir = directory.count > 1 && directory.hasSuffix("/") ? String(directory.dropLast()) : directory
        _ = try directoryEntries(dir)
        var special = xlmrSpecialTokens
        let map = try SpecialTokensMap.read(directory: dir)
        if let v = map["unk_token"] { special.unknown = v }
        if let v = map["cls_token"] { special.classifier = v }
        if let v = map["sep_token"] { special.separator = v }
        if let v = map["pad_token"] { special.padding = v }
        if let v = map["mask_token"] { special.mask = v }
        var addPrefixSpace = true
        let configPath = dir + "/tokenizer_config.json"
        if isRegularFile(configPath), let v = try JSONValue.read(file: configPath)["add_prefix_space"]?.boolValue { addPrefixSpace = v }
        if isRegularFile(dir + "/tokenizer.json") {
            return try load(tokenizerJSON: dir + "/tokenizer.json", specialTokens: special)
        }
        for name in modelFileNames where isRegularFile(dir + "/" + name) {
            return try load(sentencePieceModel: dir + "/" + name, specialTokens: special, addPrefixSpace: addPrefixSpace)
        }
        throw InputError(.missing, file: dir, "neither tokenizer.json nor sentencepiece.bpe.model is in the directory")
    }

    /// Converts a SentencePiece unigram `.model` as transformers 5 (`XLMRobertaTokenizer`,
    /// `SentencePieceExtractor`, `XLMRobertaConverter.convert_from_spm`) does:
    /// * vocabulary `[<s>, <pad>, </s>, <unk>]` (score 0), then pieces 3… with their scores (piece i → id i + 1),
    ///   then `<mask>` (score 0); `unk_id` 3; no byte fallback;
    /// * normalizer `Precompiled` with the model's character map (none when the map is empty);
    /// * pre-tokenizer `WhitespaceSplit` + `Metaspace("▁", prepend_scheme: always|never, split: true)`;
    /// * added tokens, matched on the raw text: the five specials, CONTROL pieces (special) and
    ///   USER_DEFINED pieces (not special) at their ids.
    /// - Parameter addPrefixSpace: `add_prefix_space` of tokenizer_config.json (prepend scheme `always`, else `never`).
    /// - Throws: ``InputError``: `unknown_format` for a model that is not unigram, `invalid_structure` when
    ///   pieces 0–2 are not `<unk>` (UNKNOWN) and two CONTROL pieces (the fairseq layout the XLM-R id offset
    ///   assumes), and the errors of ``SentencePieceModel/init(contentsOf:)`` and ``PrecompiledCharsmap``.
    public static func load(
        sentencePieceModel path: String, specialTokens: BertTokenizer.SpecialTokens = xlmrSpecialTokens,
        addPrefixSpace: Bool = true
    ) throws -> UnigramTokenizer {
        let spm = try SentencePieceModel(contentsOf: path)
        guard spm.modelType == 1 else {
            throw InputError(
                .unknownFormat, file: path, key: "trainer_spec.model_type",
                "model type \(spm.modelType) is not unigram (1); only unigram SentencePiece models are supported")
        }
        guard spm.pieces.count >= 3, spm.pieces[0].type == .unknown, spm.pieces[1].type == .control, spm.pieces[2].type == .control else {
            let types = spm.pieces.prefix(3).map { "\($0.type)" }.joined(separator: ", ")
            throw InputError(
                .invalidStructure, file: path, key: "pieces[0..<3]",
                "the XLM-R id layout needs pieces 0-2 to be <unk> (unknown), <s> and </s> (control); found \(types)")
        }
        let mask = specialTokens.mask ?? "<mask>"
        var pieces = [specialTokens.classifier, specialTokens.padding, specialTokens.separator, specialTokens.unknown]
        var scores = [Double](repeating: 0, count: 4)
        pieces.reserveCapacity(spm.pieces.count + 2)
        scores.reserveCapacity(spm.pieces.count + 2)
        for p in spm.pieces[3...] {
            pieces.append(p.piece)
            scores.append(p.score)
        }
        pieces.append(mask)
        scores.append(0)
        let model = UnigramModel(pieces: pieces, scores: scores, unknownID: 3, byteFallback: false)
        var added = [
            AddedToken(content: pieces[0], id: 0, special: true), AddedToken(content: pieces[1], id: 1, special: true),
            AddedToken(content: pieces[2], id: 2, special: true), AddedToken(content: pieces[3], id: 3, special: true),
        ]
        for (index, p) in spm.pieces.enumerated() where index >= 3 && (p.type == .control || p.type == .userDefined) {
            added.append(AddedToken(content: p.piece, id: Int32(index + 1), special: p.type == .control))
        }
        added.append(AddedToken(content: mask, id: Int32(pieces.count - 1), special: true))
        var normalizers: [NormalizerStep] = []
        if !spm.precompiledCharsmap.isEmpty {
            normalizers.append(
                .precompiled(try PrecompiledCharsmap(spm.precompiledCharsmap, file: path, key: "normalizer_spec.precompiled_charsmap")))
        }
        return try UnigramTokenizer(
            model: model, normalizers: normalizers,
            preTokenization: PreTokenization(whitespaceSplit: true, prependScheme: addPrefixSpace ? .always : .never, split: true),
            addedTokens: added, specialTokens: specialTokens, templateStyle: .roberta, file: path)
    }

    /// Loads a `tokenizer.json` whose model is `Unigram` (`vocab`: a list of `[piece, score]`, `unk_id`,
    /// `byte_fallback`); normalizer null, `Precompiled` (base64 `precompiled_charsmap`), `Replace` (a literal
    /// `String` pattern, or the `Regex` `" {2,}"`) or a `Sequence` of them with `Precompiled` first; pre-tokenizer
    /// `Metaspace` (`replacement`, `prepend_scheme` or the older `add_prefix_space`, `split`), alone or after
    /// `WhitespaceSplit` in a `Sequence`; post-processor `TemplateProcessing` or `RobertaProcessing` giving
    /// `<s> A </s></s> B </s>` (or BERT's `[CLS] A [SEP] B [SEP]`). `added_tokens` with `normalized: false`
    /// (`lstrip`/`rstrip` honoured). Truncation and padding stored in the file are ignored, as transformers does.
    /// - Throws: ``InputError`` naming the file and key: `unknown_format` for another model, normalizer,
    ///   pre-tokenizer or post-processor; `invalid_structure` for a malformed vocabulary (not `[string, finite
    ///   number]` pairs), an `unk_id` outside it, bad base64, or added tokens without content and id;
    ///   `not_json` for malformed JSON.
    public static func load(tokenizerJSON path: String, specialTokens: BertTokenizer.SpecialTokens = xlmrSpecialTokens) throws -> UnigramTokenizer {
        let json = try JSONValue.read(file: path)
        guard let model = json["model"], model["type"]?.stringValue == "Unigram" else {
            throw InputError(
                .unknownFormat, file: path, key: "model.type",
                "model type \(json["model"]?["type"]?.serialized() ?? "null") is not Unigram")
        }
        guard let vocab = model["vocab"]?.arrayValue else {
            throw InputError(
                .invalidStructure, file: path, key: "model.vocab",
                "a Unigram model.vocab must be a list of [piece, score] pairs; found \(model["vocab"].map { kind($0) } ?? "nothing")")
        }
        var pieces: [String] = []
        var scores: [Double] = []
        pieces.reserveCapacity(vocab.count)
        scores.reserveCapacity(vocab.count)
        for (index, entry) in vocab.enumerated() {
            guard let pair = entry.arrayValue, pair.count == 2, let piece = pair[0].stringValue, let score = serdeDouble(pair[1]), score.isFinite
            else {
                throw InputError(
                    .invalidStructure, file: path, key: "model.vocab[\(index)]", "expected [piece, finite score]; found \(entry.serialized())")
            }
            pieces.append(piece)
            scores.append(score)
        }
        guard let unk = model["unk_id"]?.intValue, unk >= 0, unk < pieces.count else {
            throw InputError(
                .invalidStructure, file: path, key: "model.unk_id",
                "unk_id \(model["unk_id"]?.serialized() ?? "null") is not an id of the \(pieces.count)-piece vocabulary")
        }
        let unigram = UnigramModel(pieces: pieces, scores: scores, unknownID: Int32(unk), byteFallback: model["byte_fallback"]?.boolValue ?? false)
        let normalizers = try readNormalizers(json["normalizer"], path: path)
        let preTokenization = try readPreTokenizer(json["pre_tokenizer"], path: path)

        var added: [AddedToken] = []
        var stripping: [Int32: (left: Bool, right: Bool)] = [:]
        for (index, entry) in (json["added_tokens"]?.arrayValue ?? []).enumerated() {
            let key = "added_tokens[\(index)]"
            guard let content = entry["content"]?.stringValue, let id = entry["id"]?.intValue, id >= 0, id <= Int(Int32.max) else {
                throw InputError(.invalidStructure, file: path, key: key, "an added token needs a string content and an id")
            }
            if entry["normalized"]?.boolValue == true || entry["single_word"]?.boolValue == true {
                throw InputError(
                    .unknownFormat, file: path, key: key,
                    "added token \(quoted(content)) uses normalized/single_word matching, which is not supported")
            }
            added.append(AddedToken(content: content, id: Int32(id), special: entry["special"]?.boolValue ?? false))
            let l = entry["lstrip"]?.boolValue ?? false, r = entry["rstrip"]?.boolValue ?? false
            if l || r { stripping[Int32(id)] = (l, r) }
        }
        let (style, start, end) = try readPostProcessor(json["post_processor"], path: path)
        var special = specialTokens
        if let start { special.classifier = start }
        if let end { special.separator = end }
        return try UnigramTokenizer(
            model: unigram, normalizers: normalizers, preTokenization: preTokenization, addedTokens: added,
            specialTokens: special, templateStyle: style, stripping: stripping, file: path)
    }

    /// A JSON number as tokenizers reads it: serde_json without `float_roundtrip` (its default) parses
    /// `digits.digits[e±n]` into a `u64` significand and a decimal exponent and returns
    /// `Double(significand)` multiplied or divided by `10^|exponent|` (a table of `1e0`…`1e308`): two roundings, so
    /// about a quarter of the 17-digit scores Python writes come out one ulp from the correctly rounded value.
    /// The Viterbi ties of a tokenizer.json are broken by those values, so they are reproduced here; a `.model`
    /// file's float32 scores are exact (as transformers' in-process conversion).
    static func serdeDouble(_ value: JSONValue) -> Double? {
        switch value {
        case let .int(i): return Double(i)
        case let .uint(u): return Double(u)
        case let .double(d, text):
            guard let text, let parsed = serdeParse(text) else { return d }
            return parsed
        default: return nil
        }
    }

    private static let pow10: [Double] = (0...308).map { Double("1e\($0)")! }

    /// serde_json's `parse_number` → `f64_from_parts` on the spelling of a number; nil if it is not one.
    static func serdeParse(_ text: String) -> Double? {
        var bytes = Array(text.utf8)[...]
        var negative = false
        if bytes.first == UInt8(ascii: "-") {
            negative = true
            bytes = bytes.dropFirst()
        }
        var significand: UInt64 = 0
        var exponent = 0
        var overflowed = false
        var digits = 0
        while let c = bytes.first, c >= 48, c <= 57 {
            digits += 1
            let (m, o1) = significand.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(UInt64(c - 48))
            if overflowed || o1 || o2 {
                overflowed = true
                exponent += 1
            } else {
                significand = a
            }
            bytes = bytes.dropFirst()
        }
        guard digits > 0 else { return nil }
        if bytes.first == UInt8(ascii: ".") {
            bytes = bytes.dropFirst()
            var fraction = 0
            while let c = bytes.first, c >= 48, c <= 57 {
                fraction += 1
                let (m, o1) = significand.multipliedReportingOverflow(by: 10)
                let (a, o2) = m.addingReportingOverflow(UInt64(c - 48))
                if !(overflowed || o1 || o2) {
                    significand = a
                    exponent -= 1
                } else {
                    overflowed = true
                }
                bytes = bytes.dropFirst()
            }
            guard fraction > 0 else { return nil }
        }
        if let c = bytes.first, c == UInt8(ascii: "e") || c == UInt8(ascii: "E") {
            bytes = bytes.dropFirst()
            var sign = 1
            if bytes.first == UInt8(ascii: "-") {
                sign = -1
                bytes = bytes.dropFirst()
            } else if bytes.first == UInt8(ascii: "+") {
                bytes = bytes.dropFirst()
            }
            var e = 0
            var n = 0
            while let c = bytes.first, c >= 48, c <= 57 {
                e = min(e * 10 + Int(c - 48), 100_000)
                n += 1
                bytes = bytes.dropFirst()
            }
            guard n > 0 else { return nil }
            exponent += sign * e
        }
        guard bytes.isEmpty else { return nil }
        var f = Double(significand)
        while true {
            let k = abs(exponent)
            if k < pow10.count {
                if exponent >= 0 { f *= pow10[k] } else { f /= pow10[k] }
                break
            }
            if f == 0 { break }
            if exponent >= 0 { return nil }  // overflow: serde_json refuses the number
            f /= 1e308
            exponent += 308
        }
        return negative ? -f : f
    }

    private static func kind(_ v: JSONValue) -> String {
        switch v {
        case .object: return "an object"
        case .array: return "a list"
        case .string: return "a string"
        case .null: return "null"
        default: return "a scalar"
        }
    }

    private static func readNormalizers(_ n: JSONValue?, path: String) throws -> [NormalizerStep] {
        guard let n, n != .null else { return [] }
        var list = [n]
        var key = "normalizer"
        if n["type"]?.stringValue == "Sequence" {
            guard let items = n["normalizers"]?.arrayValue else {
                throw InputError(.invalidStructure, file: path, key: "normalizer.normalizers", "a Sequence normalizer needs a list")
            }
            list = items
            key = "normalizer.normalizers"
        }
        var steps: [NormalizerStep] = []
        for (index, item) in list.enumerated() {
            let itemKey = list.count == 1 && key == "normalizer" ? key : "\(key)[\(index)]"
            switch item["type"]?.stringValue {
            case "Precompiled":
                guard index == 0 else {
                    throw InputError(.unknownFormat, file: path, key: itemKey, "a Precompiled normalizer is supported only first in the sequence")
                }
                guard let text = item["precompiled_charsmap"]?.stringValue, let data = Data(base64Encoded: text) else {
                    throw InputError(.invalidStructure, file: path, key: itemKey + ".precompiled_charsmap", "not a base64 string")
                }
                steps.append(.precompiled(try PrecompiledCharsmap(Array(data), file: path, key: itemKey + ".precompiled_charsmap")))
            case "Replace":
                guard let content = item["content"]?.stringValue else {
                    throw InputError(.invalidStructure, file: path, key: itemKey + ".content", "a Replace normalizer needs a string content")
                }
                if let literal = item["pattern"]?["String"]?.stringValue, !literal.isEmpty {
                    steps.append(.replace(pattern: literal, content: content))
                } else if item["pattern"]?["Regex"]?.stringValue == " {2,}" {
                    steps.append(.collapseSpaces(content: content))
                } else {
                    throw InputError(
                        .unknownFormat, file: path, key: itemKey + ".pattern",
                        "Replace pattern \(item["pattern"]?.serialized() ?? "null") is not supported (a non-empty String, or the Regex \" {2,}\")")
                }
            default:
                throw InputError(
                    .unknownFormat, file: path, key: itemKey + ".type",
                    "normalizer \(item["type"]?.serialized() ?? "null") is not supported (Precompiled, Replace)")
            }
        }
        return steps
    }

    private static func readPreTokenizer(_ p: JSONValue?, path: String) throws -> PreTokenization {
        guard let p, p != .null else {
            throw InputError(
                .unknownFormat, file: path, key: "pre_tokenizer", "a Unigram tokenizer without a Metaspace pre-tokenizer is not supported")
        }
        var list = [p]
        var key = "pre_tokenizer"
        if p["type"]?.stringValue == "Sequence" {
            guard let items = p["pretokenizers"]?.arrayValue else {
                throw InputError(.invalidStructure, file: path, key: "pre_tokenizer.pretokenizers", "a Sequence pre-tokenizer needs a list")
            }
            list = items
            key = "pre_tokenizer.pretokenizers"
        }
        let types = list.map { $0["type"]?.stringValue ?? "null" }
        guard types == ["Metaspace"] || types == ["WhitespaceSplit", "Metaspace"] else {
            throw InputError(
                .unknownFormat, file: path, key: key,
                "pre-tokenizers \(types) are not supported (Metaspace, or WhitespaceSplit then Metaspace)")
        }
        let meta = list[list.count - 1]
        let metaKey = list.count == 1 && key == "pre_tokenizer" ? key : "\(key)[\(list.count - 1)]"
        let replacement = meta["replacement"]?.stringValue ?? "\u{2581}"
        guard replacement.unicodeScalars.count == 1 else {
            throw InputError(.invalidStructure, file: path, key: metaKey + ".replacement", "the Metaspace replacement must be one character")
        }
        var scheme = PrependScheme.always
        if let s = meta["prepend_scheme"]?.stringValue {
            guard let v = PrependScheme(rawValue: s) else {
                throw InputError(.invalidStructure, file: path, key: metaKey + ".prepend_scheme", "\(quoted(s)) is not always, first or never")
            }
            scheme = v
        } else if let legacy = meta["add_prefix_space"]?.boolValue {
            scheme = legacy ? .always : .never
        }
        return PreTokenization(
            whitespaceSplit: list.count == 2, replacement: replacement, prependScheme: scheme,
            split: meta["split"]?.boolValue ?? true)
    }

    /// The template style and the start and end tokens of `post_processor`.
    private static func readPostProcessor(_ p: JSONValue?, path: String) throws -> (SpecialTokenTemplate.Style, String?, String?) {
        guard let p, p != .null else {
            throw InputError(.unknownFormat, file: path, key: "post_processor", "a tokenizer without a post-processor is not supported")
        }
        switch p["type"]?.stringValue {
        case "RobertaProcessing":
            return (.roberta, p["cls"]?.arrayValue?.first?.stringValue, p["sep"]?.arrayValue?.first?.stringValue)
        case "TemplateProcessing":
            func parse(_ items: [JSONValue]?) -> [(special: String?, sequence: String?, type: Int)]? {
                items?.map { item in
                    if let s = item["SpecialToken"] { return (s["id"]?.stringValue, nil, s["type_id"]?.intValue ?? 0) }
                    if let s = item["Sequence"] { return (nil, s["id"]?.stringValue, s["type_id"]?.intValue ?? 0) }
                    return (nil, nil, -1)
                }
            }
            if let single = parse(p["single"]?.arrayValue), let pair = parse(p["pair"]?.arrayValue), single.count == 3,
                let start = single[0].special, single[1].sequence == "A", let end = single[2].special
            {
                let shape = pair.map { $0.special.map { $0 == start ? "S" : $0 == end ? "E" : "?" } ?? ($0.sequence ?? "?") + "\($0.type)" }
                if shape == ["S", "A0", "E", "E", "B0", "E"] { return (.roberta, start, end) }
                if shape == ["S", "A0", "E", "B1", "E"] { return (.bert, start, end) }
            }
            throw InputError(
                .unknownFormat, file: path, key: "post_processor",
                "TemplateProcessing is supported as <s> $A </s> / <s> $A </s> </s> $B </s> (or [CLS] $A [SEP] / [CLS] $A [SEP] $B:1 [SEP]:1)")
        default:
            throw InputError(
                .unknownFormat, file: path, key: "post_processor.type",
                "post-processor \(p["type"]?.serialized() ?? "null") is not supported (TemplateProcessing, RobertaProcessing)")
        }
    }
}
