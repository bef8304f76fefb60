// SentinelEncoder (to come).
