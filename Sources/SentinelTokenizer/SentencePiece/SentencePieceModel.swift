import Foundation
import SentinelCore
import SwiftProtobuf

/// A SentencePiece model file (`sentencepiece.bpe.model`, `spiece.model`): one serialized `ModelProto`
/// (google/sentencepiece `src/sentencepiece_model.proto`; the subset read is in `sentencepiece_model.proto`
/// beside this file, its notes in `Formats/sentencepiece.md`).
///
/// Only what a unigram tokenizer needs is kept: the pieces in id order with their scores and types, the
/// trainer's model type, special ids and byte-fallback flag, and the normalizer spec (its precompiled
/// character map and whitespace options).
public struct SentencePieceModel: Sendable {
    /// The type of a piece (`ModelProto.SentencePiece.Type`).
    public enum PieceType: Int, Sendable {
        case normal = 1
        /// `<unk>`.
        case unknown = 2
        /// `<s>`, `</s>`, `<pad>`: never produced by segmentation in sentencepiece.
        case control = 3
        /// Matched verbatim in the text (HF: a non-special added token).
        case userDefined = 4
        case unused = 5
        /// `<0x00>` … `<0xFF>` with byte fallback.
        case byte = 6
    }

    /// One vocabulary entry; its id is its index in ``pieces``.
    public struct Piece: Sendable, Equatable {
        public var piece: String
        /// Log probability (float32 in the file, widened exactly).
        public var score: Double
        public var type: PieceType
    }

    /// `TrainerSpec.ModelType`: 1 unigram, 2 BPE, 3 word, 4 char.
    public var modelType: Int
    public var pieces: [Piece]
    public var unknownID: Int
    public var bosID: Int
    public var eosID: Int
    public var padID: Int
    public var byteFallback: Bool
    /// `NormalizerSpec.name` (`nmt_nfkc`, `identity`, …).
    public var normalizerName: String
    /// `NormalizerSpec.precompiled_charsmap`; empty for `identity`.
    public var precompiledCharsmap: [UInt8]
    /// Prepend `▁` to the text (HF: Metaspace `prepend_scheme: always`).
    public var addDummyPrefix: Bool
    public var removeExtraWhitespaces: Bool
    public var escapeWhitespaces: Bool

    /// Largest model file read (a 256k-piece model is about 5 MB).
    public static let maxFileBytes = 1 << 30

    /// Reads and decodes a `.model` file.
    /// - Throws: ``InputError`` naming the file: `unknown_format` when the bytes are not a `ModelProto`
    ///   (protobuf decoding fails: truncated message, bad wire type, invalid UTF-8 in a piece), `missing` when it
    ///   has no pieces, `out_of_range` when it is over 1 GiB; ``OutputError`` when it cannot be read.
    public init(contentsOf path: String) throws {
        let file = try MappedFile(path: path)
        guard file.bytes.count <= Self.maxFileBytes else {
            throw InputError(
                .outOfRange, file: path, "\(file.bytes.count) bytes is over the \(Self.maxFileBytes)-byte limit for a SentencePiece model")
        }
        let data = withExtendedLifetime(file) { Data(file.bytes) }
        try self.init(serialized: data, file: path)
    }

    /// Decodes the bytes of a `.model` file; `file` names it in errors.
    /// - Throws: ``InputError`` as ``init(contentsOf:)``.
    public init(serialized data: Data, file: String) throws {
        let proto: Sentencepiece_ModelProto
        do {
            proto = try Sentencepiece_ModelProto(serializedBytes: data)
        } catch {
            throw InputError(.unknownFormat, file: file, "not a SentencePiece model (protobuf ModelProto): \(error)")
        }
        guard !proto.pieces.isEmpty else {
            throw InputError(.missing, file: file, key: "pieces", "the SentencePiece model has no pieces")
        }
        var pieces: [Piece] = []
        pieces.reserveCapacity(proto.pieces.count)
        for (index, p) in proto.pieces.enumerated() {
            guard let type = PieceType(rawValue: p.type.rawValue) else {
                throw InputError(.invalidStructure, file: file, key: "pieces[\(index)].type", "unknown piece type \(p.type.rawValue)")
            }
            guard p.score.isFinite else {
                throw InputError(.invalidStructure, file: file, key: "pieces[\(index)].score", "score \(p.score) is not finite")
            }
            pieces.append(Piece(piece: p.piece, score: Double(p.score), type: type))
        }
        self.pieces = pieces
        let t = proto.trainerSpec
        modelType = t.modelType.rawValue
        unknownID = Int(t.unkID)
        bosID = Int(t.bosID)
        eosID = Int(t.eosID)
        padID = Int(t.padID)
        byteFallback = t.byteFallback
        let n = proto.normalizerSpec
        normalizerName = n.name
        precompiledCharsmap = Array(n.precompiledCharsmap)
        addDummyPrefix = n.addDummyPrefix
        removeExtraWhitespaces = n.removeExtraWhitespaces
        escapeWhitespaces = n.escapeWhitespaces
    }
}
