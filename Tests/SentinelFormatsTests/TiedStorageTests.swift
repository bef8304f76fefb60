import Foundation
import XCTest
import SentinelCore
@testable import SentinelFormats

/// Tied weights as transformers saves them: `state_dict()` detaches every parameter, so a tied decoder is a
/// second tensor object over the embeddings' storage (same key, offset, shape and strides), not a memo
/// reference. Such pairs are ties (``TorchCheckpoint/ties``) and stay tied through the writer.
final class TiedStorageTests: XCTestCase {
    func testIdenticalViewsOfOneStorageAreTiedAndStayTiedOnExport() throws {
        let dir = try Paths.temporaryDirectory(self)
        let path = dir + "/mlm.bin"
        var p = PickleBytes()
        p.op(0x7D, 0x94, 0x28)  // EMPTY_DICT MEMOIZE MARK
        p.str("bert.embeddings.word_embeddings.weight")
        p.tensorV2(storageClass: "FloatStorage", key: "0", numel: 12, offset: 0, size: [6, 2], stride: [2, 1])
        p.str("cls.predictions.bias")
        p.tensorV2(storageClass: "FloatStorage", key: "1", numel: 6, offset: 0, size: [6], stride: [1])
        p.str("cls.predictions.decoder.weight")  // a new object over storage 0, the same view
        p.tensorV2(storageClass: "FloatStorage", key: "0", numel: 12, offset: 0, size: [6, 2], stride: [2, 1])
        p.str("cls.predictions.decoder.bias")
        p.tensorV2(storageClass: "FloatStorage", key: "1", numel: 6, offset: 0, size: [6], stride: [1])
        p.str("first_half")  // another view of storage 0: shares storage, not a tie
        p.tensorV2(storageClass: "FloatStorage", key: "0", numel: 12, offset: 0, size: [3, 2], stride: [2, 1])
        p.op(0x75)  // SETITEMS
        let embedding = (0..<12).map { Float($0) + 0.5 }, bias = (0..<6).map { -Float($0) }
        func le(_ v: [Float]) -> [UInt8] { v.flatMap { f in withUnsafeBytes(of: f.bitPattern.littleEndian) { Array($0) } } }
        try AtomicFile.write(to: path) { out in
            var z = TorchZipWriter(out: out)
            try z.add("mlm/data.pkl", bytes: p.protocol4())
            try z.add("mlm/byteorder", bytes: Array("little".utf8))
            try z.add("mlm/data/0", bytes: le(embedding))
            try z.add("mlm/data/1", bytes: le(bias))
            try z.add("mlm/version", bytes: Array("3\n".utf8))
            try z.finish()
        }
        let source = try TorchCheckpoint(path: path)
        XCTAssertEqual(source.sameObjectGroups, [], "five distinct tensor objects")
        XCTAssertEqual(
            source.ties,
            [
                "cls.predictions.decoder.weight": "bert.embeddings.word_embeddings.weight",
                "cls.predictions.decoder.bias": "cls.predictions.bias",
            ])

        let out = dir + "/exported.bin"
        try TorchWriter.write(archive: source, to: out)
        let copy = try TorchCheckpoint(path: out)
        XCTAssertEqual(
            copy.sameObjectGroups,
            [
                ["bert.embeddings.word_embeddings.weight", "cls.predictions.decoder.weight"],
                ["cls.predictions.bias", "cls.predictions.decoder.bias"],
            ])
        // Each tie is written once: 12 + 6 floats for the tied pairs, 6 for the materialised view.
        XCTAssertEqual(copy.storages.count, 3)
        XCTAssertEqual(copy.storages.reduce(0) { $0 + $1.byteCount }, (12 + 6 + 6) * 4)
        for e in source.entries {
            XCTAssertEqual(try copy.withBytes(of: e.name) { Array($0) }, try source.withBytes(of: e.name) { Array($0) }, e.name)
        }
    }
}
