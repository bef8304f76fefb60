import SentinelCore
#if canImport(Glibc)
    import Glibc
#endif

/// The timing loop of `sentinel bench train`: whole training steps (training-mode forward, backward, clipping,
/// AdamW) on a fixed random batch.
public enum TrainingBenchmark {
    /// Floating-point operations of one training step of token classification: the forward products
    /// (Q/K/V/output/FFN, Q·Kᵀ, P·V, classifier) counted three times (forward, ∂input, ∂weight), 2 per multiply-add.
    public static func flops(_ c: BertConfig, batch b: Int, length l: Int, labels: Int) -> Double {
        let t = Double(b * l), h = Double(c.hiddenSize), f = Double(c.intermediateSize)
        let perLayer = t * (4 * h * h + 2 * h * f) + 2 * Double(b) * Double(l) * Double(l) * h
        return 3 * 2 * (Double(c.layerCount) * perLayer + t * h * Double(labels))
    }

    /// A `[batch, L]` batch of pseudo-random ids (`[CLS]` = 101 first, then ids ≥ 1000; no padding) and random
    /// token labels `0..<labels`, from a fixed LCG.
    public static func randomTokenBatch(batch b: Int, length l: Int, vocab: Int, labels: Int) throws -> (EncoderBatch, [Int32]) {
        var state: UInt32 = 12345
        var ids: [Int32] = [], tags: [Int32] = []
        for i in 0..<(b * l) {
            state = state &* 1_664_525 &+ 1_013_904_223
            ids.append(i % l == 0 ? 101 : Int32(1000 + Int(state >> 8) % max(1, vocab - 1000)))
            tags.append(Int32(Int(state >> 4) % labels))
        }
        return (try EncoderBatch(batchSize: b, sequenceLength: l, inputIDs: ids), tags)
    }

    /// A classifier `[labels, hidden]` with uniform weights of standard deviation 0.02 (HF's `initializer_range`) and
    /// zero bias, from a SplitMix64 stream.
    public static func randomClassifier(labels: Int, hidden: Int, seed: UInt64 = 0) -> ClassificationHead {
        var state = seed &+ 0x9E37_79B9_7F4A_7C15
        var w: [Float] = []
        w.reserveCapacity(labels * hidden)
        for _ in 0..<(labels * hidden) {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            z ^= z >> 31
            w.append((Float(z >> 40) / Float(1 << 24) * 2 - 1) * 0.034_641_016)
        }
        return ClassificationHead(
            linear: Linear(
                weight: Parameter(name: "classifier.weight", shape: [labels, hidden], values: w),
                bias: Parameter(name: "classifier.bias", shape: [labels])))
    }

    /// One timed training step and the machine's sgemm throughput measured just before it.
    public struct Sample: Sendable {
        /// Wall time of `forwardBackward` + `step`, seconds.
        public var seconds: Double
        /// GFLOP/s of a 2048³ sgemm split over the cores as the encoder splits its products, measured just before.
        public var pairedPeak: Double
    }

    /// `repeats` training steps (`forwardBackward` + `step`) after `warmup` untimed ones, each paired with a 2048³
    /// sgemm measured just before it (so that a step's fraction of the machine's peak stays meaningful when other
    /// processes load the machine).
    public static func measure(
        _ session: TrainingSession, batch: EncoderBatch, labels: [Int32], warmup: Int = 2,
        repeats: Int = 5
    ) throws -> [Sample] {
        for _ in 0..<warmup {
            _ = try session.forwardBackward(batch, labels: labels)
            session.step()
        }
        var samples: [Sample] = []
        for _ in 0..<max(1, repeats) {
            let peak = BLAS.measureSgemmPeak(repeats: 0, mode: .rowBlocks)
            let t0 = monotonicSeconds()
            _ = try session.forwardBackward(batch, labels: labels)
            session.step()
            samples.append(Sample(seconds: monotonicSeconds() - t0, pairedPeak: peak))
        }
        return samples
    }

    /// The 1-minute load average (`/proc/loadavg`), or `nil` where it cannot be read.
    public static func loadAverage() -> Double? {
        var v = [Double](repeating: 0, count: 3)
        return getloadavg(&v, 3) >= 1 ? v[0] : nil
    }
}
