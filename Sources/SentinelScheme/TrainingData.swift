import SentinelCore

/// Labels of encoded dataset records for fine-tuning and evaluation (`sentinel finetune`, `sentinel evaluate`).
public enum TrainingLabels {
    /// The label names of an NER training set, `O` first, then for each entity type in order of first appearance
    /// its `B-` and `I-` tags (those present), then any other tag in order of first appearance.
    public static func nerNames(_ records: [InputRecord]) -> [String] {
        var seen = Set<String>(), order: [String] = []
        for r in records {
            for l in r.wordLabels ?? [] where seen.insert(l).inserted { order.append(l) }
        }
        var out: [String] = seen.contains("O") ? ["O"] : []
        var types: [String] = []
        for l in order where l.hasPrefix("B-") || l.hasPrefix("I-") {
            let t = String(l.dropFirst(2))
            if !types.contains(t) { types.append(t) }
        }
        for t in types {
            for p in ["B-", "I-"] where seen.contains(p + t) { out.append(p + t) }
        }
        for l in order where !out.contains(l) { out.append(l) }
        return out
    }

    /// The label names of a classification training set: sorted, numerically when every label is an integer
    /// (GLUE's `0`, `1`).
    public static func classificationNames(_ records: [InputRecord]) -> [String] {
        let names = Array(Set(records.compactMap(\.label)))
        let ints = names.compactMap { Int($0) }
        if ints.count == names.count { return ints.sorted().map(String.init) }
        return names.sorted()
    }

    /// Per position of `record.encoding`: the id of the word's label at the first piece of each word that survived
    /// truncation, `-100` elsewhere (special tokens, later pieces), as HF's token-classification recipe aligns them.
    /// - Throws: ``InputError`` (`.missing`, file `source`) for a record without word labels, `.outOfRange` for a label
    ///   not in `ids` (naming the record's line).
    public static func tokenLabels(_ record: InputRecord, ids: [String: Int32], source: String) throws -> [Int32] {
        guard let labels = record.wordLabels else {
            throw InputError(.missing, file: source, key: "line \(record.line)", "the record has no word labels")
        }
        var out = [Int32](repeating: -100, count: record.encoding.inputIDs.count)
        for (k, word) in record.words.enumerated() where k < labels.count {
            guard let id = ids[labels[k]] else {
                throw InputError(
                    .outOfRange, file: source, key: "line \(record.line)", "label '\(labels[k])' is not one of the training set's labels")
            }
            out[word.position] = id
        }
        return out
    }

    /// The label id of a classification record.
    /// - Throws: ``InputError`` (`.missing` for no label, `.outOfRange` for a label not in `ids`), naming the line.
    public static func sequenceLabel(_ record: InputRecord, ids: [String: Int32], source: String) throws -> Int32 {
        guard let label = record.label else {
            throw InputError(.missing, file: source, key: "line \(record.line)", "the record has no label")
        }
        guard let id = ids[label] else {
            throw InputError(.outOfRange, file: source, key: "line \(record.line)", "label '\(label)' is not one of the training set's labels")
        }
        return id
    }
}
