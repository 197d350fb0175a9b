namespace AutoPrune.Pruning;

/// <summary>
/// FasterVLM — "[CLS] Attention is All You Need for Training-Free Visual Token Pruning" (Zhang et al., 2024;
/// Theia-4869/FasterVLM).
/// Before the decoder, keeps the T visual tokens the vision tower's [CLS] token attends to most (head mean of the
/// feature layer, the penultimate CLIP layer), in their original order.
/// Defaults: without a budget keeps 25% of N0 (the paper's 75% reduction setting). No settings.
/// Budget T: keep round(T) tokens; every decoder layer processes them, so the mean is within half a token.
/// Differs from the official code: none in the ranking; the official code takes the [CLS] row from the vision tower's
/// attention maps in fp16, ours is float32.
/// </summary>
public sealed class FasterVlm : PreDecoderPolicy
{
    public static readonly PolicyInfo Info = new("fastervlm", "before the decoder", "vision [CLS] attention", "25% of the visual tokens", "original", []);

    public override string Name => "fastervlm";

    public FasterVlm(PolicyOptions options) : base(options) => _ = new SettingsReader(Info, options);

    protected override VisualSelection Select(PreDecoderContext ctx, int keep) => new(Ranking.TopKInOrder(ctx.ClsAttention, keep));
}
