using AutoPrune.Accounting;

namespace AutoPrune.Pruning;

/// <summary>
/// PyramidDrop — "Accelerating Your Large Vision-Language Models via Pyramid Visual Redundancy Reduction"
/// (Xing et al., CVPR 2025; Cooperx521/PyramidDrop).
/// The decoder is split into stages; at the start of each stage the visual tokens are ranked by the head-mean attention
/// of the last instruction token (the last prompt token) and only λ of them continue, so stage j holds N0·λ^j.
/// Positions: compact (the official code renumbers after each drop and shifts decode positions to match).
/// Defaults: stages start at layers 8/16/24 of 32, scaled to the model's depth (8 layers → 2/4/6); λ = 0.5 without a budget.
/// Settings: layers (comma list of stage starts in the model's own layers), lambda (0 &lt; λ ≤ 1; only without a budget).
/// Budget T (mean over all L layers): λ is found by bisection so that the continuous schedule averages T, the counts
/// round(N0·λ^j) are then nudged one token at a time (latest stage first) until the mean is within half a token of T.
/// The lowest feasible T is (s1·N0 + L − s1)/L with s1 the first stage start.
/// Scoring as the official code: stage j (starting at layer s_j) ranks with layer s_j's own q/k projections of the
/// current hidden states (<see cref="LayerContext.NextLayerAttentionPerHead"/>), i.e. the attention the first layer of
/// the stage would compute, last prompt token → visual tokens, mean over heads.
/// Differs from the official code: stage counts come from the budget rather than the fixed λ = 0.5.
/// </summary>
public sealed class PDrop : IPruningPolicy
{
    public static readonly PolicyInfo Info = new("pdrop", "at the start of each stage (layers 8/16/24 of 32, scaled)",
        "attention of the last instruction token, scored with the stage's first layer's q/k", "lambda = 0.5: each stage keeps half", "compact",
    [
        new("layers", SettingKind.IntegerList, "8,16,24 of 32, scaled to depth", "stage start layers, in the model's own layers"),
        new("lambda", SettingKind.Number, "0.5", "fraction each stage keeps, 0 < lambda <= 1; only without a budget"),
    ]);

    public string Name => "pdrop";
    public PositionMode Positions { get; }

    private readonly double? _budget, _lambda;
    private readonly int[]? _layers;

    public PDrop(PolicyOptions options)
    {
        var s = new SettingsReader(Info, options);
        _layers = s.IntList("layers");
        _lambda = s.Double("lambda", 0, 1, minExclusive: true);
        if (_lambda != null && options.Budget != null)
            throw new PruningOptionException("pdrop: give either a budget or lambda, not both (the budget determines lambda)");
        _budget = options.Budget;
        Positions = options.Positions ?? PositionMode.Compact;
    }

    public IPruningRun Begin(PruningSetup setup)
    {
        int n0 = setup.VisualTokens, L = setup.DecoderLayers;
        if (LayerSchedule.KeepsAll(_budget, n0, setup)) return NoPruning.KeepAll.Instance;
        if (L < 2) throw new PruningOptionException($"pdrop: a {L}-layer decoder has no layer to prune after");
        if (_layers != null) LayerSchedule.Validate(_layers, L, Name);
        var starts = _layers ?? LayerSchedule.ScaleAll([8, 16, 24], L, Name);
        var counts = new int[starts.Length];
        double lambda;
        if (_budget is { } t)
        {
            LayerSchedule.CheckBudget(Name, t, n0, LayerSchedule.LowestFeasible(n0, L, starts[0]),
                $"layers 0..{starts[0] - 1} process all {n0} tokens before the first stage, at least one token afterwards; set layers= to start earlier");
            double lo = 0, hi = 1;
            for (int it = 0; it < 100; it++)
            {
                double mid = 0.5 * (lo + hi);
                if (ContinuousMean(starts, n0, L, mid) < t) lo = mid; else hi = mid;
            }
            lambda = 0.5 * (lo + hi);
            Fill(counts, n0, lambda);
            LayerSchedule.FitToBudget(n0, L, starts, counts, t);
            setup.Trace.Budget = t;
        }
        else
        {
            lambda = _lambda ?? 0.5;
            Fill(counts, n0, lambda);
        }
        setup.Trace.Values["pdrop.lambda"] = lambda;
        setup.Trace.Curves.Set("pdrop.stage_layers", Array.ConvertAll(starts, x => (double)x), CurveKind.Other);
        setup.Trace.Curves.Set("pdrop.stage_counts", Array.ConvertAll(counts, x => (double)x), CurveKind.Other);
        return new Run(starts, counts);
    }

    private static void Fill(int[] counts, int n0, double lambda)
    {
        double c = n0;
        for (int j = 0; j < counts.Length; j++)
        {
            c *= lambda;
            counts[j] = Math.Clamp((int)Math.Round(c, MidpointRounding.AwayFromZero), 1, j == 0 ? n0 : counts[j - 1]);
        }
    }

    private static double ContinuousMean(int[] starts, int n0, int L, double lambda)
    {
        double sum = 0, c = n0;
        for (int j = 0; j <= starts.Length; j++)
        {
            int from = j == 0 ? 0 : starts[j - 1], to = j < starts.Length ? starts[j] : L;
            sum += (to - from) * c;
            c *= lambda;
        }
        return sum / L;
    }

    /// <summary>Stage j starts at layer starts[j] with counts[j] tokens.</summary>
    private sealed class Run(int[] starts, int[] counts) : IPruningRun
    {
        public VisualSelection? AfterLayer(LayerContext ctx)
        {
            int stage = Array.IndexOf(starts, ctx.Layer + 1);
            if (stage < 0 || counts[stage] >= ctx.VisualCount) return null;
            var cols = ctx.VisualRows();
            var score = Tensors.Attention.MeanOverHeads(ctx.NextLayerAttentionPerHead([ctx.LastRow], cols), ctx.Heads, 1, cols.Length);
            return new VisualSelection(Ranking.TopKInOrder(score, counts[stage]));
        }
    }
}
