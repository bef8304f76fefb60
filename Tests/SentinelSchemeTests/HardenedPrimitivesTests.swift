import SentinelScheme
import SentinelCore
import XCTest

/// Known answers and statistical properties of the `hardened` scheme's primitives.
///
/// Provenance of the expected values: RFC 8439 (ChaCha20, §2.3.2, §2.4.2, A.1; also reproduced with the
/// `cryptography` package, i.e. OpenSSL); `Samples/crosscheck/hardened_vectors.py` for the rest, run on 2026-12-03 with
/// argon2-cffi 25.1.0 (the reference Argon2 C code, independent of libsodium), CPython 3.11 `hashlib.blake2b`, and
/// `cryptography` 48.0 for ChaCha20; the script re-implements the permutation, row selection, scales and Box–Muller
/// from the specification in `HardenedScheme.swift`.
final class HardenedPrimitivesTests: XCTestCase {
    func bytes(_ hexText: String) -> [UInt8] { HardenedManifest.unhex(hexText)! }

    func keystream(key: [UInt8], nonce: [UInt8], counter: UInt32, count: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0xFF, count: count)
        key.withUnsafeBufferPointer { k in
            out.withUnsafeMutableBytes { ChaCha20Stream.keystream(key: k, nonce: nonce, initialCounter: counter, into: $0) }
        }
        return out
    }

    // MARK: ChaCha20 (RFC 8439)

    func testChaCha20KeystreamMatchesRFC8439() {
        let key = Array(UInt8(0)...UInt8(31))
        // §2.3.2: the block function with counter 1.
        XCTAssertEqual(
            HardenedManifest.hex(keystream(key: key, nonce: bytes("000000090000004a00000000"), counter: 1, count: 64)),
            "10f1e7e4d13b5915500fdd1fa32071c4c7d1f4c733c068030422aa9ac3d46c4e"
                + "d2826446079faa0914c2d705d98b02a2b5129cd1de164eb9cbd083e8a2503c4e")
        // §2.4.2: the sunscreen plaintext encrypted from counter 1 (keystream XOR plaintext).
        let plaintext = Array(
            "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.".utf8)
        let stream = keystream(key: key, nonce: bytes("000000000000004a00000000"), counter: 1, count: plaintext.count)
        XCTAssertEqual(
            HardenedManifest.hex(zip(plaintext, stream).map { $0 ^ $1 }),
            "6e2e359a2568f98041ba0728dd0d6981e97e7aec1d4360c20a27afccfd9fae0bf91b65c5524733ab8f593dabcd62b357"
                + "1639d624e65152ab8f530c359f0861d807ca0dbf500d6a6156a38e088a22b65e52bc514d16ccf806818ce91ab7793736"
                + "5af90bbf74a35be6b40b8eedf2785e42874d")
        // A.1 test vector #1: zero key, zero nonce, counter 0.
        XCTAssertEqual(
            HardenedManifest.hex(
                keystream(
                    key: [UInt8](repeating: 0, count: 32), nonce: [UInt8](repeating: 0, count: 12),
                    counter: 0, count: 64)),
            "76b8e0ada0f13d90405d6ae55386bd28bdd219b8a08ded1aa836efcc8b770dc7"
                + "da41597c5157488d7724e03fb8d84a376a43b8f41518a11cc387b669b2ee6586")
    }

    func testStreamWordsContinueAcrossRefills() {
        // next64 reads the keystream as consecutive little-endian words, also past its 4096-byte buffer.
        let key = SecretKey(raw: Array(UInt8(0)...UInt8(31)))
        let nonce = ChaCha20Stream.nonce(domain: 3, index: 0x0102030405060708)
        XCTAssertEqual(nonce, [3, 0, 0, 0, 8, 7, 6, 5, 4, 3, 2, 1])
        var stream = ChaCha20Stream(key: key, nonce: nonce)
        let words = (0..<1100).map { _ in stream.next64() }
        let raw = keystream(key: key.rawBytes, nonce: nonce, counter: 0, count: 1100 * 8)
        let expected = (0..<1100).map { i in (0..<8).reduce(UInt64(0)) { $0 | UInt64(raw[8 * i + $1]) << (8 * UInt64($1)) } }
        XCTAssertEqual(words, expected)
    }

    // MARK: Argon2id and subkeys

    func testArgon2idAndSubkeysMatchIndependentImplementations() throws {
        let first = try HardenedKeys.masterKey(
            passkey: "llm123",
            parameters: Argon2idParameters(opsLimit: 2, memLimit: 8 << 20, salt: Array(0..<16)))
        XCTAssertEqual(HardenedManifest.hex(first.rawBytes), "de376cd986844d40170efda82f80c0157aef0b99fc582144872b0a686727d9b6")
        let second = try HardenedKeys.masterKey(
            passkey: "Corr3ct-Horse-Ω-battery",
            parameters: Argon2idParameters(opsLimit: 1, memLimit: 64 << 10, salt: [UInt8](repeating: 0xA5, count: 16)))
        XCTAssertEqual(HardenedManifest.hex(second.rawBytes), "cc13c8add87df12cef8396ee7cc855384b47058a930f499261396703cd8fcf7d")

        let keys = try HardenedKeys(masterKey: first)
        XCTAssertEqual(HardenedManifest.hex(keys.tokenDigests.rawBytes), "f1ced514b087c9ca0b4bbe0a31b76daa3e3ec3e5b5bc89b3f2c0f82bb751051f")
        XCTAssertEqual(HardenedManifest.hex(keys.permutation.rawBytes), "11bf2653226956dd5d248005ec0fbe396d97b0feb5bc35dfe06f03686af0a0f5")
        XCTAssertEqual(HardenedManifest.hex(keys.embeddingTransform.rawBytes), "353de15a91a952614e93095bc010138e4c149f5db06441c902923ef3106822c5")

        let hasher = keys.tokenHasher()
        XCTAssertEqual(hasher.hexDigest("hello"), "7e6b37908ccb8c5618d866b5222b0bf3")
        XCTAssertEqual(hasher.hexDigest("##ing"), "10beceb5fb8220a504848af699767032")
        XCTAssertEqual(hasher.hexDigest("Ω"), "dc1ab270a9a02b00cf77d8c8adc6650e")
        XCTAssertEqual("\(keys.tokenDigests)", "SecretKey(redacted)")

        // A different salt or passkey gives a different master key.
        let otherSalt = try HardenedKeys.masterKey(
            passkey: "llm123",
            parameters: Argon2idParameters(opsLimit: 2, memLimit: 8 << 20, salt: Array(1...16)))
        XCTAssertNotEqual(otherSalt.rawBytes, first.rawBytes)
    }

    func testKeyDerivationRefusesBadParameters() {
        let salt = [UInt8](repeating: 1, count: 16)
        for p in [
            Argon2idParameters(opsLimit: 0, memLimit: 8 << 20, salt: salt), Argon2idParameters(opsLimit: 65, memLimit: 8 << 20, salt: salt),
            Argon2idParameters(opsLimit: 1, memLimit: 4096, salt: salt), Argon2idParameters(opsLimit: 1, memLimit: (8 << 20) + 1, salt: salt),
            Argon2idParameters(opsLimit: 1, memLimit: 8 << 20, salt: Array(salt.prefix(15))),
        ] {
            XCTAssertThrowsError(try HardenedKeys.masterKey(passkey: "k", parameters: p)) { error in
                guard case KeyDerivationError.invalidParameters = error else { return XCTFail("\(error)") }
            }
        }
        XCTAssertEqual(Argon2idParameters.randomSalt().count, 16)
        XCTAssertNotEqual(Argon2idParameters.randomSalt(), Argon2idParameters.randomSalt())
    }

    // MARK: Permutation, row selection, scales, noise

    func testPermutationRowsScalesAndNoiseMatchTheReimplementation() throws {
        let keys = try HardenedKeys(masterKey: SecretKey(raw: bytes("de376cd986844d40170efda82f80c0157aef0b99fc582144872b0a686727d9b6")))
        XCTAssertEqual(
            HardenedScheme.mapping(vocabSize: 20, specialIDs: [0, 3, 19], key: keys.permutation),
            [0, 18, 8, 3, 6, 4, 2, 14, 10, 16, 9, 5, 7, 12, 1, 13, 15, 17, 11, 19])
        let rows = HardenedScheme.reinitRows(vocabSize: 20, specialIDs: [0, 3, 19], fraction: 0.5, key: keys.embeddingTransform)
        XCTAssertEqual(rows.indices.filter { rows[$0] }, [5, 6, 9, 11, 14, 15, 16, 18])
        let scales = HardenedScheme.dimensionScales(hidden: 5, spread: 2, key: keys.embeddingTransform)
        for (a, b) in zip(scales, [0.8957143875441675, 0.5475183533836316, 1.1488232551315112, 0.9366022498926878, 0.7335002001934963]) {
            XCTAssertEqual(a, b, accuracy: 1e-15)
        }
        var noise = [Double](repeating: 0, count: 7)
        let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 64, alignment: 16)
        defer { scratch.deallocate() }
        keys.embeddingTransform.withBytes { k in
            noise.withUnsafeMutableBufferPointer {
                ChaCha20Stream.gaussians(key: k, nonce: ChaCha20Stream.nonce(domain: 1, index: 7), into: $0.baseAddress!, count: 7, scratch: scratch)
            }
        }
        let expected = [
            0.20999361023491056, -0.10309890571845967, 0.8116516156921345, 0.36626032318188756,
            -0.03437321038828085, 0.1293203746519346, -0.3494832766876002,
        ]
        for (a, b) in zip(noise, expected) { XCTAssertEqual(a, b, accuracy: 1e-14) }
    }

    func testPermutationIsABijectionFixingSpecialIDs() {
        let specials: Set<Int> = [0, 100, 101, 102, 103]
        let m = HardenedScheme.mapping(vocabSize: 30522, specialIDs: specials, key: SecretKey(raw: [UInt8](repeating: 7, count: 32)))
        XCTAssertEqual(Set(m).count, 30522)
        XCTAssertEqual(m.min(), 0)
        XCTAssertEqual(m.max(), 30521)
        for s in specials { XCTAssertEqual(m[s], s) }
        // Not an involution (the seed scheme's mapping is one) and hardly any fixed point (a uniform permutation has ~1).
        let involutive = m.indices.filter { m[m[$0]] == $0 && !specials.contains($0) }.count
        XCTAssertLessThan(involutive, 20)
        XCTAssertLessThan(m.indices.filter { m[$0] == $0 && !specials.contains($0) }.count, 10)
        // Another key, another permutation.
        let other = HardenedScheme.mapping(vocabSize: 30522, specialIDs: specials, key: SecretKey(raw: [UInt8](repeating: 8, count: 32)))
        XCTAssertGreaterThan(zip(m, other).filter { $0 != $1 }.count, 30000)
    }

    /// Chi-square statistic of the 5! = 120 orderings of 5 non-special ids over 12,000 keys.
    func permutationChiSquare(_ shuffle: (inout [Int], inout ChaCha20Stream) -> Void) -> Double {
        var counts: [[Int]: Int] = [:]
        let trials = 12_000
        for t in 0..<trials {
            var raw = [UInt8](repeating: 0, count: 32)
            for i in 0..<4 { raw[i] = UInt8(truncatingIfNeeded: t >> (8 * i)) }
            var stream = ChaCha20Stream(key: SecretKey(raw: raw), nonce: ChaCha20Stream.nonce(domain: 0, index: 0))
            var x = [1, 2, 3, 4, 5]
            shuffle(&x, &stream)
            counts[x, default: 0] += 1
        }
        let expected = Double(trials) / 120
        let seen = counts.values.reduce(0.0) { $0 + (Double($1) - expected) * (Double($1) - expected) / expected }
        return seen + Double(120 - counts.count) * expected  // orderings never drawn
    }

    func testPermutationIsUniformByChiSquare() {
        // 119 degrees of freedom: the 0.999 quantile is 172.5 (Wilson–Hilferty). Deterministic keys, so not flaky.
        let uniform = permutationChiSquare { x, s in HardenedScheme.fisherYates(&x, stream: &s) }
        XCTAssertLessThan(uniform, 172.5)
        // The test has power: the classic biased shuffle (j drawn from all positions at every step) fails it.
        let naive = permutationChiSquare { x, s in
            for i in x.indices { x.swapAt(i, Int(s.uniform(below: UInt64(x.count)))) }
        }
        XCTAssertGreaterThan(naive, 172.5)
        // And the mapping places each non-special id uniformly: positions of id 1 over 5 slots.
        var slot = [Int](repeating: 0, count: 5)
        for t in 0..<5000 {
            let m = HardenedScheme.mapping(
                vocabSize: 7, specialIDs: [0, 6], key: SecretKey(raw: [UInt8](repeating: UInt8(t % 251), count: 31) + [UInt8(t / 251)]))
            XCTAssertEqual(m[0], 0)
            XCTAssertEqual(m[6], 6)
            slot[m[1] - 1] += 1
        }
        let chi = slot.reduce(0.0) { $0 + (Double($1) - 1000) * (Double($1) - 1000) / 1000 }
        XCTAssertLessThan(chi, 18.47)  // 4 degrees of freedom, 0.999 quantile
    }

    func testUniformDrawsAndGaussiansHaveTheirDistributions() {
        var stream = ChaCha20Stream(key: SecretKey(raw: [UInt8](repeating: 3, count: 32)), nonce: ChaCha20Stream.nonce(domain: 9, index: 0))
        var counts = [Int](repeating: 0, count: 7)
        for _ in 0..<70_000 { counts[Int(stream.uniform(below: 7))] += 1 }
        XCTAssertLessThan(counts.reduce(0.0) { $0 + (Double($1) - 10_000) * (Double($1) - 10_000) / 10_000 }, 22.46)  // 6 df, 0.999
        for _ in 0..<1000 { XCTAssertEqual(stream.uniform(below: 1), 0) }

        let n = 100_000
        var z = [Double](repeating: 0, count: n)
        let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: n * 8, alignment: 16)
        defer { scratch.deallocate() }
        SecretKey(raw: [UInt8](repeating: 4, count: 32)).withBytes { k in
            z.withUnsafeMutableBufferPointer {
                ChaCha20Stream.gaussians(key: k, nonce: ChaCha20Stream.nonce(domain: 1, index: 0), into: $0.baseAddress!, count: n, scratch: scratch)
            }
        }
        let mean = z.reduce(0, +) / Double(n)
        let variance = z.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(n - 1)
        XCTAssertEqual(mean, 0, accuracy: 5 / Double(n).squareRoot())
        XCTAssertEqual(variance, 1, accuracy: 5 * (2 / Double(n)).squareRoot())
        let within = Double(z.filter { abs($0) < 1 }.count) / Double(n)
        XCTAssertEqual(within, 0.682689, accuracy: 5 * (0.6827 * 0.3173 / Double(n)).squareRoot())
    }

    // MARK: sentinel.json

    func testManifestRoundTripAndRefusals() throws {
        let kdf = Argon2idParameters(opsLimit: 3, memLimit: 256 << 20, salt: Array(0..<16))
        let manifest = HardenedManifest(
            kdf: kdf, transform: HardenedTransformOptions(scale: 0.5, noiseStd: 0.1, reinitFraction: 0.25),
            reinitStd: 0.02)
        let json = JSONValue.object(manifest.fields(embeddingDType: .F32))
        let text = json.serialized(.pretty)
        XCTAssertTrue(text.contains(#""salt": "000102030405060708090a0b0c0d0e0f""#), text)
        let parsed = try AdaptationManifest(json: try JSONValue.parse(text), path: "x/sentinel.json")
        XCTAssertEqual(parsed, .hardened(manifest))
        XCTAssertEqual(json["kdf"]?["algorithm"]?.stringValue, "argon2id13")
        XCTAssertEqual(json["embedding_transform"]?["function_preserving"]?.boolValue, false)

        func refused(_ changed: JSONValue, key: String) {
            XCTAssertThrowsError(try AdaptationManifest(json: changed, path: "x/sentinel.json")) { error in
                XCTAssertEqual((error as? InputError)?.key, key, "\(error)")
                XCTAssertEqual((error as? InputError)?.file, "x/sentinel.json")
            }
        }
        let kdfJSON = json["kdf"]!
        refused(json.setting("kdf", to: kdfJSON.setting("opslimit", to: .int(1000))), key: "kdf.opslimit")
        refused(json.setting("kdf", to: kdfJSON.setting("memlimit", to: .int(1 << 40))), key: "kdf.memlimit")
        refused(json.setting("kdf", to: kdfJSON.setting("salt", to: .string("00ff"))), key: "kdf.salt")
        refused(json.setting("kdf", to: kdfJSON.setting("algorithm", to: .string("scrypt"))), key: "kdf.algorithm")
        refused(json.setting("scheme_version", to: .int(2)), key: "scheme_version")
        refused(json.setting("scheme", to: .string("rot13")), key: "scheme")
        refused(
            json.setting("embedding_transform", to: json["embedding_transform"]!.setting("noise_std", to: .int(-1))),
            key: "embedding_transform")
        refused(
            json.setting("embedding_transform", to: json["embedding_transform"]!.setting("scale", to: .string("1"))),
            key: "embedding_transform.scale")
        XCTAssertEqual(try AdaptationManifest(json: .object([("scheme", .string("seed"))]), path: "s"), .seed)
    }
}
