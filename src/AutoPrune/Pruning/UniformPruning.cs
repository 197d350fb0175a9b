namespace AutoPrune.Pruning;

/// <summary>
/// Uniform-stride floor: before the decoder, keeps T visual tokens evenly spaced over the raster order, token i of
/// the kept set being the centre of the i-th of T equal bins: floor((i + ½)·N0/T). Blind to content, but spatially
/// even — the floor a content-aware policy must beat. Budget T: keep round(T); without a budget keeps 25% of N0.
/// </summary>
public sealed class UniformPruning : PreDecoderPolicy
{
    public static readonly PolicyInfo Info = new("uniform", "before the decoder", "nothing: an even stride over the raster order (a floor)",
        "25% of the visual tokens", "original", []);

    public override string Name => "uniform";

    public UniformPruning(PolicyOptions options) : base(options) => _ = new SettingsReader(Info, options);

    protected override VisualSelection Select(PreDecoderContext ctx, int keep) => new(Select(ctx.VisualTokens, keep));

    public static int[] Select(int n, int k)
    {
        var keep = new int[k];
        for (int i = 0; i < k; i++) keep[i] = (int)((i + 0.5) * n / k);
        return keep;
    }
}
