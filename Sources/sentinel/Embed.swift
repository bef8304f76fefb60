import ArgumentParser
import SentinelCore
import SentinelEncoder
import SentinelTokenizer
import SentinelFormats
import SentinelScheme
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

    @Option(parsing: .unconditional, help: "Rows per forward pass.")
    var batchSize = 32

    @OptionGroup var report: ReportOptions

    func validate() throws {
        if inputOptions.encrypted && ids { throw ValidationError("--encrypted and --ids are mutually exclusive") }
        if batchSize < 1 { throw ValidationError("--batch-size must be at least 1") }
        if report.json && output == "-" { throw ValidationError("--output - writes the safetensors file on stdout; --json cannot share it") }
    }

    func run() throws {
        try reportingErrors(json: report.json) {
            let progress = Progress(forced: report.progress)
            let started = monotonicSeconds()
            if let output {
                try checkOutput(output, inputs: [modelDir] + (input == "-" ? [] : [input]), force: false, marker: nil)
                try refuseExistingOutput(output, force: force)
            }
            let dir = try ModelDirectory(path: modelDir)
            let config = try BertConfig(json: dir.config(), file: dir.file("config.json"))
            progress.step("loading \(dir.weightsPath)")
            let model = try BertModel(archive: openTensorArchive(path: dir.weightsPath), config: config)
            let limit = inputOptions.lengthLimit(config)
            let file = try TextFile.read(input)
            var rows: [EncoderRow] = []
            if ids {
                try file.forEachLine { line in
                    var row = try EncoderRow(idsLine: line.text[...], file: file.path, offset: line.offset)
                    row.truncate(to: limit)
                    rows.append(row)
                }
            } else {
                let encoder = try inputOptions.inputEncoder(modelDir)
                var unknown = UnknownTokenCheck(encoder: encoder, model: modelDir, file: file.path)
                rows = try inputOptions.records(encoder, file, tokens: false, limit: limit).map {
                    unknown.count($0.encoding)
                    return EncoderRow(ids: $0.encoding.inputIDs, types: $0.encoding.tokenTypeIDs)
                }
                try inputOptions.unknownTokens.enforce(unknown)
            }
            guard !rows.isEmpty else {
                throw InputError(.invalidStructure, file: file.path, "no input lines")
            }
            let outputs = try model.run(rows, batchSize: batchSize, source: input == "-" ? "<stdin>" : input) { done, all in
                progress.step("rows \(done + 1)–\(min(done + batchSize, all)) of \(all)")
            }
            if let output {
                try SafeTensorsWriter.write(
                    outputs.archive(), metadata: [("format", "pt"), ("producer", "sentinel embed")], to: output, replace: force)
            }
            let seconds = monotonicSeconds() - started
            if output != OutputFile.standardOutput { printSummary(outputs, json: report.json, output: output, seconds: seconds) }
        }
    }

}

extension Embed {
    func printSummary(_ o: EncoderOutputs, json: Bool, output: String?, seconds: Double) {
        let summaries = o.rowSummaries()
        let (rows, length, hidden, hasPooler) = (o.rows, o.length, o.hidden, o.hasPooler)
        let tokens = summaries.reduce(0) { $0 + $1.tokens }
        if json {
            let rowsJSON: [JSONValue] = summaries.map { s in
                var fields: [(String, JSONValue)] = [("tokens", .int(Int64(s.tokens))), ("mean_norm", .double(Double(s.meanNorm), text: nil))]
                if let p = s.poolerNorm { fields.append(("pooler_norm", .double(Double(p), text: nil))) }
                return .object(fields)
            }
            var fields: [(String, JSONValue)] = [
                ("rows", .int(Int64(rows))), ("sequence_length", .int(Int64(length))),
                ("hidden_size", .int(Int64(hidden))), ("tokens", .int(Int64(tokens))),
            ]
            fields.append(("output", output.map { .string($0) } ?? .null))
            fields.append(("seconds", .double(seconds, text: nil)))
            fields.append(("row_summaries", .array(rowsJSON)))
            Swift.print(JSONValue.object(fields).serialized(.pretty))
        } else {
            Swift.print(
                "\(rows) rows, padded to \(length) tokens, hidden \(hidden): last_hidden_state [\(rows), \(length), \(hidden)]"
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
