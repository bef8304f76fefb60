/// One named tensor as any weights format describes it: the common denominator that conversion,
/// export and the encoder work with.
public struct TensorEntry: Sendable, Equatable {
    /// HuggingFace parameter name, e.g. `embeddings.word_embeddings.weight`.
    public var name: String
    public var dtype: DType
    /// Dimensions, outermost first (`[]` for a 0-dim scalar).
    public var shape: [Int]

    public init(name: String, dtype: DType, shape: [Int]) {
        self.name = name
        self.dtype = dtype
        self.shape = shape
    }

    /// Number of elements (1 for a scalar; 0 when a dimension is 0, or for a shape whose product overflows,
    /// which no reader lets through).
    public var elementCount: Int { SentinelCore.elementCount(shape: shape) ?? 0 }
    /// Size of the contiguous row-major data in bytes.
    public var byteCount: Int { Sentinel.byteCount(dtype: dtype, shape: shape) ?? 0 }
}

/// A read-only set of named tensors: one weights file (safetensors, torch zip, legacy torch) or a
/// sharded checkpoint. Implementations memory-map their input and hand out views, not copies,
/// wherever the stored layout is already contiguous little-endian.
public protocol TensorArchive: AnyObject {
    /// Path of the file (or index file) the archive was opened from.
    var path: String { get }
    /// Short format name for reports: `safetensors`, `pytorch-zip`, `pytorch-legacy`, `sharded-…`.
    var formatName: String { get }
    /// Every tensor, in file order.
    var entries: [TensorEntry] { get }
    /// Calls `body` with the tensor's contiguous, row-major, little-endian bytes
    /// (`entry.byteCount` of them). The buffer must not escape `body`.
    /// - Throws: ``InputError`` with code `.missing` for an unknown name, or a format error met while
    ///   materialising the tensor.
    func withBytes<R>(of name: String, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R
    /// Hints that the tensor's bytes will not be read again soon: a memory-mapped archive drops their
    /// pages from the resident set. Optional; the default does nothing.
    func releaseBytes(of name: String)
    /// Where the tensor's contiguous little-endian bytes are stored verbatim in a file, if they are (so a
    /// writer can copy them in the kernel). Optional; the default is `nil`.
    func fileRange(of name: String) -> FileRange?
}

/// A byte offset in a file: where a tensor's bytes begin.
public struct FileRange: Sendable, Equatable {
    public var path: String
    public var offset: Int
    public init(path: String, offset: Int) {
        self.path = path
        self.offset = offset
    }
}

extension TensorArchive {
    public func releaseBytes(of name: String) {}
    public func fileRange(of name: String) -> FileRange? { nil }

    /// The entry named `name`, or `nil`.
    public func entry(named name: String) -> TensorEntry? { entries.first { $0.name == name } }
}

/// Namespace for free functions that share names with members.
public enum Sentinel {
    /// See the global ``byteCount(dtype:shape:)``.
    public static func byteCount(dtype: DType, shape: [Int]) -> Int? { SentinelCore.byteCount(dtype: dtype, shape: shape) }
    /// See the global ``elementCount(shape:)``.
    public static func elementCount(shape: [Int]) -> Int? { SentinelCore.elementCount(shape: shape) }
}

/// A ``TensorArchive`` whose tensor bytes stay at one address, unchanged, for as long as the archive
/// object lives (a read-only memory map). The encoder uses F32 tensors of such an archive in place.
public protocol MappedTensorArchive: TensorArchive {
    /// The tensor's bytes as a view into the mapping, valid while `self` lives, or `nil` when the tensor
    /// is absent or not stored contiguously.
    func mappedBytes(of name: String) -> UnsafeRawBufferPointer?
}

/// A tensor-file format that can write any ``TensorArchive`` and open what it wrote: how the trainer's checkpoints
/// and outputs reach the disk without the encoder depending on the formats module (`SafeTensorsStore` in
/// SentinelFormats is the one the CLI and the tests use).
public protocol TensorFileStore: Sendable {
    /// Writes every tensor of `archive`, values unchanged, to the file `path` (atomically).
    func write(_ archive: TensorArchive, to path: String) throws
    /// Opens a file written by ``write(_:to:)``.
    func open(_ path: String) throws -> TensorArchive
}
