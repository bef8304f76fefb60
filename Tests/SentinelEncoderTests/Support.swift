import Foundation
import SentinelCore
import SentinelTestSupport
import XCTest

/// Paths of the package, `../shared` and the real MiniLM sample (see `SentinelTestSupport.Fixtures`).
enum TestPaths {
    static let root = Fixtures.packageRoot
    static let shared = Fixtures.shared
    static let bertFixtures = shared + "/fixtures/bert"

    /// The all-MiniLM-L6-v2 directory, fetched by `Samples/fetch-minilm.sh` when the cache is missing.
    static func miniLM() throws -> String { try Fixtures.miniLM() }
}

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

extension TensorArchive {
    /// A float tensor (F32 or F64) as Float values.
    func floats(_ name: String) throws -> [Float] {
        guard let e = entry(named: name) else { throw InputError(.missing, file: path, key: name, "missing in fixture") }
        return try withBytes(of: name) { raw in
            switch e.dtype {
            case .F32: return (0..<e.elementCount).map { raw.loadUnaligned(fromByteOffset: 4 * $0, as: Float.self) }
            case .F64: return (0..<e.elementCount).map { Float(raw.loadUnaligned(fromByteOffset: 8 * $0, as: Double.self)) }
            default: throw InputError(.unknownDType, file: path, key: name, "not a float tensor")
            }
        }
    }

    /// An I64 tensor as rows of Int (`[rows, cols]`).
    func intRows(_ name: String) throws -> [[Int]] {
        guard let e = entry(named: name), e.dtype == .I64, e.shape.count == 2 else {
            throw InputError(.missing, file: path, key: name, "missing or not a 2-D I64 tensor")
        }
        let cols = e.shape[1]
        return try withBytes(of: name) { raw in
            (0..<e.shape[0]).map { r in (0..<cols).map { Int(raw.loadUnaligned(fromByteOffset: 8 * (r * cols + $0), as: Int64.self)) } }
        }
    }
}

/// Largest |a − b| over the elements where `include(index)` holds.
func maxAbsDiff(_ a: [Float], _ b: [Float], where include: (Int) -> Bool = { _ in true }) -> Float {
    precondition(a.count == b.count, "\(a.count) vs \(b.count) elements")
    var m: Float = 0
    for i in 0..<a.count where include(i) {
        let d = abs(a[i] - b[i])
        if d.isNaN { return .nan }
        m = max(m, d)
    }
    return m
}

/// The f01 sentences of `../shared/fixtures/bert/cases_shared.json` as plain-text lines (a TAB before the pair's second
/// sentence).
func f01PlainText() throws -> String {
    var text = ""
    for item in try XCTUnwrap(Fixtures.json("bert/cases_shared.json")["f01"]?.arrayValue) {
        let pair = try XCTUnwrap(item.arrayValue)
        text += try XCTUnwrap(pair[0].stringValue) + (pair[1].stringValue.map { "\t" + $0 } ?? "") + "\n"
    }
    return text
}
