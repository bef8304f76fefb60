import SentinelScheme
import SentinelCore
import SentinelTestSupport
import XCTest

/// Python `random` and `hashlib.blake2b` reproduced exactly (`../shared/fixtures/pyrandom`, `blake2b`).
final class PrimitivesTests: XCTestCase {
    func testMT19937MatchesCPython() throws {
        let fixture = try Fixtures.json("pyrandom/mt19937.json")
        let seeds = try XCTUnwrap(fixture["seeds"]?.arrayValue)
        XCTAssertEqual(seeds.count, 8)
        for entry in seeds {
            let seed = try XCTUnwrap(entry["seed"]?.intValue)
            var rng = PythonRandom(seed: seed)
            for (i, v) in (entry["random"]?.arrayValue ?? []).enumerated() {
                let bits = try XCTUnwrap(UInt64(v["bits"]?.stringValue ?? "", radix: 16))
                XCTAssertEqual(rng.random().bitPattern, bits, "seed \(seed) random()[\(i)]")
            }
            var rng2 = PythonRandom(seed: seed)
            for (i, v) in (entry["getrandbits32"]?.arrayValue ?? []).enumerated() {
                XCTAssertEqual(rng2.getrandbits(32), UInt64(try XCTUnwrap(v.int64Value)), "seed \(seed) getrandbits[\(i)]")
            }
            for n in [10, 100, 1000] {
                var list = Array(0..<n)
                var r = PythonRandom(seed: seed)
                r.shuffle(&list)
                XCTAssertEqual(list, entry["shuffle_\(n)"]?.arrayValue?.compactMap(\.intValue), "seed \(seed) shuffle_\(n)")
            }
            var big = Array(0..<30000)
            var r = PythonRandom(seed: seed)
            r.shuffle(&big)
            let joined = big.map(String.init).joined(separator: ",")
            XCTAssertEqual(
                SHA256Stream.hex(UnsafeRawBufferPointer(start: joined, count: joined.utf8.count)),
                entry["shuffle_30000"]?["sha256_of_comma_join"]?.stringValue, "seed \(seed) shuffle_30000")
        }
        let expected = try XCTUnwrap(fixture["repeated_shuffle_seed475_n1000_x10"]?.arrayValue)
        var list = Array(0..<1000)
        for _ in 0..<10 {
            var r = PythonRandom(seed: 475)
            r.shuffle(&list)
        }
        XCTAssertEqual(list, expected.compactMap(\.intValue))
    }

    func testConverterIdListMatchesCPython() throws {
        let fixture = try Fixtures.json("pyrandom/mt19937.json")
        for (seedText, expected) in try XCTUnwrap(fixture["converter_id_list_x10"]?.objectValue) {
            let seed = try XCTUnwrap(Int(seedText))
            let specials: Set<Int> = [0, 100, 101, 102, 103]
            var ids = (0..<30522).filter { !specials.contains($0) }
            for _ in 0..<10 {
                var r = PythonRandom(seed: seed)
                r.shuffle(&ids)
            }
            XCTAssertEqual(ids.count, expected["n"]?.intValue)
            XCTAssertEqual(Array(ids.prefix(20)), expected["first20"]?.arrayValue?.compactMap(\.intValue))
            XCTAssertEqual(Array(ids.suffix(20)), expected["last20"]?.arrayValue?.compactMap(\.intValue))
            let joined = ids.map(String.init).joined(separator: ",")
            XCTAssertEqual(
                SHA256Stream.hex(UnsafeRawBufferPointer(start: joined, count: joined.utf8.count)),
                expected["sha256_of_comma_join"]?.stringValue)
            XCTAssertEqual(ids.count / 2 + 5, expected["pivot"]?.intValue)
        }
    }

    func testKeyedBLAKE2bMatchesHashlib() throws {
        let fixture = try Fixtures.json("blake2b/keyed_hashes.json")
        let tokens = try XCTUnwrap(fixture["tokens"]?.arrayValue).map { t in hexBytes(t["utf8_hex"]?.stringValue ?? "") }
        var checked = 0
        for key in try XCTUnwrap(fixture["keys"]?.arrayValue) {
            let id = try XCTUnwrap(key["id"]?.stringValue)
            let hasher = try TokenHasher(key: hexBytes(key["utf8_hex"]?.stringValue ?? ""))
            XCTAssertEqual(key["text"]?.stringValue.map { Array($0.utf8) }, hexBytes(key["utf8_hex"]?.stringValue ?? ""))
            let digests = try XCTUnwrap(fixture["digest16"]?[id]?.arrayValue)
            XCTAssertEqual(digests.count, tokens.count)
            for (i, expected) in digests.enumerated() {
                let got = tokens[i].withUnsafeBytes { hasher.hexDigest($0) }
                XCTAssertEqual(got, expected.stringValue, "key \(id) token \(i)")
                checked += 1
            }
        }
        XCTAssertEqual(checked, 303 * 7)
        let keysByID = Dictionary(
            uniqueKeysWithValues: (fixture["keys"]?.arrayValue ?? []).map {
                ($0["id"]?.stringValue ?? "", hexBytes($0["utf8_hex"]?.stringValue ?? ""))
            })
        for other in fixture["other_digest_sizes"]?.arrayValue ?? [] {
            let hasher = try TokenHasher(
                key: try XCTUnwrap(keysByID[other["key_id"]?.stringValue ?? ""]),
                digestSize: try XCTUnwrap(other["digest_size"]?.intValue))
            let token = tokens[try XCTUnwrap(other["token_index"]?.intValue)]
            XCTAssertEqual(token.withUnsafeBytes { hasher.hexDigest($0) }, other["hex"]?.stringValue)
        }
        XCTAssertThrowsError(try TokenHasher(key: [UInt8](repeating: 1, count: 65))) { error in
            XCTAssertEqual(error as? TokenHasher.Error, .keyTooLong(bytes: 65))
        }
    }

    func testSeedOfKey() {
        XCTAssertEqual(SeedScheme.seed(forKey: "llm123"), 475)
        XCTAssertEqual(SeedScheme.seed(forKey: "nlp2023"), 529)
        // Code points, not UTF-8 bytes: "é" counts 233.
        XCTAssertEqual(SeedScheme.seed(forKey: "é"), 233)
    }

    private func hexBytes(_ hex: String) -> [UInt8] {
        var out: [UInt8] = []
        var it = hex.utf8.makeIterator()
        while let a = it.next(), let b = it.next() {
            out.append(UInt8(String(decoding: [a, b], as: UTF8.self), radix: 16)!)
        }
        return out
    }
}

import CSentinelKernels

/// The reference-order dot product gives the same bits with and without FMA instructions, and is not a
/// plain left-to-right sum.
final class ReferenceDotTests: XCTestCase {
    func testFMAAndGenericPathsAgreeBitForBit() {
        var rng = PythonRandom(seed: 7)
        for n in [0, 1, 31, 32, 33, 384, 385, 768, 1000] {
            let x = (0..<n).map { _ in rng.random() * 2 - 1 }, y = (0..<n).map { _ in rng.random() }
            let fast = CSentinelKernels_reference_ddot(x, y, n), slow = CSentinelKernels_reference_ddot_generic(x, y, n)
            XCTAssertEqual(fast.bitPattern, slow.bitPattern, "n = \(n)")
            let plain = zip(x, y).reduce(0.0) { $0 + $1.0 * $1.1 }
            XCTAssertEqual(fast, plain, accuracy: 1e-12 * Double(max(n, 1)))
        }
    }
}
