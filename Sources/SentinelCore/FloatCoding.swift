/// The one place Sentinel decodes and encodes floating-point tensor elements (F16, BF16, F32, F64),
/// little-endian as safetensors and PyTorch store them.
///
/// Decoding is exact (every F16, BF16 and F32 value is a float32 and a float64). Encoding rounds to nearest
/// even, as PyTorch's `.to(dtype)` does; BF16 keeps NaN a NaN (quiet bit set).
public enum FloatCoding {
    /// Element `i` of `bytes`, a tensor of `dtype` (F16, BF16, F32 or F64), as a Double.
    /// - Precondition: `dtype.isFloatingPoint` and `bytes` holds at least `i + 1` elements.
    @inline(__always)
    public static func double(_ bytes: UnsafeRawBufferPointer, _ i: Int, _ dtype: DType) -> Double {
        switch dtype {
        case .F64: return Double(bitPattern: UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self)))
        case .F32: return Double(float(bytes, i, dtype))
        default: return Double(float(bytes, i, dtype))
        }
    }

    /// Element `i` of `bytes` as a Float (F64 rounded to nearest).
    @inline(__always)
    public static func float(_ bytes: UnsafeRawBufferPointer, _ i: Int, _ dtype: DType) -> Float {
        switch dtype {
        case .F32: return Float(bitPattern: UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self)))
        case .F16: return Float(Float16(bitPattern: UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self))))
        case .BF16: return Float(bitPattern: UInt32(UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self))) << 16)
        case .F64: return Float(Double(bitPattern: UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self))))
        default: preconditionFailure("\(dtype) is not a floating-point dtype")
        }
    }

    /// Decodes `count` elements of `bytes` into `out`.
    public static func decode(_ bytes: UnsafeRawBufferPointer, _ dtype: DType, count: Int, into out: UnsafeMutablePointer<Float>) {
        switch dtype {
        case .F32 where Int(bitPattern: bytes.baseAddress) % 4 == 0 && UInt32(1).littleEndian == 1:
            out.update(from: bytes.baseAddress!.assumingMemoryBound(to: Float.self), count: count)
        default:
            for i in 0..<count { out[i] = float(bytes, i, dtype) }
        }
    }

    /// Decodes `count` elements of `bytes` into `out` as Doubles.
    public static func decode(_ bytes: UnsafeRawBufferPointer, _ dtype: DType, count: Int, into out: UnsafeMutablePointer<Double>) {
        for i in 0..<count { out[i] = double(bytes, i, dtype) }
    }

    /// The BF16 bits of `x`, rounded to nearest even (NaN stays a quiet NaN).
    @inline(__always)
    public static func bfloat16Bits(_ x: Float) -> UInt16 {
        let bits = x.bitPattern
        if x.isNaN { return UInt16(bits >> 16) | 0x40 }
        let rounding = 0x7fff + ((bits >> 16) & 1)
        return UInt16((bits &+ rounding) >> 16)
    }

    /// Encodes `count` values into `out` as `dtype` (F16, BF16, F32 or F64), little-endian.
    /// - Precondition: `out` holds `count` elements of `dtype`.
    public static func encode(_ values: UnsafePointer<Double>, count: Int, as dtype: DType, into out: UnsafeMutableRawPointer) {
        switch dtype {
        case .F64: for i in 0..<count { out.storeBytes(of: values[i].bitPattern.littleEndian, toByteOffset: i * 8, as: UInt64.self) }
        case .F32: for i in 0..<count { out.storeBytes(of: Float(values[i]).bitPattern.littleEndian, toByteOffset: i * 4, as: UInt32.self) }
        case .F16: for i in 0..<count { out.storeBytes(of: Float16(values[i]).bitPattern.littleEndian, toByteOffset: i * 2, as: UInt16.self) }
        case .BF16: for i in 0..<count { out.storeBytes(of: bfloat16Bits(Float(values[i])).littleEndian, toByteOffset: i * 2, as: UInt16.self) }
        default: preconditionFailure("\(dtype) is not a floating-point dtype")
        }
    }

    /// `values` encoded as `dtype` (F16, BF16, F32 or F64), little-endian.
    public static func bytes(_ values: [Float], as dtype: DType) -> [UInt8] {
        let width = dtype.byteWidth ?? 0
        var out = [UInt8](repeating: 0, count: values.count * width)
        out.withUnsafeMutableBytes { raw in
            let p = raw.baseAddress!
            switch dtype {
            case .F32: for (i, v) in values.enumerated() { p.storeBytes(of: v.bitPattern.littleEndian, toByteOffset: i * 4, as: UInt32.self) }
            case .F64: for (i, v) in values.enumerated() { p.storeBytes(of: Double(v).bitPattern.littleEndian, toByteOffset: i * 8, as: UInt64.self) }
            case .F16:
                for (i, v) in values.enumerated() { p.storeBytes(of: Float16(v).bitPattern.littleEndian, toByteOffset: i * 2, as: UInt16.self) }
            case .BF16: for (i, v) in values.enumerated() { p.storeBytes(of: bfloat16Bits(v).littleEndian, toByteOffset: i * 2, as: UInt16.self) }
            default: preconditionFailure("\(dtype) is not a floating-point dtype")
            }
        }
        return out
    }
}
