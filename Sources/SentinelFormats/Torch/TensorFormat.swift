import SentinelCore

/// The weights formats Sentinel reads, recognised from a file's first bytes (not its name).
public enum TensorFormat: String, Sendable {
    /// safetensors: u64 LE header length, then a JSON object.
    case safetensors
    /// torch ≥ 1.6 zip checkpoint (`PK\x03\x04`).
    case pytorchZip = "pytorch-zip"
    /// torch legacy checkpoint: a pickle (`\x80`) starting with torch's magic number.
    case pytorchLegacy = "pytorch-legacy"
    /// A sharded checkpoint's `*.index.json` (`weight_map`).
    case shardedIndex = "sharded-index"

    /// Recognises the format of `path`.
    /// - Throws: ``InputError`` `.fileTooSmall` (empty file), `.gitLFSPointer`, `.truncated` (an HTML or
    ///   partial download is reported as `.unknownFormat`), `.unknownFormat`; ``OutputError`` if unreadable.
    public static func detect(path: String) throws -> TensorFormat {
        let f = try MappedFile(path: path)
        return try withExtendedLifetime(f) { try detect(f.bytes, path: path) }
    }

    static func detect(_ b: UnsafeRawBufferPointer, path: String) throws -> TensorFormat {
        if b.count < 8 && path.hasSuffix(".safetensors") { return .safetensors }
        try refuseNonWeights(b, path: path)
        if b.count >= 2 && b[0] == 0x50 && b[1] == 0x4B { return .pytorchZip }
        // safetensors before pickles: a header length such as 0x0280 also starts with byte 0x80.
        if b.count >= 9 && b[8] == UInt8(ascii: "{") && b.loadUnaligned(as: UInt64.self).littleEndian <= UInt64(b.count - 8) {
            return .safetensors
        }
        if b[0] == 0x80 { return .pytorchLegacy }
        var i = 0
        while i < b.count, b[i] == 0x20 || b[i] == 0x0A || b[i] == 0x0D || b[i] == 0x09 { i += 1 }
        if i < b.count, b[i] == UInt8(ascii: "{") { return .shardedIndex }
        if b.count >= 9 && b[8] == UInt8(ascii: "{") { return .safetensors }  // header length past the end: the reader says so
        // A file named *.safetensors that fits nothing else: the safetensors reader gives the precise error.
        if path.hasSuffix(".safetensors") { return .safetensors }
        throw unknown(b, path: path)
    }

    /// Refuses an empty file, a Git LFS pointer and an HTML page with a message that says what they are.
    static func refuseNonWeights(_ b: UnsafeRawBufferPointer, path: String) throws {
        guard b.count > 0 else {
            throw InputError(.fileTooSmall, file: path, offset: 0, "the file is empty (an interrupted download?)")
        }
        let lfs = "version https://git-lfs.github.com/spec/"
        if b.count >= lfs.utf8.count && b.prefix(lfs.utf8.count).elementsEqual(lfs.utf8) {
            throw InputError(
                .gitLFSPointer, file: path, offset: 0,
                "this is a Git LFS pointer file (\(b.count) bytes), not the weights: run `git lfs pull` "
                    + "(or download the file itself) and try again")
        }
        if looksHTML(b) {
            throw InputError(
                .unknownFormat, file: path, offset: 0,
                "this is an HTML page (\(b.count) bytes), not weights: the download fetched a web page (an error, login or "
                    + "redirect page) instead of the file; download the file itself")
        }
    }

    /// What a torch checkpoint reader accepts: refuses empty files, LFS pointers and anything that is
    /// neither a zip nor a pickle.
    static func refuseNonCheckpoint(_ b: UnsafeRawBufferPointer, path: String) throws {
        try refuseNonWeights(b, path: path)
        if b.count >= 2 && b[0] == 0x50 && b[1] == 0x4B { return }
        if b[0] == 0x80 { return }
        throw unknown(b, path: path)
    }

    /// Whether the file begins (after whitespace) like an HTML page: a download that fetched an error or login page.
    static func looksHTML(_ b: UnsafeRawBufferPointer) -> Bool {
        guard
            let first = b.prefix(64).first(where: { $0 != 0x20 && $0 != 0x09 && $0 != 0x0A && $0 != 0x0D && $0 != 0xEF && $0 != 0xBB && $0 != 0xBF }),
            first == UInt8(ascii: "<")
        else { return false }
        let head = String(decoding: b.prefix(256), as: UTF8.self).lowercased().drop { $0.isWhitespace || $0 == "\u{FEFF}" }
        return head.hasPrefix("<!doctype html") || head.hasPrefix("<html") || (head.hasPrefix("<") && head.contains("<html"))
    }

    private static func unknown(_ b: UnsafeRawBufferPointer, path: String) -> InputError {
        let head = b.prefix(16).map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined(separator: " ")
        return InputError(
            .unknownFormat, file: path, offset: 0,
            "not a weights file Sentinel reads: neither a torch zip checkpoint (PK\\x03\\x04), a legacy torch "
                + "checkpoint (a pickle, \\x80), a safetensors file nor a *.index.json; first bytes: \(head)")
    }
}

/// Opens any weights file Sentinel reads, recognised by content: safetensors, a torch zip or legacy
/// checkpoint, or a sharded checkpoint's `*.index.json` (whose shards may be any of these).
///
/// Tensors whose dtype safetensors has no name for (torch complex128) are refused here, since callers
/// of this function convert or compute; ``TorchCheckpoint/describe()`` still shows them.
/// - Throws: ``InputError`` (exit 65) for a bad or unsupported file, ``OutputError`` (exit 74) when unreadable.
public func openTensorArchive(path: String) throws -> TensorArchive {
    let file = try MappedFile(path: path)
    switch try TensorFormat.detect(file.bytes, path: path) {
    case .safetensors:
        return try SafeTensorsFile(file: file)
    case .pytorchZip, .pytorchLegacy:
        let c = try TorchCheckpoint(file: file)
        if let bad = c.unrepresentable.first {
            let t = c.item(named: bad)!.tensor
            throw InputError(
                .unknownDType, file: path, key: bad,
                "tensor '\(bad)' has torch dtype \(t.dtype.rawValue), which safetensors and Sentinel's tensor tools cannot hold")
        }
        return c
    case .shardedIndex:
        return try ShardedArchive(indexPath: path, open: openTensorArchive(path:))
    }
}

/// Checks the CRC-32 of every zip record of a torch checkpoint, or of every torch shard of a sharded one,
/// against its central directory (readers hand stored records out in place without it). safetensors and
/// legacy torch files carry no checksum: 0 records. `inspect --stats` and `verify` call it.
/// - Returns: the number of records checked.
/// - Throws: ``InputError`` `.checksumMismatch` naming the file, the record and its data offset.
@discardableResult
public func checkRecordChecksums(_ archive: TensorArchive) throws -> Int {
    if let torch = archive as? TorchCheckpoint { return try torch.checkRecordCRCs() }
    if let sharded = archive as? ShardedArchive { return try sharded.shards.reduce(0) { try $0 + checkRecordChecksums($1) } }
    return 0
}
