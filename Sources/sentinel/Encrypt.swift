import ArgumentParser
import SentinelAdapt
import SentinelCore
import SentinelTokenizer
#if canImport(Glibc)
import Glibc
#endif

/// `sentinel encrypt`: the client side of the scheme. Tokenizes with the ORIGINAL model's tokenizer and
/// replaces every wordpiece by its keyed BLAKE2b digest (special tokens and `[UNK]` stay as they are).
struct Encrypt: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Encrypt text or a dataset for an adapted model: wordpieces (or byte-level BPE pieces) → keyed BLAKE2b digests.",
        discussion: """
        --format text: one text per line in; one line of space-separated digests
        out (no [CLS]/[SEP]). A TAB between the two texts of a pair is kept.
        An empty input gives an empty output.

        --format conll: a word-per-line NER file in (CoNLL-2003's 4 columns, or
        word<TAB>tag; sentences end at blank or whitespace-only lines;
        -DOCSTART- lines are skipped). JSON lines out, one per sentence:
        {"tokens": [...], "word_ids": [...], "labels": [...]}, one word id per
        token and one label per word; word i's label belongs to its first token.
        A file without any sentence is an error.

        --format tsv: a GLUE TSV with header in (SST-2, RTE, MRPC). TSV out with
        header sentence,label or sentence1,sentence2,label, each text replaced
        by its space-separated digests. An empty file (no header) is an error.

        Special tokens and [UNK] are written as themselves. The passkey comes
        from SENTINEL_KEY or --key-file and is never printed.
        """)

    enum Format: String, ExpressibleByArgument, CaseIterable { case text, conll, tsv }

    @Argument(help: "The ORIGINAL HuggingFace model directory (its tokenizer is used).")
    var modelDirectory: String

    @Option(help: "Input file, or - for standard input.")
    var input = "-"

    @Option(help: "Input format: text, conll or tsv.")
    var format: Format = .text

    @Option(help: "Output file (written atomically), or - for standard output.")
    var output = "-"

    @Flag(help: "Replace an existing --output file.")
    var force = false

    @OptionGroup var key: KeyOptions
    @OptionGroup var report: ReportOptions

    func validate() throws {
        if report.json && output == "-" {
            throw ValidationError("--json prints a summary on stdout; give the encrypted data a file with --output")
        }
    }

    func run() throws {
        try reportingErrors(json: report.json) {
            let progress = Progress(forced: report.progress)
            if output != "-" {
                try checkOutput(output, inputs: [modelDirectory] + (input == "-" ? [] : [input]), force: false, marker: nil)
                var st = stat()
                if !force && lstat(output, &st) == 0 {
                    throw OutputError(path: output, operation: "create (it exists; use --force to replace it)", errno: EEXIST)
                }
            }
            let passkey = try key.passkey()
            let clock = ContinuousClock()
            let start = clock.now
            let encryptor: Encryptor
            do {
                encryptor = try Encryptor(modelDirectory: modelDirectory, key: passkey)
            } catch let e as TokenHasher.Error {
                throw ValidationError(e.description)
            }
            progress.step("tokenizer loaded, vocabulary hashed (\(encryptor.tokenizer.vocabularySize) entries)")
            // An empty text input is zero texts (empty output); CoNLL and TSV readers refuse an empty file
            // (no sentence / no header), which is most likely the wrong file.
            let file = try readInput(input, allowEmpty: format == .text)
            var out: [UInt8] = []
            out.reserveCapacity(file.bytes.count * 4)
            var records = 0, tokens = 0, unknown = 0
            let unk = encryptor.tokenizer.unknownID
            var pieces = Pieces()
            var scratch: AnyObject?

            func appendTokens(_ ids: [Int32]) {
                for (i, id) in ids.enumerated() {
                    if i > 0 { out.append(0x20) }
                    encryptor.appendEncryptedToken(id: id, to: &out)
                    if id == unk { unknown += 1 }
                }
                tokens += ids.count
            }

            switch format {
            case .text:
                file.forEachLine { line in
                    // TAB-separated fields (the two texts of a pair) are encrypted one by one and stay TAB-separated.
                    for (i, field) in line.bytes.split(separator: 0x09, omittingEmptySubsequences: false).enumerated() {
                        if i > 0 { out.append(0x09) }
                        pieces.removeAll()
                        encryptor.tokenizer.append(UnsafeRawBufferPointer(rebasing: field), word: nil, to: &pieces, scratch: &scratch)
                        appendTokens(pieces.ids)
                    }
                    out.append(0x0A)
                    records += 1
                }
            case .conll:
                for sentence in try NERCorpus.read(file) {
                    pieces.removeAll()
                    encryptor.tokenizer.appendLabelPieces(ofWords: sentence.words, to: &pieces, scratch: &scratch)
                    out.append(contentsOf: #"{"tokens": ["#.utf8)
                    for (i, id) in pieces.ids.enumerated() {
                        if i > 0 { out.append(contentsOf: ", ".utf8) }
                        out.append(contentsOf: JSONValue.string(encryptor.encryptedToken(id: id)).serialized().utf8)
                        if id == unk { unknown += 1 }
                    }
                    tokens += pieces.count
                    out.append(contentsOf: #"], "word_ids": ["#.utf8)
                    out.append(contentsOf: pieces.words.map { String($0) }.joined(separator: ", ").utf8)
                    out.append(contentsOf: #"], "labels": "#.utf8)
                    out.append(contentsOf: JSONValue.array(sentence.labels.map { .string($0) }).serialized().utf8)
                    out.append(contentsOf: "}\n".utf8)
                    records += 1
                }
            case .tsv:
                let rows = try GLUETSV.read(file)
                let pairs = rows.first?.pair != nil
                out.append(contentsOf: (pairs ? "sentence1\tsentence2\tlabel\n" : "sentence\tlabel\n").utf8)
                for row in rows {
                    for text in [row.text] + (row.pair.map { [$0] } ?? []) {
                        pieces.removeAll()
                        encryptor.tokenizer.append(text, to: &pieces, scratch: &scratch)
                        appendTokens(pieces.ids)
                        out.append(0x09)
                    }
                    out.append(contentsOf: row.label.utf8)
                    out.append(0x0A)
                    records += 1
                }
            }
            try writeOutput(out, to: output)
            let seconds = Double((clock.now - start).components.attoseconds) / 1e18 + Double((clock.now - start).components.seconds)
            if report.json {
                print(JSONValue.object([
                    ("input", .string(input)), ("format", .string(format.rawValue)), ("output", .string(output)),
                    ("records", .int(Int64(records))), ("tokens", .int(Int64(tokens))),
                    ("unknown_tokens", .int(Int64(unknown))), ("seconds", .double(seconds, text: nil)),
                ]).serialized(.pretty))
            } else if output != "-" {
                print("\(records) records, \(tokens) tokens (\(unknown) [UNK]) → \(output)")
            }
        }
    }
}

/// Reads `path` (or all of standard input for `-`) as validated UTF-8 text.
/// - Parameter allowEmpty: when false, an empty input is an ``InputError`` (`file_too_small`).
func readInput(_ path: String, allowEmpty: Bool = false) throws -> TextFile {
    var st = stat()
    // Regular files are memory-mapped; "-", pipes and FIFOs (`<(…)`, /dev/stdin) are read as streams.
    if path != "-" && (stat(path, &st) != 0 || (st.st_mode & S_IFMT) == S_IFREG || (st.st_mode & S_IFMT) == S_IFDIR) {
        return try TextFile(path: path, allowEmpty: allowEmpty)
    }
    let fd = path == "-" ? 0 : open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw OutputError(path: path, operation: "open", errno: errno) }
    defer { if fd != 0 { close(fd) } }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 1 << 16)
    while true {
        let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n < 0 {
            if errno == EINTR { continue }
            throw OutputError(path: path == "-" ? "<stdin>" : path, operation: "read", errno: errno)
        }
        if n == 0 { break }
        bytes.append(contentsOf: chunk[0..<n])
    }
    return try TextFile(name: path == "-" ? "<stdin>" : path, bytes: bytes, allowEmpty: allowEmpty)
}

/// Writes `bytes` to `path` atomically, or to standard output for `-`.
func writeOutput(_ bytes: [UInt8], to path: String) throws {
    if path == "-" {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { write(1, $0.baseAddress! + offset, $0.count - offset) }
            if n < 0 {
                if errno == EINTR { continue }
                throw OutputError(path: "<stdout>", operation: "write", errno: errno)
            }
            offset += n
        }
        return
    }
    try AtomicFile.write(to: path) { writer in
        try bytes.withUnsafeBytes { try writer.write($0) }
    }
}
