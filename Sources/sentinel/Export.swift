import ArgumentParser
import SentinelScheme
import SentinelCore
import SentinelFormats
#if canImport(Glibc)
    import Glibc
#endif

/// `sentinel export INPUT --output OUTPUT --format safetensors|pytorch [--max-shard-size SIZE] [--json]`:
/// re-encodes weights between formats without changing a value (contract: `../shared/docs/CLI.md`).
struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Re-encode weights between safetensors and PyTorch formats without changing a value.",
        discussion: """
            INPUT is a safetensors file, a torch checkpoint (zip or legacy), or a sharded checkpoint's *.index.json; \
            the format is recognised from the content. The output loads with torch.load(weights_only=True) or \
            safetensors.safe_open. Tied weights stay tied in a pytorch output. With --max-shard-size, OUTPUT is a \
            directory that receives HuggingFace-named shards and an index.
            """)

    @Argument(help: ArgumentHelp("Weights file or *.index.json to read.", valueName: "input"))
    var input: String

    @Option(
        name: .shortAndLong, help: ArgumentHelp("File to write (a directory with --max-shard-size), or - for standard output.", valueName: "output"))
    var output: String

    @Option(help: ArgumentHelp("Output format: safetensors or pytorch.", valueName: "format"))
    var format: String

    @Option(
        name: .customLong("max-shard-size"),
        help: ArgumentHelp("Split the output into shards of at most this size (e.g. 5GB, 500MB, 2GiB, or bytes).", valueName: "size"))
    var maxShardSize: String?

    @Flag(help: "Replace OUTPUT if it exists.")
    var force = false

    @OptionGroup var report: ReportOptions

    func validate() throws {
        guard WeightsFormat(rawValue: format) != nil else {
            throw ValidationError("--format must be safetensors or pytorch, not '\(format)'")
        }
        if output == OutputFile.standardOutput && (maxShardSize != nil || report.json) {
            throw ValidationError("--output - writes the weights on stdout: it takes neither --max-shard-size nor --json")
        }
        if let maxShardSize, parseByteSize(maxShardSize) == nil {
            throw ValidationError("--max-shard-size '\(maxShardSize)' is not a size (examples: 5GB, 500MB, 2GiB, 1000000)")
        }
    }

    func run() throws {
        try reportingErrors(json: report.json) {
            let progress = Progress(forced: report.progress)
            let start = monotonicSeconds()
            let format = WeightsFormat(rawValue: format)!
            // A sharded input's shards sit beside its index: the output may not be that directory either.
            let inputs = input.hasSuffix(".index.json") ? [input, splitDirectory(input)] : [input]
            try checkOutput(output, inputs: inputs, force: force, marker: maxShardSize == nil ? nil : "")
            try refuseExistingOutput(output, force: force)
            progress.step("reading \(input)")
            let archive = try openTensorArchive(path: input)
            // Every byte is read once, in order: ask the kernel to read ahead.
            (archive as? SafeTensorsFile)?.file.adviseSequential()
            (archive as? TorchCheckpoint)?.file.adviseSequential()
            let items = archive.entries.map { SafeTensorsWriter.Item.copy($0, from: archive) }
            let ties = (archive as? TorchCheckpoint)?.ties ?? [:]
            // A safetensors input keeps its own __metadata__; anything else gets {"format": "pt"}.
            let metadata = (archive as? SafeTensorsFile).map { $0.metadata } ?? [("format", "pt")]
            var files: [String]
            if let maxShardSize {
                // The shard directory is built aside and renamed into place: no stale shards, nothing half-written.
                let directory = try AtomicDirectory(path: output, replace: force)
                progress.step("writing \(format.rawValue) shards to \(output)")
                files = try ShardedWriter.write(
                    items, ties: ties, format: format, metadata: metadata, maxShardBytes: parseByteSize(maxShardSize)!,
                    directory: directory.temporaryPath
                ).map { output + "/" + $0 }
                try directory.commit()
            } else {
                progress.step("writing \(output)")
                try format.write(items, ties: ties, metadata: metadata, to: output, replace: force)
                files = [output]
            }
            let bytes = archive.entries.reduce(0) { $0 + $1.byteCount }
            let seconds = monotonicSeconds() - start
            if report.json {
                print(
                    JSONValue.object([
                        ("input", .string(input)), ("input_format", .string(archive.formatName)),
                        ("output", .string(output)), ("format", .string(format.rawValue)),
                        ("tensors", .int(Int64(items.count))), ("tied", .int(Int64(ties.count))),
                        ("tensor_bytes", .int(Int64(bytes))), ("files", .array(files.map { .string($0) })),
                        ("seconds", .double(seconds, text: nil)),
                    ]).serialized(.pretty))
            } else if output == OutputFile.standardOutput {
                FileHandleStderr.write("exported \(items.count) tensors (\(bytes) bytes) to standard output\n")
            } else {
                print(
                    "exported \(items.count) tensors (\(bytes) bytes) from \(archive.formatName) \(input) to \(format.rawValue): "
                        + files.joined(separator: ", "))
                if !ties.isEmpty { print("tied weights kept: " + ties.map { "\($0.key) = \($0.value)" }.sorted().joined(separator: ", ")) }
            }
        }
    }
}
