using System.Numerics.Tensors;

namespace AutoPrune.Pruning;

/// <summary>
/// DivPrune — "Diversity-based Visual Token Pruning for Large Multimodal Models" (Alvar et al., CVPR 2025;
/// vbdi/divprune).
/// Before the decoder, picks a maximally diverse subset of the projector outputs: greedy max–min (farthest point)
/// selection under cosine distance 1 − cos. The first pick is the most isolated token (largest distance to its nearest
/// neighbour); each next pick is the token whose distance to the nearest already-picked token is largest. Kept in
/// original order. Defaults: without a budget keeps 10% of N0 (the official threshold ratio). No settings.
/// Budget T: keep round(T); the mean is within half a token.
/// Differs from the official code: ties go to the lowest index; float32 distances.
/// </summary>
public sealed class DivPrune : PreDecoderPolicy
{
    public static readonly PolicyInfo Info = new("divprune", "before the decoder", "greedy max-min cosine diversity of projector outputs",
        "10% of the visual tokens", "original", []);

    public override string Name => "divprune";

    public DivPrune(PolicyOptions options) : base(options) => _ = new SettingsReader(Info, options);

    protected override int DefaultKeep(int n0) => Math.Max(1, (int)Math.Round(0.1 * n0, MidpointRounding.AwayFromZero));

    protected override VisualSelection Select(PreDecoderContext ctx, int keep) =>
        new(SelectInOrder(ctx.Features, ctx.VisualTokens, ctx.HiddenSize, keep));

    public static int[] SelectInOrder(float[] features, int n, int d, int k)
    {
        var picks = Greedy(features, n, d, k);
        Array.Sort(picks);
        return picks;
    }

    /// <summary>The picks in the order the greedy chose them.</summary>
    public static int[] Greedy(float[] features, int n, int d, int k)
    {
        k = Math.Clamp(k, 0, n);
        var unit = new float[n * d];
        for (int i = 0; i < n; i++)
        {
            var src = features.AsSpan(i * d, d);
            float norm = TensorPrimitives.Norm(src);
            TensorPrimitives.Multiply(src, norm > 0 ? 1f / norm : 0f, unit.AsSpan(i * d, d));
        }
        var picks = new int[k];
        if (k == 0) return picks;

        // First pick: the token farthest from its nearest neighbour.
        var nearest = new float[n];
        Array.Fill(nearest, float.PositiveInfinity);
        for (int i = 0; i < n; i++)
        {
            var ui = unit.AsSpan(i * d, d);
            for (int j = i + 1; j < n; j++)
            {
                float dist = 1f - TensorPrimitives.Dot(ui, unit.AsSpan(j * d, d));
                if (dist < nearest[i]) nearest[i] = dist;
                if (dist < nearest[j]) nearest[j] = dist;
            }
        }
        var taken = new bool[n];
        picks[0] = ArgMax(nearest, taken);
        taken[picks[0]] = true;

        // minDist[i] = distance of token i to its closest pick so far.
        var minDist = new float[n];
        Array.Fill(minDist, float.PositiveInfinity);
        for (int p = 1; p < k; p++)
        {
            var last = unit.AsSpan(picks[p - 1] * d, d);
            for (int i = 0; i < n; i++)
            {
                if (taken[i]) continue;
                float dist = 1f - TensorPrimitives.Dot(unit.AsSpan(i * d, d), last);
                if (dist < minDist[i]) minDist[i] = dist;
            }
            picks[p] = ArgMax(minDist, taken);
            taken[picks[p]] = true;
        }
        return picks;
    }

    private static int ArgMax(float[] v, bool[] taken)
    {
        int best = -1;
        for (int i = 0; i < v.Length; i++)
            if (!taken[i] && (best < 0 || v[i] > v[best])) best = i;
        return best;
    }
}
