import Foundation
import XCTest
import SentinelCore
import SentinelTestSupport

/// Paths of the package, the vendored copy of `../shared` and the sample model (see `SentinelTestSupport.Fixtures`).
enum Paths {
    static let root = Fixtures.packageRoot
    static let shared = Fixtures.shared
    static let torchFixtures = shared + "/fixtures/torch"

    /// The MiniLM model directory; runs `Samples/fetch-minilm.sh` when the cache is missing.
    static func miniLM() throws -> String { try Fixtures.miniLM() }

    /// A fresh temporary directory, removed at the end of the test.
    static func temporaryDirectory(_ test: XCTestCase) throws -> String {
        let dir = try Fixtures.temporaryDirectory("sentinel-torch")
        test.addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
        return dir
    }
}

/// Asserts that every tensor listed in a torch fixture's `.expected.json` has, in `archive`, the fixture's
/// sha256 of its contiguous little-endian bytes.
func assertFixtureDigests(_ archive: TensorArchive, _ fixture: String, file: StaticString = #filePath, line: UInt = #line) throws {
    let expected = try loadJSON(Paths.torchFixtures + "/" + fixture + ".expected.json")
    for t in expected["tensors"]?.arrayValue ?? [] {
        let name = t["key"]?.stringValue ?? ""
        XCTAssertEqual(try archive.withBytes(of: name) { SHA256.hex($0) }, t["sha256"]?.stringValue, name, file: file, line: line)
    }
}

func loadJSON(_ path: String) throws -> JSONValue { try JSONValue.read(file: path) }

/// SHA-256 hex digests for comparing bytes with the fixtures.
enum SHA256 {
    static func hex(_ data: UnsafeRawBufferPointer) -> String { SHA256Stream.hex(data) }
    static func hex(_ bytes: [UInt8]) -> String { bytes.withUnsafeBytes { SHA256Stream.hex($0) } }
}

/// Runs `body` and returns the ``InputError`` it throws (fails the test if it throws nothing or another error).
func inputError(_ body: () throws -> Void, file: StaticString = #filePath, line: UInt = #line) -> InputError? {
    do {
        try body()
        XCTFail("expected an InputError, nothing was thrown", file: file, line: line)
    } catch let e as InputError {
        return e
    } catch {
        XCTFail("expected an InputError, got \(error)", file: file, line: line)
    }
    return nil
}
