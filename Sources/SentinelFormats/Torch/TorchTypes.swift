import SentinelCore

/// Element type of a torch tensor or storage, named with safetensors dtype names.
///
/// Torch has two more element types than safetensors can store (`C128`); they are read and
/// described, but a ``TorchCheckpoint`` does not list them among its ``TensorArchive`` entries
/// (``TorchCheckpoint/unrepresentable`` names them). Source: `fixture_common.py`
/// (`TORCH_TO_ST`, `STORAGE_CLASS_DTYPE`, `TORCH_DTYPE_ATTR`) in `../shared/fixtures/torch`.
public enum TorchDType: String, CaseIterable, Sendable, Hashable {
    case BOOL, U8, I8, I16, U16, I32, U32, I64, U64, F16, BF16, F32, F64
    case F8_E4M3, F8_E5M2, F8_E4M3FNUZ, F8_E5M2FNUZ, F8_E8M0, C64, C128

    /// Size of one element in bytes.
    public var byteWidth: Int {
        switch self {
        case .BOOL, .U8, .I8, .F8_E4M3, .F8_E5M2, .F8_E4M3FNUZ, .F8_E5M2FNUZ, .F8_E8M0: 1
        case .I16, .U16, .F16, .BF16: 2
        case .I32, .U32, .F32: 4
        case .I64, .U64, .F64, .C64: 8
        case .C128: 16
        }
    }

    /// Width of the unit that a byte-order conversion swaps (a complex number swaps each half).
    var swapWidth: Int {
        switch self {
        case .C64: 4
        case .C128: 8
        default: byteWidth
        }
    }

    /// The safetensors dtype, or `nil` when safetensors has none (`C128`).
    public var dtype: DType? { DType(rawValue: rawValue) }

    /// The torch dtype for a safetensors dtype, or `nil` for the packed kinds torch does not store
    /// as a plain element type here (F4, F6_*).
    public init?(_ dtype: DType) { self.init(rawValue: dtype.rawValue) }

    /// `torch.<name>` dtype attribute names (as in `GLOBAL 'torch uint16'`).
    static let byTorchAttribute: [String: TorchDType] = [
        "float64": .F64, "float32": .F32, "float16": .F16, "bfloat16": .BF16,
        "int64": .I64, "int32": .I32, "int16": .I16, "int8": .I8, "uint8": .U8,
        "bool": .BOOL, "uint16": .U16, "uint32": .U32, "uint64": .U64,
        "float8_e4m3fn": .F8_E4M3, "float8_e5m2": .F8_E5M2,
        "float8_e4m3fnuz": .F8_E4M3FNUZ, "float8_e5m2fnuz": .F8_E5M2FNUZ,
        "float8_e8m0fnu": .F8_E8M0, "complex64": .C64, "complex128": .C128,
    ]

    /// The `torch.<name>` attribute of this dtype.
    var torchAttribute: String {
        Self.byTorchAttribute.first { $0.value == self }!.key
    }

    /// Typed storage classes (`torch.FloatStorage`, …) and the element type they hold.
    /// `UntypedStorage` holds bytes (its persistent-id numel counts bytes).
    static let byStorageClass: [String: TorchDType] = [
        "DoubleStorage": .F64, "FloatStorage": .F32, "HalfStorage": .F16,
        "BFloat16Storage": .BF16, "LongStorage": .I64, "IntStorage": .I32,
        "ShortStorage": .I16, "CharStorage": .I8, "ByteStorage": .U8,
        "BoolStorage": .BOOL, "ComplexFloatStorage": .C64,
        "ComplexDoubleStorage": .C128, "UntypedStorage": .U8,
    ]

    /// The typed storage class torch pickles for this dtype with `_rebuild_tensor_v2`, or `nil` when
    /// torch uses `_rebuild_tensor_v3` with an `UntypedStorage` (U16, U32, U64, F8_*).
    var storageClass: String? {
        switch self {
        case .F64: "DoubleStorage"
        case .F32: "FloatStorage"
        case .F16: "HalfStorage"
        case .BF16: "BFloat16Storage"
        case .I64: "LongStorage"
        case .I32: "IntStorage"
        case .I16: "ShortStorage"
        case .I8: "CharStorage"
        case .U8: "ByteStorage"
        case .BOOL: "BoolStorage"
        case .C64: "ComplexFloatStorage"
        case .C128: "ComplexDoubleStorage"
        default: nil
        }
    }
}

/// One storage as a persistent id names it: `('storage', torch.<X>Storage, key, location, numel)`.
public struct TorchStorage: Sendable, Equatable {
    /// The storage key: the record `data/<key>` in a zip checkpoint, the key in the legacy key list.
    public var key: String
    /// The pickled storage class name (`FloatStorage`, `UntypedStorage`, …).
    public var storageClass: String
    /// Element type of the storage class (U8 for `UntypedStorage`).
    public var elementType: TorchDType
    /// Device string from the persistent id (`cpu`, `cuda:0`, …). Bytes are read the same way for any device.
    public var location: String
    /// The numel of the persistent id, in elements of ``elementType``.
    public var numelInPersistentID: Int
    /// Bytes the persistent id promises: `numelInPersistentID × elementType.byteWidth`.
    public var byteCount: Int { numelInPersistentID * elementType.byteWidth }
}

/// A tensor as the pickle describes it: a strided view of a storage. Nothing is read from the
/// storage when it is built; the identity of the object is the pickle object's identity (a tensor
/// reached twice through the memo is one `TorchTensor`, as torch's tied weights are).
public final class TorchTensor: @unchecked Sendable {
    public let storage: TorchStorage
    /// Element type of the tensor (from the storage class for `_rebuild_tensor_v2`, from the dtype
    /// argument for `_rebuild_tensor_v3`).
    public let dtype: TorchDType
    /// Offset of element `[0, …, 0]` in the storage, in elements of ``dtype``.
    public let storageOffset: Int
    /// Dimensions, outermost first (`[]` for a 0-dim tensor).
    public let shape: [Int]
    /// Strides in elements of ``dtype``, one per dimension.
    public let strides: [Int]
    public internal(set) var requiresGrad: Bool
    /// Whether the tensor was pickled as an `nn.Parameter` (`_rebuild_parameter`).
    public internal(set) var isParameter: Bool
    /// `_rebuild_tensor_v2`, `_rebuild_tensor_v3` or `_rebuild_tensor`.
    public let rebuildFunction: String

    init(
        storage: TorchStorage, dtype: TorchDType, storageOffset: Int, shape: [Int], strides: [Int],
        requiresGrad: Bool, rebuildFunction: String
    ) {
        self.storage = storage
        self.dtype = dtype
        self.storageOffset = storageOffset
        self.shape = shape
        self.strides = strides
        self.requiresGrad = requiresGrad
        self.isParameter = false
        self.rebuildFunction = rebuildFunction
    }

    /// Number of elements (1 for a 0-dim tensor).
    public var elementCount: Int { shape.reduce(1, *) }

    /// Whether the elements lie row-major and packed in the storage (dimensions of size 1 ignored; a
    /// tensor of no elements is contiguous whatever its strides).
    public var isContiguous: Bool {
        if elementCount == 0 { return true }
        var expected = 1
        for (s, st) in zip(shape, strides).reversed() {
            if s != 1 && st != expected { return false }
            let (m, o) = expected.multipliedReportingOverflow(by: s)
            if o { return false }
            expected = m
        }
        return true
    }
}
