extension SeedScheme {
    /// What an attacker holding the public model recovers from a seed-scheme conversion of MiniLM by matching
    /// mean-centred rows (nearest neighbour, Euclidean; the glide transform adds a multiple of the all-ones vector, which
    /// centring removes). Measured with `Samples/crosscheck/row_matching.py` on a `--shuffle` conversion (README,
    /// "Scheme hardened"); the audit (`sentinel audit`) is the reference figure and should replace it when it differs.
    public static let measuredRowMatchingRecovery = "on MiniLM, 100 % of its 30,517 hashed tokens; `sentinel audit` measures any model"

    /// The one-line warning `convert --scheme seed` prints on stderr.
    public static let recoverabilityWarning =
        "scheme seed: anyone holding the public original model recovers the id mapping by mean-centred row matching "
        + "(\(measuredRowMatchingRecovery)), and its 10,000-value seed is brute-forceable; use --scheme hardened"

    /// The report warning of a seed conversion without `--shuffle`: the ids stay where they are.
    public static let unshuffledWarning =
        "no --shuffle: every token keeps its id (only the tokens are hashed and the rows glided), so the adapted model "
        + "reads the original's plain ids unchanged; pass --shuffle to permute ids and rows as the reference's --shuffle does"
}
