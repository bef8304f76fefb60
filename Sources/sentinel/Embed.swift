import ArgumentParser
import SentinelCore
import SentinelEncoder
import SentinelTokenizer
import SentinelTorch
#if canImport(Glibc)
import Glibc
#endif

/// `sentinel embed`: run the encoder on one text per line and print or save its outputs.
struct Embed: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the BERT encoder on one input per line.",
        discussion: """
        Each line is one input; a TAB separates the two sentences of a pair (the second gets token_type 1).

        Plain text is tokenized with the model's tokenizer (WordPiece: [CLS] A [SEP] B [SEP]; byte-level BPE: <s> A </s></s> B </s>), longest-first truncation to --max-length. With --encrypted, a line holds space-separated digests (the output of `sentinel encrypt`), mapped to ids by the adapted model's own vocabulary (an unknown digest becomes [UNK]), with the same template and truncation. With --ids, a line holds space-separated input_ids, used as they are (cut at --max-length).

        Rows run in batches of --batch-size rows of similar length. The outputs keep the input order, padded to the longest row (padded positions hold 0). --output writes a safetensors file atomically (an existing file only with --force): input_ids, attention_mask, token_type_ids (I64, [batch, seq]), last_hidden_state (F32, [batch, seq, hidden]) and pooler_output (F32, [batch, hidden]).
        """
    )

    @Argument(help: "Model directory (config.json, weights in any format Sentinel reads, tokenizer or vocab.txt).")
    var modelDir: String

    @OptionGroup var inputOptions: EncoderInputOptions
    var input: String { inputOptions.input }

    @Flag(help: "Lines hold space-separated input_ids.")
    var ids = false

    @Option(help: ArgumentHelp("Write the outputs to this safetensors file.", valueName: "file.safetensors"))
    var output: String?

    @Flag(help: "Replace an existing --output file.")
    var force = false

    @Option(help: "Rows per forward pass.")
    var batchSize = 32

    @OptionGroup var report: ReportOptions

    func validate() throws {
        if inputOptions.encrypted && ids { throw ValidationError("--encrypted and --ids are mutually exclusive") }
        if batchSize < 1 { throw ValidationError("--batch-size must be at least 1") }
    }

    func run() throws {
        try reportingErrors(json: report.json) {
            let progress = Progress(forced: report.progress)
            let started = monotonicSeconds()
            if let output {
                try checkOutput(output, inputs: [modelDir] + (input == "-" ? [] : [input]), force: false, marker: nil)
                var st = stat()
                if !force && lstat(output, &st) == 0 {
                    throw OutputError(path: output, operation: "create (it exists; use --force to replace it)", errno: EEXIST)
                }
            }
            let dir = try ModelDirectory(path: modelDir)
            let config = try BertConfig(json: dir.config(), file: dir.file("config.json"))
            progress.step("loading \(dir.weightsPath)")
            let model = try BertModel(archive: openTensorArchive(path: dir.weightsPath), config: config)
            let limit = inputOptions.lengthLimit(config)
            let file = try readInput(input)
            var rows: [EmbedRow] = []
            if ids {
                try file.forEachLine { line in
                    var row = try EmbedRow(idsLine: line.text, file: file.path, offset: line.offset)
                    row.truncate(to: limit)
                    rows.append(row)
                }
            } else {
                // Plain text: the model's tokenizer (any family). Encrypted text: the digests are the adapted
                // model's vocabulary, so its own tokenizer (vocab.txt or tokenizer.json) maps them to ids.
                let tokenizer = try loadSubwordTokenizer(directory: modelDir)
                file.forEachLine { line in
                    let fields = line.text.split(separator: "\t", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
                    let e = inputOptions.encode(tokenizer, fields[0], pair: fields.count > 1 ? fields[1] : nil, limit: limit)
                    rows.append(EmbedRow(ids: e.inputIDs, types: e.tokenTypeIDs))
                }
            }
            guard !rows.isEmpty else {
                throw InputError(.invalidStructure, file: file.path, "no input lines")
            }
            let summary = try runEncoder(model, rows, progress: progress)
            if let output {
                try summary.write(to: output)
            }
            let seconds = monotonicSeconds() - started
            summary.print(json: report.json, output: output, seconds: seconds)
        }
    }

    /// Runs the rows in batches of similar length (sorted by length, each batch padded only to its own
    /// longest row) and places the results in input order, padded to the longest row overall. Padded
    /// positions of the output hold zeros.
    /// Largest padded `last_hidden_state` `embed` holds, in bytes.
    static let maxResultBytes = 4 << 30

    func runEncoder(_ model: BertModel, _ rows: [EmbedRow], progress: Progress) throws -> EmbedResult {
        let l = rows.map(\.ids.count).max() ?? 0
        let n = rows.count, h = model.config.hiddenSize
        // The result is held padded to the longest row: refuse sizes that would exhaust memory.
        let (bytes, overflow) = n.multipliedReportingOverflow(by: l * h * 4)
        guard !overflow, bytes <= Self.maxResultBytes else {
            throw InputError(.outOfRange, file: input == "-" ? "<stdin>" : input,
                             "\(n) rows padded to \(l) tokens × \(h) floats would need \(overflow ? "too many" : String(bytes >> 30)) GiB "
                             + "(limit \(Self.maxResultBytes >> 30) GiB): split the input or lower --max-length")
        }
        var result = EmbedResult(rows: n, length: l, hidden: h, hasPooler: model.pooler != nil)
        for (i, row) in rows.enumerated() {
            for j in 0..<row.ids.count {
                result.inputIDs[i * l + j] = row.ids[j]
                result.tokenTypeIDs[i * l + j] = row.types[j]
                result.attentionMask[i * l + j] = 1
            }
        }
        let order = rows.indices.sorted { rows[$0].ids.count < rows[$1].ids.count }
        model.reserveWorkspace(batchSize: min(batchSize, n), sequenceLength: l)
        var first = 0
        while first < n {
            let members = Array(order[first..<min(first + batchSize, n)])
            progress.step("rows \(first + 1)–\(first + members.count) of \(n)")
            let bl = members.map { rows[$0].ids.count }.max() ?? 1
            var ids = [Int32](repeating: 0, count: members.count * bl), mask = ids, types = ids
            for (k, r) in members.enumerated() {
                for j in 0..<rows[r].ids.count {
                    ids[k * bl + j] = rows[r].ids[j]
                    types[k * bl + j] = rows[r].types[j]
                    mask[k * bl + j] = 1
                }
            }
            let out = try model.forward(EncoderBatch(batchSize: members.count, sequenceLength: bl, inputIDs: ids,
                                                     attentionMask: mask, tokenTypeIDs: types))
            for (k, r) in members.enumerated() {
                let valid = rows[r].ids.count * h
                result.lastHiddenState.replaceSubrange((r * l * h)..<(r * l * h + valid),
                                                       with: out.lastHiddenState.values[(k * bl * h)..<(k * bl * h + valid)])
                if let pooled = out.poolerOutput {
                    result.poolerOutput.replaceSubrange((r * h)..<((r + 1) * h), with: pooled.values[(k * h)..<((k + 1) * h)])
                }
            }
            first += members.count
        }
        return result
    }
}

/// One row of model input before padding.
struct EmbedRow {
    var ids: [Int32]
    var types: [Int32]

    init(ids: [Int32], types: [Int32]) {
        self.ids = ids
        self.types = types
    }

    /// `--ids`: space-separated integers; a TAB starts the second segment (token type 1).
    init(idsLine text: String, file: String, offset: Int) throws {
        ids = []
        types = []
        for (segment, part) in text.split(separator: "\t", omittingEmptySubsequences: false).enumerated() {
            guard segment < 2 else {
                throw InputError(.invalidStructure, file: file, offset: offset, "more than one TAB in a line")
            }
            for word in part.split(separator: " ") {
                guard let id = Int32(word), id >= 0 else {
                    throw InputError(.invalidStructure, file: file, offset: offset, "'\(word)' is not a token id")
                }
                ids.append(id)
                types.append(Int32(segment))
            }
        }
        guard !ids.isEmpty else { throw InputError(.invalidStructure, file: file, offset: offset, "empty line") }
    }

    /// Keeps the first `limit` positions (`--ids` rows are used as given, so they are cut, not re-templated).
    mutating func truncate(to limit: Int) {
        ids = Array(ids.prefix(limit))
        types = Array(types.prefix(limit))
    }
}

extension BertTokenizer {
    /// Pieces for a field of space-separated digests (or special tokens, which are never hashed), looked up
    /// in this (adapted) vocabulary; an unknown digest becomes `[UNK]`. Digests are lowercase hex; upper-case
    /// hex is accepted as the same digest.
    func digestPieces(_ field: String) -> Pieces {
        var p = Pieces()
        for (i, token) in field.split(whereSeparator: { $0 == " " || $0 == "\t" }).enumerated() {
            var t = String(token)
            if t.utf8.count == 32, t.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x46) || ($0 >= 0x61 && $0 <= 0x66) }) {
                t = t.lowercased()
            }
            p.ids.append(vocabulary.id(of: t) ?? unknownID)
            p.starts.append(0)
            p.ends.append(0)
            p.words.append(Int32(truncatingIfNeeded: i))
        }
        return p
    }
}

/// Outputs of `embed`, rows in input order, padded to the longest row.
struct EmbedResult {
    let rows: Int, length: Int, hidden: Int, hasPooler: Bool
    var inputIDs: [Int32], attentionMask: [Int32], tokenTypeIDs: [Int32]
    var lastHiddenState: [Float], poolerOutput: [Float]

    init(rows: Int, length: Int, hidden: Int, hasPooler: Bool) {
        self.rows = rows
        self.length = length
        self.hidden = hidden
        self.hasPooler = hasPooler
        inputIDs = Array(repeating: 0, count: rows * length)
        attentionMask = inputIDs
        tokenTypeIDs = inputIDs
        lastHiddenState = Array(repeating: 0, count: rows * length * hidden)
        poolerOutput = Array(repeating: 0, count: hasPooler ? rows * hidden : 0)
    }

    func write(to path: String) throws {
        func int64(_ name: String, _ values: [Int32]) -> SafeTensorsWriter.Item {
            SafeTensorsWriter.Item(entry: TensorEntry(name: name, dtype: .I64, shape: [rows, length])) { sink in
                let wide = values.map { Int64($0).littleEndian }
                try wide.withUnsafeBytes { try sink($0) }
            }
        }
        func float32(_ name: String, _ values: [Float], _ shape: [Int]) -> SafeTensorsWriter.Item {
            SafeTensorsWriter.Item(entry: TensorEntry(name: name, dtype: .F32, shape: shape)) { sink in
                try values.withUnsafeBytes { try sink($0) }
            }
        }
        var items = [int64("input_ids", inputIDs), int64("attention_mask", attentionMask), int64("token_type_ids", tokenTypeIDs),
                     float32("last_hidden_state", lastHiddenState, [rows, length, hidden])]
        if hasPooler { items.append(float32("pooler_output", poolerOutput, [rows, hidden])) }
        try SafeTensorsWriter.write(items, metadata: [("format", "pt"), ("producer", "sentinel embed")], to: path)
    }

    /// Per row: token count, L2 norm of the mean of the valid positions of last_hidden_state (the
    /// sentence-transformers embedding before normalisation) and of pooler_output.
    func rowSummaries() -> [(tokens: Int, meanNorm: Float, poolerNorm: Float?)] {
        (0..<rows).map { r in
            var mean = [Float](repeating: 0, count: hidden)
            var count = 0
            for p in 0..<length where attentionMask[r * length + p] != 0 {
                count += 1
                let base = (r * length + p) * hidden
                for j in 0..<hidden { mean[j] += lastHiddenState[base + j] }
            }
            let meanNorm = (mean.reduce(0) { $0 + $1 * $1 }).squareRoot() / Float(max(count, 1))
            let poolerNorm: Float? = hasPooler
                ? (poolerOutput[(r * hidden)..<((r + 1) * hidden)].reduce(0) { $0 + $1 * $1 }).squareRoot() : nil
            return (count, meanNorm, poolerNorm)
        }
    }

    func print(json: Bool, output: String?, seconds: Double) {
        let summaries = rowSummaries()
        let tokens = summaries.reduce(0) { $0 + $1.tokens }
        if json {
            let rowsJSON: [JSONValue] = summaries.map { s in
                var fields: [(String, JSONValue)] = [("tokens", .int(Int64(s.tokens))), ("mean_norm", .double(Double(s.meanNorm), text: nil))]
                if let p = s.poolerNorm { fields.append(("pooler_norm", .double(Double(p), text: nil))) }
                return .object(fields)
            }
            var fields: [(String, JSONValue)] = [("rows", .int(Int64(rows))), ("sequence_length", .int(Int64(length))),
                                                 ("hidden_size", .int(Int64(hidden))), ("tokens", .int(Int64(tokens)))]
            fields.append(("output", output.map { .string($0) } ?? .null))
            fields.append(("seconds", .double(seconds, text: nil)))
            fields.append(("row_summaries", .array(rowsJSON)))
            Swift.print(JSONValue.object(fields).serialized(.pretty))
        } else {
            Swift.print("\(rows) rows, padded to \(length) tokens, hidden \(hidden): last_hidden_state [\(rows), \(length), \(hidden)]"
                        + (hasPooler ? ", pooler_output [\(rows), \(hidden)]" : ""))
            for (i, s) in summaries.enumerated() {
                var line = "row \(i + 1): \(s.tokens) tokens, |mean of last_hidden_state| \(s.meanNorm)"
                if let p = s.poolerNorm { line += ", |pooler_output| \(p)" }
                Swift.print(line)
            }
            if let output { Swift.print("wrote \(output)") }
            Swift.print("\(tokens) tokens in \(Int(seconds * 1000)) ms")
        }
    }
}

