/// Family-independent hot-loop tokenizing: each thread keeps one `AnyObject?` scratch slot that the tokenizer
/// fills with its own workspace (``TokenizerWorkspace`` for WordPiece, ``BPEWorkspace`` for byte-level BPE,
/// ``UnigramWorkspace`` for SentencePiece unigram) on
/// first use, so `encrypt` and `bench-tokenize` run any family through ``SubwordTokenizer`` without a `String`
/// or an allocation per text.
extension SubwordTokenizer {
    /// Default: decodes the text and calls ``pieces(of:)`` (or ``pieces(ofWords:)`` when `word` is given).
    public func append(_ text: UnsafeRawBufferPointer, word: Int32?, to out: inout Pieces, scratch: inout AnyObject?) {
        let string = String(decoding: text, as: UTF8.self)
        let p = word == nil ? pieces(of: string) : pieces(ofWords: [string])
        let base = out.count == 0 ? 0 : (out.words.max() ?? -1) + 1
        for i in 0..<p.count { out.append(p.ids[i], p.starts[i], p.ends[i], word ?? base + p.words[i]) }
    }

    /// ``append(_:word:to:scratch:)`` for a `String`.
    public func append(_ text: String, word: Int32? = nil, to out: inout Pieces, scratch: inout AnyObject?) {
        var text = text
        text.withUTF8 { append(UnsafeRawBufferPointer($0), word: word, to: &out, scratch: &scratch) }
    }

    /// Appends the pieces of pre-split words as ``labelPieces(ofWords:)`` does (a word that yields no piece gets
    /// one unknown piece); offsets are relative to each word.
    public func appendLabelPieces(ofWords words: [String], to out: inout Pieces, scratch: inout AnyObject?) {
        for (index, word) in words.enumerated() {
            let before = out.count
            append(word, word: Int32(index), to: &out, scratch: &scratch)
            if out.count == before { out.append(unknownID, 0, Int32(word.utf8.count), Int32(index)) }
        }
    }
}

/// A ``TokenizerWorkspace`` in a box, for ``SubwordTokenizer/append(_:word:to:scratch:)``.
final class WordPieceScratch {
    var workspace = TokenizerWorkspace()
}

/// A ``BPEWorkspace`` in a box, for ``SubwordTokenizer/append(_:word:to:scratch:)``.
final class BPEScratch {
    var workspace = BPEWorkspace()
}

extension BertTokenizer {
    public func append(_ text: UnsafeRawBufferPointer, word: Int32?, to out: inout Pieces, scratch: inout AnyObject?) {
        let box: WordPieceScratch
        if let b = scratch as? WordPieceScratch {
            box = b
        } else {
            box = WordPieceScratch()
            scratch = box
        }
        append(text, word: word, to: &out, workspace: &box.workspace)
    }
}

extension ByteLevelBPETokenizer {
    public func append(_ text: UnsafeRawBufferPointer, word: Int32?, to out: inout Pieces, scratch: inout AnyObject?) {
        let box: BPEScratch
        if let b = scratch as? BPEScratch {
            box = b
        } else {
            box = BPEScratch()
            scratch = box
        }
        append(text, word: word, to: &out, workspace: &box.workspace)
    }
}

extension UnigramTokenizer {
    public func append(_ text: UnsafeRawBufferPointer, word: Int32?, to out: inout Pieces, scratch: inout AnyObject?) {
        let ws: UnigramWorkspace
        if let w = scratch as? UnigramWorkspace {
            ws = w
        } else {
            ws = UnigramWorkspace()
            scratch = ws
        }
        append(text, word: word, to: &out, workspace: ws)
    }
}
