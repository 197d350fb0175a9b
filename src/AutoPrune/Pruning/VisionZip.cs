using System.Numerics.Tensors;

namespace AutoPrune.Pruning;

/// <summary>
/// VisionZip — "Longer is Better but Not Necessary in Vision Language Models" (Yang et al., CVPR 2025;
/// dvlab-research/VisionZip).
/// Before the decoder: dominant tokens = the top tokens by vision [CLS] attention (kept in original order); of the
/// rest, contextual targets are taken at an even stride, every other remaining token joins the target whose vision
/// key (feature layer, L2-normalised) is most similar, and each target's group is averaged into one token placed
/// after the dominant ones.
/// Defaults: dominant-ratio = 54/64 (the paper's 54 dominant + 10 contextual for 64), i.e. dominant = round(ratio·T),
/// contextual = T − dominant; without a budget T = 25% of N0.
/// Settings: dominant-ratio (0 &lt; r ≤ 1).
/// Budget T: round(T) tokens in total (dominant + contextual), so the mean is within half a token.
/// Differs from the official code: it merges the vision tower's hidden states and then projects them; our frame
/// merges projector outputs (a mean after the MLP, not before). Ranking by the head-mean [CLS] attention equals the
/// official head-sum ranking. The similarity uses the full concatenated key vector.
/// </summary>
public sealed class VisionZip : PreDecoderPolicy
{
    public static readonly PolicyInfo Info = new("visionzip", "before the decoder",
        "dominant tokens by vision [CLS] attention + contextual tokens merged by key similarity", "25% of the visual tokens", "original",
        [new("dominant-ratio", SettingKind.Number, "0.84375 (54/64)", "share of dominant tokens in the budget, 0 < r <= 1")]);

    public override string Name => "visionzip";
    private readonly double _ratio;

    public VisionZip(PolicyOptions options) : base(options)
    {
        var s = new SettingsReader(Info, options);
        _ratio = s.Double("dominant-ratio", 0, 1, minExclusive: true) ?? 54.0 / 64.0;
    }

    protected override void Describe(Accounting.PrefillTrace trace, int? keep)
    {
        if (keep is { } t)
        {
            var (dom, ctxN) = Split(t, _ratio);
            trace.Values["visionzip.dominant"] = dom;
            trace.Values["visionzip.contextual"] = ctxN;
        }
    }

    /// <summary>At least one dominant token; contextual gets the remainder.</summary>
    public static (int Dominant, int Contextual) Split(int total, double ratio)
    {
        int dom = Math.Clamp((int)Math.Round(total * ratio, MidpointRounding.AwayFromZero), 1, total);
        return (dom, total - dom);
    }

    protected override VisualSelection Select(PreDecoderContext ctx, int keep) =>
        Select(ctx.ClsAttention, ctx.VisionKeys, ctx.VisualTokens, ctx.VisionHiddenSize, keep, _ratio);

    public static VisualSelection Select(float[] cls, float[] keys, int n, int dk, int total, double ratio)
    {
        var (domN, ctxN) = Split(total, ratio);
        var dominant = Ranking.TopKInOrder(cls.AsSpan(0, n), domN);
        if (ctxN == 0) return new VisualSelection(dominant);

        var isDominant = new bool[n];
        foreach (var i in dominant) isDominant[i] = true;
        int restN = n - domN;
        var rest = new int[restN];
        for (int i = 0, r = 0; i < n; i++) if (!isDominant[i]) rest[r++] = i;

        // Targets at an even stride over the remaining tokens (as the official step = len // contextual).
        int step = Math.Max(1, restN / ctxN);
        var targetOf = new int[restN];      // group of each remaining token
        var isTarget = new bool[restN];
        for (int g = 0; g < ctxN; g++) { isTarget[g * step] = true; targetOf[g * step] = g; }

        var unit = Normalized(keys, rest, dk);
        var groupSize = new int[ctxN];
        for (int r = 0; r < restN; r++)
        {
            if (!isTarget[r])
            {
                var kr = unit.AsSpan(r * dk, dk);
                int best = 0; float bestSim = float.NegativeInfinity;
                for (int g = 0; g < ctxN; g++)
                {
                    float sim = TensorPrimitives.Dot(kr, unit.AsSpan(g * step * dk, dk));
                    if (sim > bestSim) { bestSim = sim; best = g; }
                }
                targetOf[r] = best;
            }
            groupSize[targetOf[r]]++;
        }
        var groups = new int[ctxN][];
        for (int g = 0; g < ctxN; g++) { groups[g] = new int[groupSize[g]]; groupSize[g] = 0; }
        for (int r = 0; r < restN; r++) { int g = targetOf[r]; groups[g][groupSize[g]++] = rest[r]; }
        return new VisualSelection(dominant, groups);
    }

    private static float[] Normalized(float[] keys, int[] rows, int dk)
    {
        var u = new float[rows.Length * dk];
        for (int i = 0; i < rows.Length; i++)
        {
            var src = keys.AsSpan(rows[i] * dk, dk);
            var dst = u.AsSpan(i * dk, dk);
            float norm = TensorPrimitives.Norm(src);
            TensorPrimitives.Multiply(src, norm > 0 ? 1f / norm : 0f, dst);
        }
        return u;
    }
}
