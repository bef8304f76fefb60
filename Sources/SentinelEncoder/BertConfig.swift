import SentinelCore

/// The geometry of a BERT encoder, read from a HuggingFace `config.json`
/// (`transformers.BertConfig` field names).
public struct BertConfig: Sendable, Equatable {
    /// Vocabulary size (`vocab_size`); the word-embedding matrix is `[vocabSize, hiddenSize]`.
    public var vocabSize: Int
    /// Width of every hidden state (`hidden_size`).
    public var hiddenSize: Int
    /// Number of encoder layers (`num_hidden_layers`).
    public var layerCount: Int
    /// Attention heads per layer (`num_attention_heads`); must divide ``hiddenSize``.
    public var headCount: Int
    /// Width of the feed-forward layer (`intermediate_size`).
    public var intermediateSize: Int
    /// Feed-forward activation (`hidden_act`).
    public var activation: Activation
    /// LayerNorm epsilon (`layer_norm_eps`).
    public var layerNormEps: Float
    /// Number of learned positions (`max_position_embeddings`): the longest sequence the model accepts.
    public var maxPositions: Int
    /// Number of segment types (`type_vocab_size`).
    public var typeVocabSize: Int
    /// Label names of a fine-tuned classifier by label index (`id2label`), in index order; empty when absent.
    public var labelNames: [String] = []
    /// `model_type` (`bert`, `roberta`, …); nil when absent (then BERT is assumed).
    public var modelType: String?
    /// How position ids are made (see ``PositionIDs``); RoBERTa's for `model_type` roberta, xlm-roberta, camembert.
    public var positionIDs: PositionIDs = .absolute

    /// Position ids of the embeddings.
    public enum PositionIDs: Sendable, Equatable {
        /// BERT: `0, 1, …, L-1` for every row.
        case absolute
        /// RoBERTa (`create_position_ids_from_input_ids`): `paddingIndex + 1 + (non-pad tokens so far)` for a token
        /// that is not `paddingIndex` (`pad_token_id`), `paddingIndex` for a pad token.
        case roberta(paddingIndex: Int32)
    }

    /// Model types whose embeddings use RoBERTa position ids.
    public static let robertaModelTypes: Set<String> = ["roberta", "xlm-roberta", "camembert"]

    /// The longest input in tokens: `max_position_embeddings`, less `pad_token_id + 1` for RoBERTa position ids.
    public var maxSequenceLength: Int {
        switch positionIDs {
        case .absolute: return maxPositions
        case let .roberta(pad): return max(0, maxPositions - Int(pad) - 1)
        }
    }

    /// Width of one attention head: `hiddenSize / headCount`.
    public var headSize: Int { hiddenSize / headCount }

    /// Largest accepted value of each size field, so that a hostile config cannot ask for absurd allocations.
    public static let maxDimension = 1 << 20

    public init(
        vocabSize: Int, hiddenSize: Int, layerCount: Int, headCount: Int, intermediateSize: Int,
        activation: Activation = .gelu, layerNormEps: Float = 1e-12, maxPositions: Int = 512, typeVocabSize: Int = 2
    ) {
        self.vocabSize = vocabSize
        self.hiddenSize = hiddenSize
        self.layerCount = layerCount
        self.headCount = headCount
        self.intermediateSize = intermediateSize
        self.activation = activation
        self.layerNormEps = layerNormEps
        self.maxPositions = maxPositions
        self.typeVocabSize = typeVocabSize
    }

    /// Reads `config.json`.
    /// - Throws: ``InputError`` (`.notJSON`, `.invalidStructure`, `.missing`, `.outOfRange`) naming the file
    ///   and key; ``OutputError`` when the file cannot be read.
    public static func load(path: String) throws -> BertConfig {
        let file = try MappedFile(path: path)
        let json: JSONValue
        do { json = try JSONValue.parse(file.bytes) } catch let e as JSONValue.ParseError {
            throw InputError(.notJSON, file: path, offset: e.offset, "config is not valid JSON: \(e.reason)")
        }
        return try BertConfig(json: json, file: path)
    }

    /// Reads the fields from a parsed `config.json`. Defaults follow `transformers.BertConfig` for the
    /// optional fields (`hidden_act` "gelu", `layer_norm_eps` 1e-12, `max_position_embeddings` 512,
    /// `type_vocab_size` 2).
    /// - Throws: ``InputError`` naming `file` and the key.
    public init(json: JSONValue, file: String) throws {
        guard json.objectValue != nil else {
            throw InputError(.invalidStructure, file: file, "config must be a JSON object")
        }
        func int(_ key: String, default value: Int? = nil) throws -> Int {
            guard let v = json[key] else {
                if let value { return value }
                throw InputError(.missing, file: file, key: key, "required field is missing")
            }
            guard let i = v.intValue else {
                throw InputError(.invalidStructure, file: file, key: key, "must be an integer")
            }
            guard i >= 1, i <= Self.maxDimension else {
                throw InputError(.outOfRange, file: file, key: key, "\(i) is outside 1...\(Self.maxDimension)")
            }
            return i
        }
        vocabSize = try int("vocab_size")
        hiddenSize = try int("hidden_size")
        layerCount = try int("num_hidden_layers")
        headCount = try int("num_attention_heads")
        intermediateSize = try int("intermediate_size")
        maxPositions = try int("max_position_embeddings", default: 512)
        typeVocabSize = try int("type_vocab_size", default: 2)
        if let v = json["hidden_act"] {
            guard let name = v.stringValue else {
                throw InputError(.invalidStructure, file: file, key: "hidden_act", "must be a string")
            }
            guard let act = Activation(huggingFaceName: name) else {
                throw InputError(
                    .outOfRange, file: file, key: "hidden_act",
                    "activation '\(name)' is not supported (gelu, gelu_new, gelu_pytorch_tanh, relu)")
            }
            activation = act
        } else {
            activation = .gelu
        }
        if let v = json["layer_norm_eps"] {
            guard let eps = v.doubleValue, eps >= 0, eps < 1 else {
                throw InputError(.outOfRange, file: file, key: "layer_norm_eps", "must be a number in [0, 1)")
            }
            layerNormEps = Float(eps)
        } else {
            layerNormEps = 1e-12
        }
        if let v = json["position_embedding_type"], v.stringValue != "absolute" {
            throw InputError(
                .outOfRange, file: file, key: "position_embedding_type",
                "only absolute position embeddings are supported")
        }
        if let map = json["id2label"] {
            guard let pairs = map.objectValue else {
                throw InputError(.invalidStructure, file: file, key: "id2label", "must be an object of index → label name")
            }
            var names = [String?](repeating: nil, count: pairs.count)
            for (key, value) in pairs {
                guard let i = Int(key), i >= 0, i < pairs.count, names[i] == nil, let name = value.stringValue else {
                    throw InputError(
                        .invalidStructure, file: file, key: "id2label.\(key)",
                        "keys must be the indices 0..<\(pairs.count), each once, with string values")
                }
                names[i] = name
            }
            labelNames = names.compactMap { $0 }
        }
        if let v = json["model_type"] {
            guard let name = v.stringValue else {
                throw InputError(.invalidStructure, file: file, key: "model_type", "must be a string")
            }
            modelType = name
        }
        if let type = modelType, Self.robertaModelTypes.contains(type) {
            let pad = json["pad_token_id"]?.intValue ?? 1
            guard pad >= 0, pad < maxPositions - 1 else {
                throw InputError(
                    .outOfRange, file: file, key: "pad_token_id",
                    "\(pad) leaves no position below max_position_embeddings \(maxPositions)")
            }
            positionIDs = .roberta(paddingIndex: Int32(pad))
        }
        guard hiddenSize % headCount == 0 else {
            throw InputError(
                .outOfRange, file: file, key: "num_attention_heads",
                "hidden_size \(hiddenSize) is not a multiple of num_attention_heads \(headCount)")
        }
    }
}
