namespace AutoPrune.Pruning;

/// <summary>Attention scores the baselines rank by (ranking itself: <see cref="Ranking"/>).</summary>
internal static class BaselineScores
{
    /// <summary>Head-mean attention of the last prompt token to every current visual token.</summary>
    public static float[] LastRowVisualAttention(LayerContext ctx)
    {
        var cols = ctx.VisualRows();
        var per = ctx.AttentionPerHead([ctx.LastRow], cols);
        return Tensors.Attention.MeanOverHeads(per, ctx.Heads, 1, cols.Length);
    }
}
