extension SeedScheme {
    /// Fraction of MiniLM's vocabulary an attacker holding the public model recovers from a seed-scheme conversion by
    /// matching mean-centred rows (nearest neighbour, Euclidean): the glide transform adds a multiple of the all-ones
    /// vector, which centring removes. Measured by `Samples/crosscheck/row_matching.py` (README, "Scheme hardened").
    public static let measuredRowMatchingRecovery = "99.9"

    /// The one-line warning `convert --scheme seed` prints on stderr.
    public static let recoverabilityWarning =
        "scheme seed: anyone holding the public original model recovers the id mapping (\(measuredRowMatchingRecovery) % of MiniLM's "
        + "tokens by mean-centred row matching) and the 10,000-value seed is brute-forceable; use --scheme hardened"
}
