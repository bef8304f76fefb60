import Foundation
import SentinelCore

/// Path of `relative` inside the vendored copy of `../shared` (``Fixtures/shared``).
public func shared(_ relative: String) -> String { Fixtures.shared + "/" + relative }

/// Reads a JSON-lines file into parsed values (Sentinel's own JSON reader: exact 64-bit integers).
public func jsonLines(_ path: String) throws -> [JSONValue] {
    let text = try String(contentsOfFile: path, encoding: .utf8)
    return try text.split(separator: "\n", omittingEmptySubsequences: true).map { try JSONValue.parse(String($0)) }
}

/// A sentence's text rebuilt from its wordpieces (`##` pieces join the previous one), for fixtures that
/// store only the pieces (seed-converter reference.json).
public func textOf(wordpieces: [String]) -> String {
    var text = ""
    for piece in wordpieces {
        if piece.hasPrefix("##") {
            text += piece.dropFirst(2)
        } else {
            text += (text.isEmpty ? "" : " ") + piece
        }
    }
    return text
}

extension TensorArchive {
    /// A float tensor (F32 or F64) as Float values.
    public func floats(_ name: String) throws -> [Float] {
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
    public func intRows(_ name: String) throws -> [[Int]] {
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
public func maxAbsDiff(_ a: [Float], _ b: [Float], where include: (Int) -> Bool = { _ in true }) -> Float {
    precondition(a.count == b.count, "\(a.count) vs \(b.count) elements")
    var m: Float = 0
    for i in 0..<a.count where include(i) {
        let d = abs(a[i] - b[i])
        if d.isNaN { return .nan }
        m = max(m, d)
    }
    return m
}
