// SentinelTokenizer (to come).
