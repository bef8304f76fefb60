import SentinelCore
import XCTest

/// F16/BF16/F32/F64 decoding and encoding (one implementation for every module).
final class FloatCodingTests: XCTestCase {
    func testKnownBitPatterns() {
        // 1.0, -2.0, 65504 (largest F16), smallest F16 subnormal 2^-24.
        let f16: [UInt16] = [0x3C00, 0xC000, 0x7BFF, 0x0001]
        let f16Bytes = f16.flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] }
        f16Bytes.withUnsafeBytes { raw in
            XCTAssertEqual((0..<4).map { FloatCoding.float(raw, $0, .F16) }, [1, -2, 65504, Float(sign: .plus, exponent: -24, significand: 1)])
        }
        // BF16 is the top half of a float32: 0x3F80 = 1.0, 0x4049 = 3.140625.
        let bf16Bytes: [UInt8] = [0x80, 0x3F, 0x49, 0x40]
        bf16Bytes.withUnsafeBytes { raw in
            XCTAssertEqual(FloatCoding.float(raw, 0, .BF16), 1)
            XCTAssertEqual(FloatCoding.double(raw, 1, .BF16), 3.140625)
        }
    }

    func testRoundTripsAndRounding() {
        let values: [Float] = [0, 1, -1.5, 3.14159265, 1e-8, 65519, -0.0, .infinity]
        for dtype in [DType.F16, .BF16, .F32, .F64] {
            let bytes = FloatCoding.bytes(values, as: dtype)
            XCTAssertEqual(bytes.count, values.count * dtype.byteWidth!)
            bytes.withUnsafeBytes { raw in
                var decoded = [Float](repeating: .nan, count: values.count)
                FloatCoding.decode(raw, dtype, count: values.count, into: &decoded)
                for (v, d) in zip(values, decoded) {
                    switch dtype {
                    case .F16: XCTAssertEqual(d, Float(Float16(v)))
                    case .BF16: XCTAssertEqual(d, Float(bitPattern: UInt32(FloatCoding.bfloat16Bits(v)) << 16))
                    default: XCTAssertEqual(d, v)
                    }
                }
            }
        }
        // Round to nearest even: 1 + 2^-8 is halfway between two BF16 values and rounds to 1.0;
        // 1 + 3·2^-8 rounds up to 1 + 2^-6.
        XCTAssertEqual(FloatCoding.bfloat16Bits(1 + 0x1p-8), 0x3F80)
        XCTAssertEqual(FloatCoding.bfloat16Bits(1 + 3 * 0x1p-8), 0x3F82)
        XCTAssertTrue(Float(bitPattern: UInt32(FloatCoding.bfloat16Bits(.nan)) << 16).isNaN)
        // Doubles encode with one rounding to the target type.
        var d: [Double] = [1.0 / 3.0]
        var out = [UInt8](repeating: 0, count: 2)
        out.withUnsafeMutableBytes { FloatCoding.encode(&d, count: 1, as: .F16, into: $0.baseAddress!) }
        XCTAssertEqual(UInt16(out[0]) | UInt16(out[1]) << 8, Float16(1.0 / 3.0).bitPattern)
    }
}
