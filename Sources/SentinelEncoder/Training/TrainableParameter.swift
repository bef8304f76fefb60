import SentinelCore

/// One parameter as the optimizer sees it: its HuggingFace name, its values (the model's own
/// ``Parameter``, updated in place), its gradient and its AdamW state.
///
/// The gradient and moments are float32 buffers of the parameter's shape, zero-filled; the moments are
/// allocated at the first optimizer step (or when a state is restored).
public final class TrainableParameter {
    /// HuggingFace name without the task prefix, e.g. `encoder.layer.0.attention.self.query.weight`,
    /// `pooler.dense.bias`, `classifier.weight`.
    public let name: String
    /// The model's parameter (its values are what the forward pass reads).
    public let parameter: Parameter
    /// AdamW weight decay of this parameter's group (0 for biases and LayerNorm, HF Trainer's grouping).
    public let weightDecay: Double
    /// `∂loss/∂parameter`, `[count]` row-major, accumulated by every backward pass until cleared.
    let gradient: UnsafeMutablePointer<Float>
    /// AdamW `exp_avg` and `exp_avg_sq`, `nil` before the first step.
    var expAvg: UnsafeMutablePointer<Float>?
    var expAvgSq: UnsafeMutablePointer<Float>?

    public var shape: [Int] { parameter.shape }
    public var count: Int { parameter.count }

    init(name: String, parameter: Parameter, weightDecay: Double) {
        self.name = name
        self.parameter = parameter
        self.weightDecay = weightDecay
        gradient = .allocate(capacity: max(parameter.count, 1))
        gradient.initialize(repeating: 0, count: max(parameter.count, 1))
        _ = parameter.mutableValues()
    }

    deinit {
        gradient.deallocate()
        expAvg?.deallocate()
        expAvgSq?.deallocate()
    }

    /// The accumulated gradient (a copy), `shape` row-major.
    public var gradientValues: [Float] { Array(UnsafeBufferPointer(start: gradient, count: count)) }

    /// AdamW's `exp_avg` (a copy; zeros before the first step).
    public var expAvgValues: [Float] { expAvg.map { Array(UnsafeBufferPointer(start: $0, count: count)) } ?? Array(repeating: 0, count: count) }

    /// AdamW's `exp_avg_sq` (a copy; zeros before the first step).
    public var expAvgSqValues: [Float] { expAvgSq.map { Array(UnsafeBufferPointer(start: $0, count: count)) } ?? Array(repeating: 0, count: count) }

    func ensureMoments() {
        if expAvg == nil {
            let n = max(count, 1)
            expAvg = .allocate(capacity: n)
            expAvg!.initialize(repeating: 0, count: n)
            expAvgSq = .allocate(capacity: n)
            expAvgSq!.initialize(repeating: 0, count: n)
        }
    }
}
