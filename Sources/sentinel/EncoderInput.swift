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
            "Input format: text (one input per line), conll, tsv (GLUE), or jsonl (HF-style JSON lines, what `sentinel encrypt --format conll|tsv` writes). Default: jsonl when the file starts with '{', else text.",
            valueName: "format"))
    var format: InputFormatArgument?

    @Option(
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
    func records(_ encoder: InputEncoder, _ file: TextFile, tokens: Bool, limit: Int) throws -> [InputRecord] {
        try encoder.records(file, format: format?.format, tokens: tokens, maxLength: limit)
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
