import Foundation

/// Character classes of HuggingFace's `BertNormalizer` and `BertPreTokenizer` (tokenizers crate,
/// `normalizers/bert.rs`, `pre_tokenizers/bert.rs`), per Unicode scalar.
///
/// Everything here works on scalars (code points), never on grapheme clusters: the Rust code
/// iterates `char`s, and so must we.
enum BertCharacters {
    /// `is_control` of the normalizer: general category Cc, Cf or Co (not Cn: unassigned code points
    /// are kept, see Formats/tokenizer.md), except tab, LF and CR.
    @inline(__always)
    static func isControl(_ s: Unicode.Scalar) -> Bool {
        let v = s.value
        if v == 0x09 || v == 0x0A || v == 0x0D { return false }
        switch s.properties.generalCategory {
        case .control, .format, .privateUse, .surrogate: return true
        default: return false
        }
    }

    /// `is_whitespace`: tab, LF, CR, or the Unicode White_Space property (Rust `char::is_whitespace`).
    @inline(__always)
    static func isWhitespace(_ s: Unicode.Scalar) -> Bool {
        let v = s.value
        if v == 0x20 || v == 0x09 || v == 0x0A || v == 0x0D { return true }
        if v < 0x80 { return v == 0x0B || v == 0x0C }
        return s.properties.isWhitespace
    }

    /// `is_bert_punc`: ASCII punctuation ``!"#$%&'()*+,-./:;<=>?@[\]^_`{|}~`` or general category P*.
    @inline(__always)
    static func isPunctuation(_ s: Unicode.Scalar) -> Bool {
        let v = s.value
        if v < 0x80 {
            return (v >= 33 && v <= 47) || (v >= 58 && v <= 64) || (v >= 91 && v <= 96) || (v >= 123 && v <= 126)
        }
        switch s.properties.generalCategory {
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation,
            .initialPunctuation, .finalPunctuation, .otherPunctuation:
            return true
        default:
            return false
        }
    }

    /// `is_chinese_char`: the CJK Unified Ideographs blocks and their extensions, and the CJK
    /// Compatibility Ideographs (not Hiragana, Katakana or Hangul).
    @inline(__always)
    static func isChinese(_ v: UInt32) -> Bool {
        (0x4E00...0x9FFF).contains(v) || (0x3400...0x4DBF).contains(v) || (0x20000...0x2A6DF).contains(v)
            || (0x2A700...0x2B73F).contains(v) || (0x2B740...0x2B81F).contains(v) || (0x2B820...0x2CEAF).contains(v)
            || (0xF900...0xFAFF).contains(v) || (0x2F800...0x2FA1F).contains(v)
    }

    /// Nonspacing marks (Mn), removed after NFD when accents are stripped.
    @inline(__always)
    static func isNonspacingMark(_ s: Unicode.Scalar) -> Bool {
        s.value >= 0x300 && s.properties.generalCategory == .nonspacingMark
    }

    /// Appends the canonical decomposition (NFD, full and recursive) of `s` to `out`.
    static func appendDecomposition(of s: Unicode.Scalar, to out: inout [Unicode.Scalar]) {
        let v = s.value
        if v < 0xC0 {
            out.append(s)
            return
        }
        // Hangul syllables: algorithmic (Unicode §3.12).
        if v >= 0xAC00 && v < 0xAC00 + 11172 {
            let index = v - 0xAC00
            out.append(Unicode.Scalar(0x1100 + index / 588)!)
            out.append(Unicode.Scalar(0x1161 + (index % 588) / 28)!)
            if index % 28 != 0 { out.append(Unicode.Scalar(0x11A7 + index % 28)!) }
            return
        }
        if let range = decompositions.index[v] {
            out.append(contentsOf: decompositions.scalars[Int(range.lowerBound)..<Int(range.upperBound)])
        } else {
            out.append(s)
        }
    }

    /// The canonical decompositions of every scalar that has one (2,061 in Unicode 15/16), computed once
    /// from Foundation's `decomposedStringWithCanonicalMapping`, the first time a non-ASCII scalar at or
    /// above U+00C0 is normalized with accent stripping on. Hangul is handled algorithmically.
    private static let decompositions: (index: [UInt32: Range<Int32>], scalars: [Unicode.Scalar]) = {
        var index: [UInt32: Range<Int32>] = [:]
        var scalars: [Unicode.Scalar] = []
        for range in [0xC0..<0x3100, 0xF900..<0xFB50, 0x10000..<0x1D800, 0x2F800..<0x2FA20] {
            for v in range {
                guard let s = Unicode.Scalar(UInt32(v)) else { continue }
                let d = String(Character(s)).decomposedStringWithCanonicalMapping.unicodeScalars
                var it = d.makeIterator()
                if let first = it.next(), first == s, it.next() == nil { continue }
                let start = Int32(scalars.count)
                scalars.append(contentsOf: d)
                index[UInt32(v)] = start..<Int32(scalars.count)
            }
        }
        return (index, scalars)
    }()
}
