/// GPT-2's byte-level alphabet (`bytes_to_unicode` of OpenAI's `encoder.py`, tokenizers' `ByteLevel`):
/// every byte 0–255 is spelled by one printable Unicode scalar, so that a BPE vocabulary over bytes can be
/// stored as text. Bytes `!`…`~` (33–126), `¡`…`¬` (161–172) and `®`…`ÿ` (174–255) stand for themselves;
/// the other 68 bytes, in increasing order, become U+0100, U+0101, … (so space 0x20 is `Ġ` U+0120,
/// tab `ĉ`, newline `Ċ`).
public enum ByteLevel {
    /// `scalar[b]`: the scalar that spells byte `b`.
    public static let scalars: [Unicode.Scalar] = {
        var out = [Unicode.Scalar](repeating: "\0", count: 256)
        var next: UInt32 = 256
        for b in 0..<256 {
            if (33...126).contains(b) || (161...172).contains(b) || (174...255).contains(b) {
                out[b] = Unicode.Scalar(UInt32(b))!
            } else {
                out[b] = Unicode.Scalar(next)!
                next += 1
            }
        }
        return out
    }()

    /// The byte a byte-level scalar spells, or nil for a scalar outside the alphabet.
    @inline(__always)
    public static func byte(of scalar: Unicode.Scalar) -> UInt8? {
        let v = scalar.value
        if (33...126).contains(v) || (161...172).contains(v) || (174...255).contains(v) { return UInt8(v) }
        if v >= 256 && v < 256 + 68 { return inverseHigh[Int(v - 256)] }
        return nil
    }

    private static let inverseHigh: [UInt8] = {
        var out = [UInt8](repeating: 0, count: 68)
        for b in 0..<256 where scalars[b].value >= 256 { out[Int(scalars[b].value - 256)] = UInt8(b) }
        return out
    }()

    /// The byte-level spelling of raw bytes (`Ġthe` for ` the`).
    public static func spelling<C: Collection>(of bytes: C) -> String where C.Element == UInt8 {
        var s = String.UnicodeScalarView()
        for b in bytes { s.append(scalars[Int(b)]) }
        return String(s)
    }

    /// The raw bytes a byte-level spelling stands for, or nil if a scalar is outside the alphabet
    /// (special tokens like `<s>` are plain ASCII and decode to themselves).
    public static func bytes(ofSpelling spelling: String) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(spelling.unicodeScalars.count)
        for s in spelling.unicodeScalars {
            guard let b = byte(of: s) else { return nil }
            out.append(b)
        }
        return out
    }

    /// A readable form of a byte-level spelling for people (`sentinel vocab`, `inspect`): the bytes it
    /// stands for as text, with a space shown as `␣` (U+2423, the visible space marker for `Ġ`), and every
    /// byte that is a control character or not part of a complete UTF-8 character on its own shown in hex as
    /// `<0xNN>`. `Ġthe` → `␣the`, `Ċ` → `<0x0A>`, `Ã` (byte 0xC3 alone, half of `é`) → `<0xC3>`.
    /// A spelling with scalars outside the byte alphabet is returned unchanged.
    public static func readable(_ spelling: String) -> String {
        guard let bytes = bytes(ofSpelling: spelling) else { return spelling }
        var out = ""
        var i = 0
        func hex(_ b: UInt8) -> String {
            let digits = Array("0123456789ABCDEF")
            return "<0x\(digits[Int(b >> 4)])\(digits[Int(b & 15)])>"
        }
        while i < bytes.count {
            let b = bytes[i]
            let length = b < 0x80 ? 1 : b >= 0xC2 && b < 0xE0 ? 2 : b >= 0xE0 && b < 0xF0 ? 3 : b >= 0xF0 && b < 0xF5 ? 4 : 0
            if length > 1, i + length <= bytes.count,
                let scalar = String(validating: bytes[i..<(i + length)], as: UTF8.self)?.unicodeScalars.first,
                scalar.properties.generalCategory != .control, scalar.properties.generalCategory != .format
            {
                out.unicodeScalars.append(scalar)
                i += length
                continue
            }
            if b == 0x20 {
                out += "\u{2423}"
            } else if length == 1 && b >= 0x21 && b < 0x7F {
                out.unicodeScalars.append(Unicode.Scalar(b))
            } else {
                out += hex(b)
            }
            i += 1
        }
        return out
    }
}
