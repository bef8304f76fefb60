/// Errors raised while reading, validating or writing Sentinel's inputs and outputs.
///
/// Every bad input is reported with the file, and where it applies the tensor or key and the byte
/// offset, so that a user can find the problem with a hex dump. The CLI maps these errors to
/// sysexits codes: ``InputError`` → 65 (`EX_DATAERR`), ``OutputError`` → 74 (`EX_IOERR`).

/// A bad, unsafe or unsupported input file. CLI exit code 65.
public struct InputError: Error, CustomStringConvertible, Equatable, Sendable {
    /// What is wrong, as a stable machine-readable code (used in `--json` output and tests).
    public struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        public var rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        /// The file is shorter than the fixed-size prefix of its format.
        public static let fileTooSmall = Code(rawValue: "file_too_small")
        /// The declared header length is over the cap of the format.
        public static let headerTooLarge = Code(rawValue: "header_too_large")
        /// The declared header length reaches past the end of the file.
        public static let headerOutOfBounds = Code(rawValue: "header_out_of_bounds")
        /// The header bytes are not valid UTF-8.
        public static let headerNotUTF8 = Code(rawValue: "header_not_utf8")
        /// The text is not valid JSON.
        public static let notJSON = Code(rawValue: "not_json")
        /// The JSON is well formed but its structure is not what the format requires.
        public static let invalidStructure = Code(rawValue: "invalid_structure")
        /// A dtype name the format does not define.
        public static let unknownDType = Code(rawValue: "unknown_dtype")
        /// Tensor offsets leave a gap, overlap, or do not start at zero.
        public static let invalidOffsets = Code(rawValue: "invalid_offsets")
        /// Byte length differs from element count × dtype size.
        public static let sizeMismatch = Code(rawValue: "size_mismatch")
        /// The data section is not covered exactly (trailing bytes or data past the end of the file).
        public static let dataOutOfBounds = Code(rawValue: "data_out_of_bounds")
        /// A tensor name appears twice.
        public static let duplicateTensor = Code(rawValue: "duplicate_tensor")
        /// A tensor or file that the operation needs is missing.
        public static let missing = Code(rawValue: "missing")
        /// A value is out of the accepted range (too many elements, negative dimension, …).
        public static let outOfRange = Code(rawValue: "out_of_range")
        /// The file's format is not one Sentinel reads.
        public static let unknownFormat = Code(rawValue: "unknown_format")
        /// The file is a Git LFS pointer, not the real content.
        public static let gitLFSPointer = Code(rawValue: "git_lfs_pointer")
        /// The file is not valid text (UTF-8) where text is required.
        public static let notText = Code(rawValue: "not_text")
        /// The file refers to code that Sentinel refuses to run (pickle globals outside the allow-list).
        public static let unsafe = Code(rawValue: "unsafe")
        /// The file ends before the structure it declares.
        public static let truncated = Code(rawValue: "truncated")
        /// A tensor name a writer cannot store: empty, or `__metadata__` (the safetensors header's own key).
        public static let reservedName = Code(rawValue: "reserved_name")
        /// A zip feature Sentinel does not read: encryption (flag bits 0 and 6), patched data (bit 5),
        /// a multi-disk archive, a compression method other than stored or deflate.
        public static let unsupported = Code(rawValue: "unsupported")
        /// Stored bytes whose CRC-32 differs from the one the archive records (checked by `verify` and `inspect --stats`).
        public static let checksumMismatch = Code(rawValue: "checksum_mismatch")

        /// Every code, in the order `Formats/errors.md` lists them (a test keeps the two equal).
        public static let all: [Code] = [
            fileTooSmall, headerTooLarge, headerOutOfBounds, headerNotUTF8, notJSON, invalidStructure, unknownDType,
            invalidOffsets, sizeMismatch, dataOutOfBounds, duplicateTensor, missing, outOfRange, unknownFormat, gitLFSPointer,
            notText, unsafe, truncated, reservedName, unsupported, checksumMismatch,
        ]
    }

    public var code: Code
    /// Path of the offending file, as given by the user.
    public var file: String
    /// Byte offset in the file where the problem is, when known.
    public var offset: Int?
    /// Tensor name or JSON key concerned, when known.
    public var key: String?
    /// Human-readable explanation.
    public var message: String

    public init(_ code: Code, file: String, offset: Int? = nil, key: String? = nil, _ message: String) {
        self.code = code
        self.file = file
        self.offset = offset
        self.key = key
        self.message = message
    }

    public var description: String {
        var where_ = file
        if let key { where_ += ": '\(key)'" }
        if let offset { where_ += " (byte \(offset))" }
        return "\(where_): \(message) [\(code)]"
    }
}

/// An input/output failure: a file that cannot be opened, read, written or renamed. CLI exit code 74.
public struct OutputError: Error, CustomStringConvertible, Equatable, Sendable {
    public var path: String
    public var operation: String
    /// The `errno` value, when the failure came from a system call.
    public var errno: Int32?

    public init(path: String, operation: String, errno: Int32? = nil) {
        self.path = path
        self.operation = operation
        self.errno = errno
    }

    public var description: String {
        if let errno, let msg = strerror(errno) {
            return "\(path): \(operation) failed: \(String(cString: msg))"
        }
        return "\(path): \(operation) failed"
    }
}

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// `text` in double quotes with control characters escaped (JSON string syntax), for error messages.
public func quoted(_ text: String) -> String {
    JSONValue.string(text).serialized()
}
