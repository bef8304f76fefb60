import Foundation
import SentinelAudit
import SentinelCore
import SentinelEncoder
import SentinelTokenizer
import SentinelTestSupport
import XCTest

/// Frequency analysis on a synthetic ciphertext whose digest counts follow the corpus's token counts except for
/// known rank swaps: each swapped pair is decoded wrongly, everything else rightly.
final class FrequencyAnalysisTests: XCTestCase {
    func testRankMatchingDecodesExactlyTheUnswappedTokens() throws {
        let n = 60, d = 4
        var rng = TestRandom(9)
        var perm = rng.permutation(n)
        if let i = perm.firstIndex(of: 0) { perm.swapAt(i, 0) }  // id 0 is special: not moved
        // Corpus: original id i (i ≥ 1) occurs 1000 - 10 i times; id 0 (special) 5000 times (ignored).
        var corpus = (0..<n).map { 1000 - 10 * $0 }
        corpus[0] = 5000
        // Ciphertext: adapted id a occurs 3 × the corpus count of its token, except two adjacent-rank pairs
        // (original ids 3↔4 and 20↔21) whose counts are exchanged, and ids 40… which do not occur at all.
        var cipher = [Int](repeating: 0, count: n)
        let swapped: [Int: Int] = [3: 4, 4: 3, 20: 21, 21: 20]
        for a in 1..<n {
            let t = perm[a]
            guard t < 40 else { continue }
            cipher[a] = 3 * corpus[swapped[t] ?? t]
        }
        let input = AuditInput(
            original: FloatTensor(shape: [n, d], values: [Float](repeating: 0, count: n * d)),
            adapted: FloatTensor(shape: [n, d], values: [Float](repeating: 0, count: n * d)),
            truth: perm.map(Int32.init), hidden: perm.map { $0 != 0 }, anchors: [IDPair(adapted: 0, original: 0)])
        let evidence = FrequencyEvidence(ciphertextCounts: cipher, corpusCounts: corpus)
        let report = IrreversibilityAudit.run(input, attacks: [.ciphertextFrequency], ciphertext: evidence)
        let r = try XCTUnwrap(report.attacks.first)
        XCTAssertEqual(r.name, .ciphertextFrequency)
        let total = (1..<40).reduce(0) { $0 + 3 * corpus[$1] }
        let wrong = [3, 4, 20, 21].reduce(0) { $0 + 3 * corpus[swapped[$1]!] }
        XCTAssertEqual(r.recoveredTop1, Double(total - wrong) / Double(total))
        XCTAssertEqual(r.recoveredTop10, 1.0)  // each swapped token is one rank off: within the window
        XCTAssertEqual(r.values.first { $0.0 == "distinct_digests_decoded" }?.1.intValue, 39 - 4)
        XCTAssertFalse(r.passed)

        // Without a ciphertext the attack does not run.
        XCTAssertTrue(IrreversibilityAudit.run(input, attacks: [.ciphertextFrequency]).attacks.isEmpty)
    }

    /// The file readers: digests in `sentinel encrypt` text and conll output are counted in the adapted vocabulary
    /// (upper-case accepted, other hex runs ignored), a corpus is tokenized by the original tokenizer, and a ciphertext
    /// with no digest of this model is an InputError naming the file.
    func testCiphertextAndCorpusReaders() throws {
        let tmp = try Fixtures.temporaryDirectory("audit-freq")
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        let d1 = String(repeating: "ab", count: 16), d2 = String(repeating: "0f", count: 16), other = String(repeating: "99", count: 16)
        let vocabulary = WordPieceVocabulary(tokens: ["[PAD]", "[UNK]", "[CLS]", "[SEP]", d1, d2])
        try "\(d1) \(d2) \(d1)\n\(d1.uppercased()) \(other) deadbeef\n".write(toFile: tmp + "/text.txt", atomically: true, encoding: .utf8)
        let (counts, unknown) = try FrequencyAnalysis.ciphertextCounts(path: tmp + "/text.txt", vocabulary: vocabulary)
        XCTAssertEqual(counts, [0, 0, 0, 0, 3, 1])
        XCTAssertEqual(unknown, 1)
        try "{\"tokens\": [\"\(d2)\", \"\(d2)\"], \"word_ids\": [0, 0], \"labels\": [\"O\"]}\n".write(
            toFile: tmp + "/c.jsonl", atomically: true, encoding: .utf8)
        XCTAssertEqual(try FrequencyAnalysis.ciphertextCounts(path: tmp + "/c.jsonl", vocabulary: vocabulary).counts, [0, 0, 0, 0, 0, 2])
        try "\(other)\n".write(toFile: tmp + "/foreign.txt", atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try FrequencyAnalysis.ciphertextCounts(path: tmp + "/foreign.txt", vocabulary: vocabulary)) { e in
            XCTAssertEqual((e as? InputError)?.code, .missing)
            XCTAssertEqual((e as? InputError)?.file, tmp + "/foreign.txt")
        }

        let tokenizer = try BertTokenizer(
            vocabulary: WordPieceVocabulary(tokens: ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat", "##s", "."]))
        try "The cats.\nthe cat\n\n".write(toFile: tmp + "/corpus.txt", atomically: true, encoding: .utf8)
        let text = try FrequencyAnalysis.corpusCounts(path: tmp + "/corpus.txt", tokenizer: tokenizer)
        XCTAssertEqual(text.counts, [0, 0, 0, 0, 0, 2, 2, 1, 1])
        XCTAssertEqual(text.tokens, 6)
        try "-DOCSTART- -X- -X- O\n\nThe DT B-NP O\ncats NNS I-NP O\n. . O O\n\nthe DT B-NP O\n".write(
            toFile: tmp + "/c.conll", atomically: true, encoding: .utf8)
        let conll = try FrequencyAnalysis.corpusCounts(path: tmp + "/c.conll", tokenizer: tokenizer)
        XCTAssertEqual(conll.counts, [0, 0, 0, 0, 0, 2, 1, 1, 1])
    }
}
