public let sentinelVersion = "0.1.0"
