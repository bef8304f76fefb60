/// Element types of the safetensors format, by their safetensors names.
///
/// Source: huggingface/safetensors `safetensors/src/tensor.rs` (`Dtype`), spec in its README. Sub-byte kinds
/// (F4, F6_*) are packed; Sentinel treats them as opaque bytes and checks their bit counts.
public enum DType: String, CaseIterable, Sendable, Hashable, Codable {
    case BOOL, F4, F6_E2M3, F6_E3M2, U8, I8, F8_E5M2, F8_E4M3, F8_E8M0, F8_E4M3FNUZ, F8_E5M2FNUZ
    case I16, U16, F16, BF16, I32, U32, F32, C64, F64, I64, U64

    /// Size of one element in bits (4 for F4, 6 for F6_*, otherwise a multiple of 8).
    public var bitWidth: Int {
        switch self {
        case .F4: 4
        case .F6_E2M3, .F6_E3M2: 6
        case .BOOL, .U8, .I8, .F8_E5M2, .F8_E4M3, .F8_E8M0, .F8_E4M3FNUZ, .F8_E5M2FNUZ: 8
        case .I16, .U16, .F16, .BF16: 16
        case .I32, .U32, .F32: 32
        case .C64, .F64, .I64, .U64: 64
        }
    }

    /// Size of one element in bytes, or `nil` for the packed sub-byte kinds.
    public var byteWidth: Int? { bitWidth % 8 == 0 ? bitWidth / 8 : nil }

    /// The order the safetensors library lays tensors out in: higher rank first (then name ascending).
    /// Observed from safetensors 0.8.0 output (`../shared/fixtures/safetensors/README.md`).
    public var layoutRank: Int {
        switch self {
        case .U64: 21
        case .I64: 20
        case .F64: 19
        case .C64: 18
        case .F32: 17
        case .U32: 16
        case .I32: 15
        case .BF16: 14
        case .F16: 13
        case .U16: 12
        case .I16: 11
        case .F8_E5M2FNUZ: 10
        case .F8_E4M3FNUZ: 9
        case .F8_E8M0: 8
        case .F8_E4M3: 7
        case .F8_E5M2: 6
        case .I8: 5
        case .U8: 4
        case .F6_E3M2: 3
        case .F6_E2M3: 2
        case .F4: 1
        case .BOOL: 0
        }
    }

    /// Whether the element is a real floating-point number that ``TensorStatistics`` can summarise.
    public var isFloatingPoint: Bool {
        switch self {
        case .F16, .BF16, .F32, .F64: true
        default: false
        }
    }
}

/// Number of elements of a tensor of `shape` (1 for `[]`), or `nil` for a negative dimension or a product
/// that overflows `Int`. A shape with a zero dimension has 0 elements whatever its other dimensions
/// (torch saves `torch.empty((0, 2**32, 2**32))`); every size product in Sentinel goes through here.
public func elementCount(shape: [Int]) -> Int? {
    guard !shape.contains(where: { $0 < 0 }) else { return nil }
    if shape.contains(0) { return 0 }
    var elements = 1
    for d in shape {
        let (m, o) = elements.multipliedReportingOverflow(by: d)
        if o { return nil }
        elements = m
    }
    return elements
}

/// Number of bytes a tensor of `shape` and `dtype` occupies, or `nil` on overflow, a negative
/// dimension, or a sub-byte tensor whose bit count is not a whole number of bytes.
public func byteCount(dtype: DType, shape: [Int]) -> Int? {
    guard let elements = elementCount(shape: shape) else { return nil }
    let (bits, o) = elements.multipliedReportingOverflow(by: dtype.bitWidth)
    if o || bits % 8 != 0 { return nil }
    return bits / 8
}

/// Whether the safetensors reference (`safetensors` 0.8, Rust) refuses `shape` as overflowing: it folds the
/// product left to right from 1 with checked multiplication, so `[2**32, 2**32, 0]` overflows there while
/// `[0, 2**32, 2**32]` does not.
public func shapeOverflowsLeftToRight(_ shape: [Int]) -> Bool {
    var elements = 1
    for d in shape {
        let (m, o) = elements.multipliedReportingOverflow(by: d)
        if o { return true }
        elements = m
    }
    return false
}
