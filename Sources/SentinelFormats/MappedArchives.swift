import SentinelCore

/// The archives whose tensors the encoder can use in place (see ``MappedTensorArchive``).
extension SafeTensorsFile: MappedTensorArchive {
    public func mappedBytes(of name: String) -> UnsafeRawBufferPointer? {
        tensor(named: name).map { bytes(of: $0) }
    }
}

extension ShardedArchive: MappedTensorArchive {
    /// The view of the shard that holds `name`, when that shard is itself memory-mapped (safetensors shards).
    public func mappedBytes(of name: String) -> UnsafeRawBufferPointer? {
        for shard in shards where shard.entry(named: name) != nil {
            return (shard as? MappedTensorArchive)?.mappedBytes(of: name)
        }
        return nil
    }
}
