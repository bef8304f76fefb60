import Foundation
import SentinelCore
import SentinelFormats
import SentinelTestSupport
import XCTest

/// The vendored ground truth (`Tests/Fixtures/MANIFEST`, `SHA256SUMS`, `Samples/vendor-fixtures.sh`): intact on
/// any checkout, and equal to `../shared` (the source of truth) wherever `../shared` is present.
final class VendoredFixturesTests: XCTestCase {
    /// Every file in SHA256SUMS is stored once (as is or as `.xz`), selected by the manifest, unpacked, and has
    /// the listed sha256; nothing else is stored; the tests read the unpacked copy, not `../shared`.
    func testEveryVendoredFileMatchesSHA256SUMS() throws {
        XCTAssertNil(Fixtures.unpackError)
        XCTAssertTrue(Fixtures.shared.hasPrefix(Fixtures.packageRoot + "/"), Fixtures.shared)
        let manifest = try VendoredFixtures.manifest()
        let sums = try VendoredFixtures.sums()
        XCTAssertGreaterThan(sums.count, 0)
        XCTAssertEqual(Set(sums.map(\.path)).count, sums.count, "SHA256SUMS lists a path twice")
        var stored: Set<String> = []
        for (sha, path) in sums {
            XCTAssertNotNil(manifest.entry(for: path), "\(path) is in SHA256SUMS but no manifest entry selects it")
            let base = try VendoredFixtures.storedPath(of: path)
            let plain = FileManager.default.fileExists(atPath: base), packed = FileManager.default.fileExists(atPath: base + ".xz")
            XCTAssertTrue(plain != packed, "\(path): expected exactly one of \(base) and \(base).xz")
            stored.insert(packed ? base + ".xz" : base)
            let unpacked = Fixtures.shared + "/" + path
            guard FileManager.default.fileExists(atPath: unpacked) else {
                XCTFail("\(path): not unpacked at \(unpacked)")
                continue
            }
            XCTAssertEqual(try Fixtures.sha256(file: unpacked), sha, "\(path): unpacked copy differs from SHA256SUMS")
            if plain { XCTAssertEqual(try Fixtures.sha256(file: base), sha, "\(path): stored file differs from SHA256SUMS") }
        }
        let bookkeeping: Set<String> = [VendoredFixtures.manifestPath, VendoredFixtures.sumsPath]
        for root in VendoredFixtures.storedRoots {
            for file in VendoredFixtures.files(under: root).map({ root + "/" + $0 }) where !bookkeeping.contains(file) {
                XCTAssertTrue(stored.contains(file), "\(file) is stored but not listed in SHA256SUMS (run Samples/vendor-fixtures.sh)")
            }
        }
    }

    /// With `../shared` present: the manifest selects the same files there as SHA256SUMS lists (no file added
    /// or removed upstream since vendoring), each whole file is byte-identical to its original, and each
    /// trimmed safetensors file holds exactly the original's tensors that match its keep= patterns, with the
    /// same dtype, shape, bytes and `__metadata__`. On a bare clone there is nothing to compare with.
    func testVendoredCopyEqualsShared() throws {
        guard let upstream = Fixtures.upstream else {
            print("../shared (or $SENTINEL_SHARED) is not present: the vendored copy is checked against SHA256SUMS only")
            return
        }
        let manifest = try VendoredFixtures.manifest()
        let sums = try VendoredFixtures.sums()
        let upstreamFiles =
            (VendoredFixtures.files(under: upstream + "/fixtures").map { "fixtures/" + $0 }
                + VendoredFixtures.files(under: upstream + "/data").map { "data/" + $0 })
        let selected = upstreamFiles.filter { manifest.entry(for: $0) != nil }
        let listed = Set(sums.map(\.path))
        for path in selected where !listed.contains(path) {
            XCTFail("\(upstream)/\(path) is selected by the manifest but not vendored (run Samples/vendor-fixtures.sh)")
        }
        for path in listed.subtracting(selected).sorted() {
            XCTFail("\(path) is vendored but \(upstream)/\(path) does not exist or is no longer selected")
        }
        for entry in manifest.entries {
            XCTAssertTrue(selected.contains { entry.matches($0) }, "manifest line \(entry.line) '\(entry.pattern)' matches no file in \(upstream)")
        }
        for (sha, path) in sums where selected.contains(path) {
            let original = upstream + "/" + path
            let keep = try XCTUnwrap(manifest.entry(for: path)).keep
            if keep.isEmpty {
                XCTAssertEqual(try Fixtures.sha256(file: original), sha, "\(path): vendored copy differs from \(original)")
            } else {
                try compareTrimmed(Fixtures.shared + "/" + path, original, keep: keep, label: path)
            }
        }
    }

    private func compareTrimmed(_ vendoredPath: String, _ originalPath: String, keep: [String], label: String) throws {
        let vendored = try SafeTensorsFile(path: vendoredPath), original = try SafeTensorsFile(path: originalPath)
        let expectedNames = original.tensors.map(\.name).filter { name in keep.contains { VendoredFixtures.matches($0, name) } }
        XCTAssertEqual(vendored.tensors.map(\.name), expectedNames, "\(label): kept tensors")
        for pattern in keep {
            XCTAssertTrue(
                expectedNames.contains { VendoredFixtures.matches(pattern, $0) }, "\(label): keep=\(pattern) matches no tensor of \(originalPath)")
        }
        XCTAssertEqual(vendored.metadata?.map(\.0), original.metadata?.map(\.0), "\(label): __metadata__ keys")
        XCTAssertEqual(vendored.metadata?.map(\.1), original.metadata?.map(\.1), "\(label): __metadata__ values")
        for tensor in vendored.tensors {
            guard let source = original.tensor(named: tensor.name) else {
                XCTFail("\(label): \(tensor.name) is not in \(originalPath)")
                continue
            }
            XCTAssertEqual(tensor.dtype, source.dtype, "\(label): \(tensor.name) dtype")
            XCTAssertEqual(tensor.shape, source.shape, "\(label): \(tensor.name) shape")
            let a = vendored.bytes(of: tensor), b = original.bytes(of: source)
            XCTAssertTrue(
                a.count == b.count && (a.count == 0 || memcmp(a.baseAddress!, b.baseAddress!, a.count) == 0),
                "\(label): \(tensor.name) bytes differ from \(originalPath)")
        }
    }
}
