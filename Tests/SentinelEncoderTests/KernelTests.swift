@testable import SentinelEncoder
import XCTest
#if canImport(Glibc)
    import Glibc
#endif

/// The vector math against libm, and the row kernels against plain scalar code.
final class KernelTests: XCTestCase {
    func grid(_ lo: Float, _ hi: Float, _ n: Int) -> [Float] { (0..<n).map { lo + (hi - lo) * Float($0) / Float(n - 1) } }

    func apply(_ xs: [Float], _ f: (Vec) -> Vec) -> [Float] {
        var out = [Float](repeating: 0, count: xs.count)
        var i = 0
        while i + 16 <= xs.count {
            let v = xs.withUnsafeBufferPointer { load($0.baseAddress! + i) }
            out.withUnsafeMutableBufferPointer { store(f(v), $0.baseAddress! + i) }
            i += 16
        }
        return Array(out[0..<i])
    }

    func testExpIsWithinTwoUlpOfLibm() {
        let xs = grid(-87, 87, 16 * 4000)
        let ys = apply(xs, VectorMath.exp)
        for (x, y) in zip(xs, ys) {
            let ref = Double(x).exp
            XCTAssertLessThanOrEqual(abs(Double(y) - ref) / ref, 2.5e-7, "exp(\(x))")
        }
        XCTAssertEqual(apply([Float](repeating: -Float.greatestFiniteMagnitude, count: 16), VectorMath.exp)[0], 0, accuracy: 1e-37)
    }

    func testExp2IsWithinTwoUlpOfLibm() {
        let xs = grid(-125, 0, 16 * 4000)
        let ys = apply(xs, VectorMath.exp2NonPositive)
        for (x, y) in zip(xs, ys) {
            let ref = Glibc.exp2(Double(x))
            XCTAssertLessThanOrEqual(abs(Double(y) - ref) / ref, 2.5e-7, "exp2(\(x))")
        }
        XCTAssertEqual(apply([Float](repeating: -Float.greatestFiniteMagnitude, count: 16), VectorMath.exp2NonPositive)[0], 0, accuracy: 1e-37)
    }

    func testErfAndGELU() {
        let xs = grid(-10, 10, 16 * 4000)
        let erfs = apply(xs, VectorMath.erf)
        var worst = 0.0
        for (x, y) in zip(xs, erfs) { worst = max(worst, abs(Double(y) - Glibc.erf(Double(x)))) }
        XCTAssertLessThanOrEqual(worst, 5e-7)
        let gelus = apply(xs, Activation.gelu.apply)
        for (x, y) in zip(xs, gelus) {
            let ref = 0.5 * Double(x) * (1 + Glibc.erf(Double(x) / 2.0.squareRoot()))
            XCTAssertLessThanOrEqual(abs(Double(y) - ref), 2e-6 * max(1, abs(Double(x))), "gelu(\(x))")
        }
        let tanhs = apply(xs, Activation.geluTanh.apply)
        for (x, y) in zip(xs, tanhs) {
            let d = Double(x)
            let ref = 0.5 * d * (1 + Glibc.tanh((2 / Double.pi).squareRoot() * (d + 0.044715 * d * d * d)))
            XCTAssertLessThanOrEqual(abs(Double(y) - ref), 2e-6 * max(1, abs(d)), "gelu_new(\(x))")
        }
    }

    func testMaskedSoftmaxIgnoresMaskedKeys() {
        let cols = 21
        var scores = (0..<(2 * cols)).map { Float(($0 * 37) % 11) - 5 }
        let mask: [Float] = (0..<cols).map { $0 < 13 ? 1 : 0 }
        let bias: [Float] = mask.map { $0 == 1 ? 0 : -Float.greatestFiniteMagnitude }
        let original = scores
        scores.withUnsafeMutableBufferPointer { s in
            Kernels.maskedSoftmax(s.baseAddress!, rows: 2, cols: cols, keyMask: mask, keyBias: bias)
        }
        for r in 0..<2 {
            let valid = (0..<13).map { Double(original[r * cols + $0]) }
            let m = valid.max()!
            let z = valid.reduce(0) { $0 + Glibc.exp2($1 - m) }
            for j in 0..<cols {
                let expected = j < 13 ? Glibc.exp2(valid[j] - m) / z : 0
                XCTAssertEqual(Double(scores[r * cols + j]), expected, accuracy: 1e-7)
            }
        }
    }

    func testLayerNormRowMatchesTheDefinition() {
        let cols = 37
        let x = (0..<cols).map { Float($0 % 7) * 0.3 - Float($0 % 3) }
        let gamma = (0..<cols).map { 1 + Float($0) * 0.01 }, beta = (0..<cols).map { Float($0) * -0.02 }
        var out = [Float](repeating: 0, count: cols)
        let stats = out.withUnsafeMutableBufferPointer {
            Kernels.normalizeRow(x, cols: cols, gamma: gamma, beta: beta, eps: 1e-12, out: $0.baseAddress!)
        }
        let mean = x.reduce(0.0) { $0 + Double($1) } / Double(cols)
        let variance = x.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / Double(cols)
        XCTAssertEqual(Double(stats.mean), mean, accuracy: 1e-6)
        for j in 0..<cols {
            let expected = (Double(x[j]) - mean) / (variance + 1e-12).squareRoot() * Double(gamma[j]) + Double(beta[j])
            XCTAssertEqual(Double(out[j]), expected, accuracy: 2e-6)
        }
    }
}

extension Double {
    var exp: Double { Glibc.exp(self) }
}
