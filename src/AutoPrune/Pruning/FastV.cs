namespace AutoPrune.Pruning;

/// <summary>
/// FastV — "An Image is Worth 1/2 Tokens After Layer 2" (Chen et al., ECCV 2024; pkunlp-icler/FastV).
/// Ranks visual tokens by the head-mean attention that the LAST prompt token pays them in layer K−1, and from layer
/// K on keeps the top (1−R)·N0 in their original order. Positions: original (as the official inplace mode).
/// Defaults: K = 2 for 32 layers, scaled to the model's depth (8 layers → 1); R = 0.5 when no budget is given.
/// Settings: K (decoder layer where pruning takes effect, 1..L−1, in the model's own layers), R (0 ≤ R &lt; 1; only
/// without a budget).
/// Budget T (mean over all L layers): keep = round((L·T − K·N0)/(L − K)), so layers 0..K−1 at N0 and the rest at keep
/// average to T within half a token; the lowest feasible T is (K·N0 + L − K)/L (one token after layer K−1).
/// Differs from the official code: keep count is solved from the budget instead of int(N0·(1−R)); scores come from
/// our engine's attention rows (the same softmax rows as eager attention, float32 instead of fp16).
/// </summary>
public sealed class FastV : IPruningPolicy
{
    public static readonly PolicyInfo Info = new("fastv", "once, after layer K-1", "attention of the last prompt token",
        "R = 0.5: half of the visual tokens from layer K on", "original",
    [
        new("K", SettingKind.Integer, "2 of 32 layers, scaled to depth", "decoder layer where pruning takes effect, 1..L-1"),
        new("R", SettingKind.Number, "0.5", "fraction dropped at layer K, 0 <= R < 1; only without a budget"),
    ]);

    public string Name => "fastv";
    public PositionMode Positions { get; }

    private readonly double? _budget, _ratio;
    private readonly int? _k;

    public FastV(PolicyOptions options)
    {
        var s = new SettingsReader(Info, options);
        _k = s.Int("K", 1, 10_000);
        _ratio = s.Double("R", 0, 1);
        if (_ratio >= 1) throw new PruningOptionException("fastv: setting R must be below 1 (R=1 would drop every visual token)");
        if (_ratio != null && options.Budget != null)
            throw new PruningOptionException("fastv: give either a budget or R, not both (the budget determines R)");
        _budget = options.Budget;
        Positions = options.Positions ?? PositionMode.Original;
    }

    public IPruningRun Begin(PruningSetup setup)
    {
        int n0 = setup.VisualTokens, L = setup.DecoderLayers;
        if (LayerSchedule.KeepsAll(_budget, n0, setup)) return NoPruning.KeepAll.Instance;
        if (L < 2) throw new PruningOptionException($"fastv: a {L}-layer decoder has no layer to prune after");
        int k = _k ?? LayerSchedule.Scale(2, L);
        if (k > L - 1) throw new PruningOptionException($"fastv: K={k} must be within 1..{L - 1} for a {L}-layer decoder");
        int keep;
        if (_budget is { } t)
        {
            LayerSchedule.CheckBudget(Name, t, n0, LayerSchedule.LowestFeasible(n0, L, k),
                $"layers 0..{k - 1} process all {n0} tokens, at least one token afterwards");
            keep = Math.Clamp((int)Math.Round((L * t - k * (double)n0) / (L - k), MidpointRounding.AwayFromZero), 1, n0);
            setup.Trace.Budget = t;
        }
        else keep = Math.Clamp((int)Math.Round(n0 * (1 - (_ratio ?? 0.5)), MidpointRounding.AwayFromZero), 1, n0);
        setup.Trace.Values["fastv.K"] = k;
        setup.Trace.Values["fastv.keep"] = keep;
        setup.Trace.Values["fastv.R"] = 1 - keep / (double)n0;
        return new Run(k - 1, keep);
    }

    /// <summary>Prunes once, after <paramref name="layer"/>, to <paramref name="keep"/> tokens.</summary>
    private sealed class Run(int layer, int keep) : IPruningRun
    {
        public VisualSelection? AfterLayer(LayerContext ctx)
        {
            if (ctx.Layer != layer || keep >= ctx.VisualCount) return null;
            return new VisualSelection(Ranking.TopKInOrder(BaselineScores.LastRowVisualAttention(ctx), keep));
        }
    }
}
