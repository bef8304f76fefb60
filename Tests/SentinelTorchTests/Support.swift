import Foundation
import XCTest
import SentinelCore

/// Paths of the package, `../shared` and the sample model, found from this file (no bundle resources).
enum Paths {
    /// Package root: three levels up from Tests/SentinelTorchTests/Support.swift.
    static let root: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()

    static let shared: String = ProcessInfo.processInfo.environment["SENTINEL_SHARED"] ?? (root + "/../shared")
    static let torchFixtures = shared + "/fixtures/torch"

    /// The MiniLM model directory; runs `Samples/fetch-minilm.sh` when the cache is missing.
    static func miniLM() throws -> String {
        let dir = root + "/Samples/.cache/all-MiniLM-L6-v2"
        if FileManager.default.fileExists(atPath: dir + "/.complete") { return dir }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: root + "/Samples/fetch-minilm.sh")
        let pipe = Pipe()
        p.standardOutput = pipe
        try p.run()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { throw FetchFailed(status: p.terminationStatus) }
        let out = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        return out.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// A fresh temporary directory, removed at the end of the test.
    static func temporaryDirectory(_ test: XCTestCase) throws -> String {
        let dir = NSTemporaryDirectory() + "sentinel-torch-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        test.addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
        return dir
    }
}

struct FetchFailed: Error { var status: Int32 }

/// Asserts that every tensor listed in a torch fixture's `.expected.json` has, in `archive`, the fixture's
/// sha256 of its contiguous little-endian bytes.
func assertFixtureDigests(_ archive: TensorArchive, _ fixture: String, file: StaticString = #filePath, line: UInt = #line) throws {
    let expected = try loadJSON(Paths.torchFixtures + "/" + fixture + ".expected.json")
    for t in expected["tensors"]?.arrayValue ?? [] {
        let name = t["key"]?.stringValue ?? ""
        XCTAssertEqual(try archive.withBytes(of: name) { SHA256.hex($0) }, t["sha256"]?.stringValue, name, file: file, line: line)
    }
}

func loadJSON(_ path: String) throws -> JSONValue {
    let f = try MappedFile(path: path)
    return try withExtendedLifetime(f) { try JSONValue.parse(f.bytes) }
}

/// SHA-256 (FIPS 180-4), test-only: the expected digests in the fixtures are sha256 hex strings.
enum SHA256 {
    private static let k: [UInt32] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
        0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
        0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
        0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
        0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
        0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
        0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
    ]

    static func hex(_ data: UnsafeRawBufferPointer) -> String {
        var h: [UInt32] = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]
        var w = [UInt32](repeating: 0, count: 64)
        func block(_ p: UnsafeRawPointer) {
            for i in 0..<16 { w[i] = UInt32(bigEndian: p.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)) }
            for i in 16..<64 {
                let s0 = w[i - 15].rotr(7) ^ w[i - 15].rotr(18) ^ (w[i - 15] >> 3)
                let s1 = w[i - 2].rotr(17) ^ w[i - 2].rotr(19) ^ (w[i - 2] >> 10)
                w[i] = w[i - 16] &+ s0 &+ w[i - 7] &+ s1
            }
            var (a, b, c, d, e, f, g, hh) = (h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7])
            for i in 0..<64 {
                let t1 = hh &+ (e.rotr(6) ^ e.rotr(11) ^ e.rotr(25)) &+ ((e & f) ^ (~e & g)) &+ k[i] &+ w[i]
                let t2 = (a.rotr(2) ^ a.rotr(13) ^ a.rotr(22)) &+ ((a & b) ^ (a & c) ^ (b & c))
                (hh, g, f, e, d, c, b, a) = (g, f, e, d &+ t1, c, b, a, t1 &+ t2)
            }
            h[0] &+= a; h[1] &+= b; h[2] &+= c; h[3] &+= d; h[4] &+= e; h[5] &+= f; h[6] &+= g; h[7] &+= hh
        }
        let n = data.count
        var i = 0
        if let base = data.baseAddress { while i + 64 <= n { block(base + i); i += 64 } }
        var tail = Array(data[i..<n])
        tail.append(0x80)
        while tail.count % 64 != 56 { tail.append(0) }
        for s in stride(from: 56, through: 0, by: -8) { tail.append(UInt8(((UInt64(n) * 8) >> UInt64(s)) & 0xFF)) }
        tail.withUnsafeBytes { t in for j in stride(from: 0, to: t.count, by: 64) { block(t.baseAddress! + j) } }
        return h.map { String(format: "%08x", $0) }.joined()
    }

    static func hex(_ bytes: [UInt8]) -> String { bytes.withUnsafeBytes { hex($0) } }
}

private extension UInt32 {
    func rotr(_ n: UInt32) -> UInt32 { (self >> n) | (self << (32 - n)) }
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
