import ArgumentParser
import SentinelCore
import SentinelEncoder
import SentinelScheme
import SentinelTokenizer

/// Input options shared by the commands that run the encoder (`embed`, `predict`).
struct EncoderInputOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Input file, or - for standard input.", valueName: "file"))
    var input = "-"

    @Flag(help: "Lines hold space-separated token digests (encrypted text).")
    var encrypted = false

    @Option(
        help: ArgumentHelp(
            "Input format: text (one input per line), conll, tsv (GLUE), or jsonl (HF-style JSON lines, what `sentinel encrypt --format conll|tsv` writes). Default: jsonl when the first line is a JSON record (tokens, sentence or sentence1), else text.",
            valueName: "format"))
    var format: InputFormatArgument?

    @Option(
        parsing: .unconditional,
        help:
            "Longest row in tokens, special tokens included (default: the model's limit, max_position_embeddings (less pad_token_id + 1 for RoBERTa), at most 512)."
    )
    var maxLength: Int?

    @OptionGroup var unknownTokens: UnknownTokenOptions

    func validate() throws {
        if let maxLength, maxLength < 2 { throw ValidationError("--max-length must be at least 2") }
    }

    /// `--max-length`, or the model's limit (at most 512).
    func lengthLimit(_ config: BertConfig) -> Int {
        min(maxLength ?? min(config.maxSequenceLength, 512), config.maxSequenceLength)
    }

    /// Every input of `file`, encoded for the model (``InputEncoder/records(_:format:tokens:maxLength:)``).
    /// Inputs longer than `limit` are truncated (longest first) and said so on stderr (``warnTruncation(_:of:limit:file:dropped:)``).
    func records(_ encoder: InputEncoder, _ file: TextFile, tokens: Bool, limit: Int) throws -> [InputRecord] {
        let records = try encoder.records(file, format: format?.format, tokens: tokens, maxLength: limit)
        let cut = records.filter { $0.encoding.truncatedPieces > 0 }
        warnTruncation(
            cut.count, of: records.count, limit: limit, file: file.path, dropped: cut.reduce(0) { $0 + $1.encoding.truncatedPieces })
        return records
    }

    /// Plain text through the model's tokenizer, or (with `--encrypted`) digests mapped by the adapted
    /// model's own vocabulary.
    func inputEncoder(_ modelDirectory: String) throws -> InputEncoder {
        try InputEncoder.load(directory: modelDirectory, encrypted: encrypted)
    }
}

/// `--format` of the encoder commands.
enum InputFormatArgument: String, ExpressibleByArgument, CaseIterable {
    case text, conll, tsv, jsonl
    var format: InputFormat { InputFormat(rawValue: rawValue)! }
}

/// The one truncation warning of `embed`, `predict` (inputs cut to `limit` positions, `dropped` pieces lost) and
/// `encrypt` (`dropped` nil: records the model will truncate; the encrypted output keeps every piece), on stderr.
func warnTruncation(_ count: Int, of total: Int, limit: Int, file: String, dropped: Int?) {
    guard count > 0 else { return }
    let what = "\(count) of \(total) inputs of \(file) are longer than \(limit) tokens (special tokens included)"
    if let dropped {
        FileHandleStderr.write("warning: \(what): truncated to \(limit), \(dropped) pieces dropped (--max-length sets the limit)\n")
    } else {
        FileHandleStderr.write("warning: \(what), the model's limit: embed and predict will truncate them (this output keeps every piece)\n")
    }
}
