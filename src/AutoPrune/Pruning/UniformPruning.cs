namespace AutoPrune.Pruning;

/// <summary>
/// Uniform-stride floor: before the decoder, keeps T visual tokens evenly spaced over the raster order, token i of
/// the kept set being the centre of the i-th of T equal bins: floor((i + ½)·N0/T). Blind to content, but spatially
/// even — the floor a content-aware policy must beat. Budget T: keep round(T); without a budget keeps 25% of N0.
/// </summary>
public sealed class UniformPruning : IPruningPolicy
{
    public string Name => "uniform";
    public PositionMode Positions { get; }
    private readonly double? _budget;
    private int? _keep;

    public UniformPruning(PolicyOptions options)
    {
        _ = new SettingsReader(Name, options);
        _budget = options.Budget;
        Positions = options.Positions ?? PositionMode.Original;
    }

    public void Begin(PruningSetup setup) =>
        _keep = PreDecoderBudget.Keep(Name, _budget, setup.VisualTokens, Math.Max(1, setup.VisualTokens / 4), setup);

    public VisualSelection? BeforeDecoder(PreDecoderContext ctx) =>
        _keep is { } k ? new VisualSelection(Select(ctx.VisualTokens, k)) : null;

    public static int[] Select(int n, int k)
    {
        var keep = new int[k];
        for (int i = 0; i < k; i++) keep[i] = (int)((i + 0.5) * n / k);
        return keep;
    }
}
