namespace AutoPrune.Pruning;

/// <summary>
/// Random floor: before the decoder, keeps T visual tokens drawn uniformly without replacement, in original order.
/// Seeded per prefill (setting seed, default 0) so a run is reproducible and independent of evaluation order; the
/// same seed gives the same index set for images of the same size — vary seed to measure the spread.
/// Budget T: keep round(T); without a budget keeps 25% of N0.
/// </summary>
public sealed class RandomPruning : PreDecoderPolicy
{
    public static readonly PolicyInfo Info = new("random", "before the decoder", "nothing: a seeded uniform draw (a floor)", "25% of the visual tokens", "original",
        [new("seed", SettingKind.Integer, "0", "random seed; the same seed draws the same tokens for images of one size")]);

    public override string Name => "random";
    private readonly int _seed;

    public RandomPruning(PolicyOptions options) : base(options)
    {
        var s = new SettingsReader(Info, options);
        _seed = s.Int("seed", int.MinValue, int.MaxValue) ?? 0;
    }

    protected override void Describe(Accounting.PrefillTrace trace, int? keep) => trace.Values["random.seed"] = _seed;

    protected override VisualSelection Select(PreDecoderContext ctx, int keep) => new(Select(ctx.VisualTokens, keep, _seed));

    /// <summary>Partial Fisher–Yates: the first k of a seeded shuffle, sorted.</summary>
    public static int[] Select(int n, int k, int seed)
    {
        var rng = new Random(seed);
        var idx = new int[n];
        for (int i = 0; i < n; i++) idx[i] = i;
        for (int i = 0; i < k; i++)
        {
            int j = rng.Next(i, n);
            (idx[i], idx[j]) = (idx[j], idx[i]);
        }
        var keep = idx[..k];
        Array.Sort(keep);
        return keep;
    }
}
