/// Evaluation metrics of the fine-tuning tasks, computed exactly as the Python libraries that HuggingFace's
/// examples report them with: entity-level scores of sequence labelling as `seqeval` 1.2.2's default mode
/// (`seqeval.metrics.classification_report` / `f1_score`, IOB2 with IOB1, IOE and IOBES tags tolerated) and the
/// accuracy and F1 of sequence classification as scikit-learn (`accuracy_score`, `f1_score`, what GLUE's metric in
/// HF `evaluate` reports for SST-2, MRPC and RTE). Known answers: `Formats/metrics/vectors.json`, made with the
/// libraries themselves by `Formats/metrics/make-vectors.py` (`Formats/metrics.md`).

/// One entity chunk of a tag sequence: its type and the positions of its first and last tag (inclusive).
public struct EntitySpan: Hashable, Sendable {
    /// The entity type, the tag without its prefix (`B-PER` → `PER`; `_` when the tag has none, as seqeval).
    public var type: String
    /// Position of the first tag of the chunk (0-based, within the sequence given to ``SequenceLabeling/entities(_:)``).
    public var start: Int
    /// Position of the last tag of the chunk (inclusive).
    public var end: Int

    public init(type: String, start: Int, end: Int) {
        self.type = type
        self.start = start
        self.end = end
    }
}

/// Precision, recall and F1 of one entity type or label, or their micro average, with the counts they come from.
public struct PrecisionRecallF1: Equatable, Sendable {
    /// `correct / predicted`, 0 when nothing was predicted (seqeval's and scikit-learn's `zero_division` default).
    public var precision: Double
    /// `correct / support`, 0 when there is no gold entity.
    public var recall: Double
    /// Harmonic mean of precision and recall, 0 when both are 0.
    public var f1: Double
    /// Number of gold entities (or gold rows of the label).
    public var support: Int
    /// Number of predicted entities (or rows predicted as the label).
    public var predicted: Int
    /// Number of predicted entities that are gold entities too (same type, same first and last position).
    public var correct: Int

    public init(precision: Double, recall: Double, f1: Double, support: Int, predicted: Int, correct: Int) {
        self.precision = precision
        self.recall = recall
        self.f1 = f1
        self.support = support
        self.predicted = predicted
        self.correct = correct
    }
}

/// Entity-level scores of a tagged data set: the micro average over every entity type (what seqeval's `f1_score`,
/// `precision_score`, `recall_score` return and HF's `overall_*` metrics report) and the scores of each type (the
/// rows of seqeval's `classification_report`).
public struct EntityScores: Equatable, Sendable {
    /// Micro-averaged precision over all entity types (all chunks pooled).
    public var precision: Double { overall.precision }
    /// Micro-averaged recall.
    public var recall: Double { overall.recall }
    /// Micro-averaged F1 (seqeval's default `f1_score`): the entity F1 reported for CoNLL-2003.
    public var f1: Double { overall.f1 }
    /// Number of gold entities of every type.
    public var support: Int { overall.support }
    /// The micro average with its counts.
    public var overall: PrecisionRecallF1
    /// The scores of each entity type found in the gold or the predicted tags.
    public var perType: [String: PrecisionRecallF1]
    /// Tag-level accuracy over every position (seqeval's `accuracy_score`, HF's `overall_accuracy`); 0 for no tag.
    public var tokenAccuracy: Double

    /// The entity types of ``perType`` in the order of seqeval's report (sorted by their code points).
    public var types: [String] {
        perType.keys.sorted { Array($0.unicodeScalars.map(\.value)).lexicographicallyPrecedes($1.unicodeScalars.map(\.value)) }
    }

    public init(overall: PrecisionRecallF1, perType: [String: PrecisionRecallF1], tokenAccuracy: Double) {
        self.overall = overall
        self.perType = perType
        self.tokenAccuracy = tokenAccuracy
    }
}

/// Entity chunking and scoring of tag sequences, as `seqeval.metrics.sequence_labeling` in its default mode
/// (`mode=None`, `suffix=False`; not the `strict` IOB2 mode).
public enum SequenceLabeling {
    /// The entity chunks of one tag sequence, in order, as `seqeval.metrics.sequence_labeling.get_entities(tags)`.
    ///
    /// A tag's first character is its role (`B`, `I`, `E`, `S`, `O`; any other character only ends and starts
    /// chunks by a type change, and `.` not even that) and the text after the first `-` of the rest is its type
    /// (`_` when empty): `I-` without a `B-` starts a chunk (IOB1), a type change ends one, `E-`/`S-` end one.
    /// An empty tag counts as `O` (seqeval fails on it with an `IndexError`).
    /// - Parameter tags: one sentence's tags, e.g. `["B-PER", "I-PER", "O"]`.
    /// - Returns: the chunks with 0-based inclusive positions.
    public static func entities(_ tags: [String]) -> [EntitySpan] {
        var chunks: [EntitySpan] = []
        var previousRole = "O", previousType = "", begin = 0
        for i in 0...tags.count {
            let (role, type) = i < tags.count ? split(tags[i]) : ("O", "_")
            if endsChunk(previousRole, role, previousType, type) {
                chunks.append(EntitySpan(type: previousType, start: begin, end: i - 1))
            }
            if startsChunk(previousRole, role, previousType, type) { begin = i }
            previousRole = role
            previousType = type
        }
        return chunks
    }

    /// Entity-level precision, recall and F1, micro-averaged and per type, and the tag accuracy, exactly as
    /// seqeval's default mode computes them (`classification_report(gold, predicted)`, `f1_score`, `accuracy_score`).
    ///
    /// As seqeval does, the sentences are joined with an `O` between them before chunking, and a predicted
    /// chunk is correct when a gold chunk has the same type, first and last position.
    /// - Parameters:
    ///   - gold: the reference tags, one array per sentence.
    ///   - predicted: the predicted tags, the same number of sentences, each the length of its gold sentence
    ///     (a programming error otherwise: it traps, as seqeval raises `ValueError`).
    /// - Returns: the scores; every value is 0 when neither side has an entity.
    public static func entityScores(gold: [[String]], predicted: [[String]]) -> EntityScores {
        precondition(gold.count == predicted.count, "entityScores: \(gold.count) gold sentences, \(predicted.count) predicted")
        var goldTags: [String] = [], predictedTags: [String] = []
        var tokens = 0, correctTags = 0
        for (g, p) in zip(gold, predicted) {
            precondition(g.count == p.count, "entityScores: a sentence has \(g.count) gold tags and \(p.count) predicted")
            tokens += g.count
            for (a, b) in zip(g, p) where a == b { correctTags += 1 }
            goldTags += g + ["O"]
            predictedTags += p + ["O"]
        }
        var goldByType: [String: Set<EntitySpan>] = [:], predictedByType: [String: Set<EntitySpan>] = [:]
        for e in entities(goldTags) { goldByType[e.type, default: []].insert(e) }
        for e in entities(predictedTags) { predictedByType[e.type, default: []].insert(e) }
        var perType: [String: PrecisionRecallF1] = [:]
        var support = 0, predictedCount = 0, correct = 0
        for type in Set(goldByType.keys).union(predictedByType.keys) {
            let g = goldByType[type] ?? [], p = predictedByType[type] ?? []
            let c = g.intersection(p).count
            perType[type] = scores(correct: c, predicted: p.count, support: g.count)
            support += g.count
            predictedCount += p.count
            correct += c
        }
        return EntityScores(
            overall: scores(correct: correct, predicted: predictedCount, support: support), perType: perType,
            tokenAccuracy: tokens == 0 ? 0 : Double(correctTags) / Double(tokens))
    }

    /// seqeval's `precision_recall_fscore_support` for one row: `_prf_divide` (0 for a zero denominator),
    /// then `F = (1 + β²)·P·R / (β²·P + R)` with β = 1, in that operation order.
    static func scores(correct: Int, predicted: Int, support: Int) -> PrecisionRecallF1 {
        let p = predicted == 0 ? 0 : Double(correct) / Double(predicted)
        let r = support == 0 ? 0 : Double(correct) / Double(support)
        let denominator = p + r
        let f = 2 * p * r / (denominator == 0 ? 1 : denominator)
        return PrecisionRecallF1(precision: p, recall: r, f1: f, support: support, predicted: predicted, correct: correct)
    }

    /// seqeval's `tag = chunk[0]`, `type_ = chunk[1:].split('-', maxsplit=1)[-1] or '_'` (code points).
    static func split(_ tag: String) -> (role: String, type: String) {
        let scalars = tag.unicodeScalars
        guard let first = scalars.first else { return ("O", "_") }
        let rest = scalars.dropFirst()
        let type = rest.firstIndex(of: "-").map { rest[rest.index(after: $0)...] } ?? rest
        return (String(first), type.isEmpty ? "_" : String(String.UnicodeScalarView(type)))
    }

    /// seqeval's `end_of_chunk`.
    static func endsChunk(_ previousRole: String, _ role: String, _ previousType: String, _ type: String) -> Bool {
        if previousRole == "E" || previousRole == "S" { return true }
        if previousRole == "B" || previousRole == "I", role == "B" || role == "S" || role == "O" { return true }
        return previousRole != "O" && previousRole != "." && previousType != type
    }

    /// seqeval's `start_of_chunk`.
    static func startsChunk(_ previousRole: String, _ role: String, _ previousType: String, _ type: String) -> Bool {
        if role == "B" || role == "S" { return true }
        if previousRole == "E" || previousRole == "S" || previousRole == "O", role == "E" || role == "I" { return true }
        return role != "O" && role != "." && previousType != type
    }
}

/// Accuracy and F1 of a sequence-classification data set, as scikit-learn computes them (GLUE's metric in HF
/// `evaluate`: accuracy for SST-2 and RTE, accuracy and F1 for MRPC and QQP).
public struct ClassificationScores: Equatable, Sendable {
    /// Fraction of rows whose predicted label is the gold one (`sklearn.metrics.accuracy_score`); 0 for no row.
    public var accuracy: Double
    /// F1 of label 1 as the positive class (`f1_score(gold, predicted)`, `average='binary'`, `pos_label=1`),
    /// nil unless `labelCount` is 2; 0 when label 1 is neither gold nor predicted.
    public var binaryF1: Double?
    /// Unweighted mean of the per-label F1 over the labels that occur in the gold or the predicted labels
    /// (`f1_score(gold, predicted, average='macro')`, whose default label set is those labels).
    public var macroF1: Double
    /// Precision, recall, F1 and support of each label `0..<labelCount` (`precision_recall_fscore_support(gold,
    /// predicted, labels=range(labelCount))`; a label never gold nor predicted has all zeros).
    public var perLabel: [PrecisionRecallF1]

    public init(accuracy: Double, binaryF1: Double?, macroF1: Double, perLabel: [PrecisionRecallF1]) {
        self.accuracy = accuracy
        self.binaryF1 = binaryF1
        self.macroF1 = macroF1
        self.perLabel = perLabel
    }

    /// Scores predicted label indices against gold ones.
    ///
    /// Per label, as scikit-learn 1.9: `P = tp / (tp + fp)`, `R = tp / (tp + fn)`, `F1 = 2·tp / (2·tp + fp + fn)`
    /// (its confusion-count form, not the harmonic mean of the rounded P and R), each 0 on a zero denominator.
    /// - Parameters:
    ///   - gold: the reference label of each row, each in `0..<labelCount`.
    ///   - predicted: the predicted label of each row, as many as `gold`, each in `0..<labelCount` (a programming
    ///     error otherwise: it traps).
    ///   - labelCount: the number of labels of the task (2 for SST-2, MRPC, RTE).
    public static func compute(gold: [Int], predicted: [Int], labelCount: Int) -> ClassificationScores {
        precondition(gold.count == predicted.count, "ClassificationScores: \(gold.count) gold labels, \(predicted.count) predicted")
        precondition(labelCount > 0, "ClassificationScores: labelCount \(labelCount)")
        var truePositives = [Int](repeating: 0, count: labelCount)
        var goldCounts = truePositives, predictedCounts = truePositives
        for (g, p) in zip(gold, predicted) {
            precondition(
                (0..<labelCount).contains(g) && (0..<labelCount).contains(p), "ClassificationScores: label \(g) or \(p) not in 0..<\(labelCount)")
            goldCounts[g] += 1
            predictedCounts[p] += 1
            if g == p { truePositives[g] += 1 }
        }
        let perLabel = (0..<labelCount).map { l -> PrecisionRecallF1 in
            let tp = truePositives[l], pred = predictedCounts[l], sup = goldCounts[l]
            let f1Denominator = sup + pred
            return PrecisionRecallF1(
                precision: pred == 0 ? 0 : Double(tp) / Double(pred), recall: sup == 0 ? 0 : Double(tp) / Double(sup),
                f1: f1Denominator == 0 ? 0 : 2 * Double(tp) / Double(f1Denominator), support: sup, predicted: pred, correct: tp)
        }
        let present = (0..<labelCount).filter { goldCounts[$0] + predictedCounts[$0] > 0 }
        let macro = present.isEmpty ? 0 : present.reduce(0.0) { $0 + perLabel[$1].f1 } / Double(present.count)
        return ClassificationScores(
            accuracy: gold.isEmpty ? 0 : Double(truePositives.reduce(0, +)) / Double(gold.count),
            binaryF1: labelCount == 2 ? perLabel[1].f1 : nil, macroF1: macro, perLabel: perLabel)
    }
}
