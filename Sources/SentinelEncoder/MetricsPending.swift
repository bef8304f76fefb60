// PLACEHOLDER until branch `metrics` (Sources/SentinelEncoder/Metrics.swift) is merged: the same API, no
// implementation (every score is NaN). Delete this file in the merge.

public struct EntityScores: Sendable {
    public var precision = Double.nan, recall = Double.nan, f1 = Double.nan
}

public enum SequenceLabeling {
    public static func entityScores(gold: [[String]], predicted: [[String]]) -> EntityScores { EntityScores() }
}

public struct ClassificationScores: Sendable {
    public var accuracy = Double.nan, binaryF1: Double? = nil, macroF1 = Double.nan
    public static func compute(gold: [Int], predicted: [Int], labelCount: Int) -> ClassificationScores { ClassificationScores() }
}
