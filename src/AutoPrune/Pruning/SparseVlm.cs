using System.Numerics.Tensors;
using AutoPrune.Accounting;

namespace AutoPrune.Pruning;

/// <summary>
/// SparseVLM v1 — "Visual Token Sparsification for Efficient Vision-Language Model Inference" (Zhang et al., ICML 2025;
/// Gumpest/SparseVLMs).
/// Raters: the text tokens after the image whose relevance to the image is above the mean, relevance = softmax over
/// text of visual·textᵀ, averaged over the visual tokens. At each pruning stage the visual tokens are ranked by the
/// attention the raters pay them (mean over heads and raters); the top ones are kept in original order, and the
/// dropped ones are recycled by <see cref="TokenRecycling"/> (best 30% + 1 clustered by DPC-KNN, one averaged token
/// per cluster, appended after the kept ones). Positions: compact, as the official v1.
/// Defaults: stages start at layers 2/6/16 of 32 (the official per-layer accounting "2×576, 4×300, 10×200, 16×118"),
/// scaled to depth (8 layers → 1/2/4). Kept counts per budget for 576 tokens: 192 → [300,200,110],
/// 128 → [303,110,36], 64 → [66,30,17]; the shape whose T/N0 ratio is nearest is used (setting table=192|128|64).
/// Settings: layers (comma list of stage starts in the model's own layers), table.
/// Budget T (mean over all L layers, recycled tokens included): stage totals (kept + recycled) follow the table shape
/// scaled by N0/576·s, s found by bisection on the continuous mean, then rounded and nudged one token at a time until
/// the mean is within half a token of T; at run time the kept count k is the largest with k + recycled(cur − k) equal
/// to the planned total. The lowest feasible T keeps no token and only the recycled clusters at every stage.
/// Without a budget the table counts are scaled by N0/576 and recycling adds on top (as the official code).
/// Differs from the official code: raters are chosen on layer 0's output hidden states (the official code uses the
/// input embeddings, which our frame does not expose) and once per prefill; each stage ranks with the attention of the
/// layer just before it (the official code uses the pruning layer's own attention); counts are budget-solved.
/// </summary>
public sealed class SparseVlm : IPruningPolicy
{
    public static readonly PolicyInfo Info = new("sparsevlm", "stages at layers 2/6/16 of 32 (scaled)",
        "attention of the rater text tokens; dropped tokens recycled", "the official 576-token count table scaled by N0/576, recycled tokens on top", "compact",
    [
        new("layers", SettingKind.IntegerList, "2,6,16 of 32, scaled to depth", "stage start layers, in the model's own layers"),
        new("table", SettingKind.Integer, "the nearest to T/N0", "official count table shaping the stages: 192, 128 or 64"),
    ]);

    public string Name => "sparsevlm";
    public PositionMode Positions { get; }

    private static readonly int[] Budgets576 = [192, 128, 64];
    private static readonly int[][] Tables = [[300, 200, 110], [303, 110, 36], [66, 30, 17]];

    private readonly double? _budget;
    private readonly int[]? _layers;
    private readonly int? _table;

    public SparseVlm(PolicyOptions options)
    {
        var s = new SettingsReader(Info, options);
        _layers = s.IntList("layers");
        if (s.Int("table", 0, 1000) is { } t)
        {
            _table = Array.IndexOf(Budgets576, t);
            if (_table < 0) throw new PruningOptionException($"sparsevlm: setting table={t} must be one of 192, 128, 64");
        }
        if (_layers is { Length: not 3 }) throw new PruningOptionException("sparsevlm: setting layers needs exactly three stage starts");
        _budget = options.Budget;
        Positions = options.Positions ?? PositionMode.Compact;
    }

    /// <summary>Smallest stage total reachable from <paramref name="current"/> tokens: keep none, recycle.</summary>
    private static int MinAfter(int current) => Math.Max(1, TokenRecycling.RecycledCount(current));

    public IPruningRun Begin(PruningSetup setup)
    {
        int n0 = setup.VisualTokens, L = setup.DecoderLayers;
        if (LayerSchedule.KeepsAll(_budget, n0, setup)) return NoPruning.KeepAll.Instance;
        if (L < 2) throw new PruningOptionException($"sparsevlm: a {L}-layer decoder has no layer to prune after");
        if (_layers != null) LayerSchedule.Validate(_layers, L, Name);
        var starts = _layers ?? LayerSchedule.ScaleAll([2, 6, 16], L, Name);
        int table = _table ?? Nearest(_budget is { } b ? b / n0 : 192.0 / 576);
        var shape = Tables[table];
        var totals = new int[3];
        if (_budget is { } t)
        {
            int cur = n0;
            var minimal = new int[3];
            for (int j = 0; j < 3; j++) cur = minimal[j] = MinAfter(cur);
            LayerSchedule.CheckBudget(Name, t, n0, LayerSchedule.Mean(n0, L, starts, minimal),
                $"layers 0..{starts[0] - 1} process all {n0} tokens, and every stage returns at least its recycled clusters");
            double lo = 0, hi = 576.0 / shape[2] + 1;
            for (int it = 0; it < 100; it++)
            {
                double mid = 0.5 * (lo + hi);
                if (ContinuousMean(starts, n0, L, shape, mid) < t) lo = mid; else hi = mid;
            }
            Fill(totals, n0, shape, 0.5 * (lo + hi));
            LayerSchedule.FitToBudget(n0, L, starts, totals, t, MinAfter);
            setup.Trace.Budget = t;
            setup.Trace.Values["sparsevlm.scale"] = 0.5 * (lo + hi);
        }
        else Fill(totals, n0, shape, 1);
        setup.Trace.Values["sparsevlm.table"] = Budgets576[table];
        setup.Trace.Curves.Set("sparsevlm.stage_layers", Array.ConvertAll(starts, x => (double)x), CurveKind.Other);
        setup.Trace.Curves.Set("sparsevlm.stage_counts", Array.ConvertAll(totals, x => (double)x), CurveKind.Other);
        return new Run(starts, totals, _budget != null);
    }

    private static int Nearest(double ratio)
    {
        int best = 0;
        for (int i = 1; i < Budgets576.Length; i++)
            if (Math.Abs(ratio - Budgets576[i] / 576.0) < Math.Abs(ratio - Budgets576[best] / 576.0)) best = i;
        return best;
    }

    private static void Fill(int[] totals, int n0, int[] shape, double s)
    {
        int prev = n0;
        for (int j = 0; j < 3; j++)
        {
            int c = (int)Math.Round(s * shape[j] * n0 / 576.0, MidpointRounding.AwayFromZero);
            prev = totals[j] = Math.Clamp(c, Math.Min(prev, MinAfter(prev)), prev);
        }
    }

    private static double ContinuousMean(int[] starts, int n0, int L, int[] shape, double s)
    {
        double sum = 0, prev = n0;
        for (int j = 0; j <= 3; j++)
        {
            int from = j == 0 ? 0 : starts[j - 1], to = j < 3 ? starts[j] : L;
            double c = j == 0 ? n0 : Math.Min(prev, s * shape[j - 1] * n0 / 576.0);
            sum += (to - from) * c;
            prev = c;
        }
        return sum / L;
    }

    /// <summary>One prefill: stage j starts at layer starts[j] with totals[j] tokens (kept + recycled); raters chosen after layer 0.</summary>
    private sealed class Run(int[] starts, int[] totals, bool budgeted) : IPruningRun
    {
        private int[] _raters = [];   // offsets into the text after the image

        public VisualSelection? AfterLayer(LayerContext ctx)
        {
            if (ctx.Layer == 0) _raters = Raters(ctx);
            int stage = Array.IndexOf(starts, ctx.Layer + 1);
            if (stage < 0) return null;
            int cur = ctx.VisualCount, target = totals[stage];
            if (target >= cur) return null;

            var scores = RaterScores(ctx, _raters);
            int keep;
            if (budgeted)
            {
                // Largest k with k + recycled(cur − k) == target (that sum rises by 0 or 1 per k, so it is hit exactly).
                keep = target;
                while (keep > 0 && keep + TokenRecycling.RecycledCount(cur - keep) > target) keep--;
            }
            else keep = Math.Min(target, cur - 1);   // official: min(count, v_token_num − 1) kept, recycling on top
            var kept = Ranking.TopKInOrder(scores, keep);
            var isKept = new bool[cur];
            foreach (var k in kept) isKept[k] = true;
            var dropped = new int[cur - keep];
            for (int i = 0, r = 0; i < cur; i++) if (!isKept[i]) dropped[r++] = i;
            var groups = TokenRecycling.Recycle(ctx, dropped, scores);
            ctx.Trace.Values[$"sparsevlm.kept{stage}"] = keep;
            ctx.Trace.Values[$"sparsevlm.recycled{stage}"] = groups.Length;
            return new VisualSelection(kept, groups.Length > 0 ? groups : null);
        }
    }

    /// <summary>Mean over heads and rater rows of the raters' attention to each current visual token.</summary>
    private static float[] RaterScores(LayerContext ctx, int[] raters)
    {
        var rows = new int[raters.Length];
        for (int i = 0; i < rows.Length; i++) rows[i] = ctx.TextAfterStart + raters[i];
        var cols = ctx.VisualRows();
        var mean = Tensors.Attention.MeanOverHeads(ctx.AttentionPerHead(rows, cols), ctx.Heads, rows.Length, cols.Length);
        var scores = new float[cols.Length];
        for (int r = 0; r < rows.Length; r++) TensorPrimitives.Add(scores, mean.AsSpan(r * cols.Length, cols.Length), scores);
        TensorPrimitives.Multiply(scores, 1f / rows.Length, scores);
        return scores;
    }

    /// <summary>Text tokens after the image whose mean (over visual tokens) softmax-over-text relevance exceeds the mean.</summary>
    internal static int[] Raters(LayerContext ctx)
    {
        int nt = ctx.TextAfterCount, nv = ctx.VisualCount;
        if (nt == 0) throw new PruningOptionException("sparsevlm: the prompt has no text after the image to rate visual tokens");
        var relevance = new float[nt];
        var logits = new float[nt];
        var visualRows = ctx.VisualRows();
        for (int v = 0; v < nv; v++)
        {
            var hv = ctx.Hidden(visualRows[v]);
            for (int t = 0; t < nt; t++) logits[t] = TensorPrimitives.Dot(hv, ctx.Hidden(ctx.TextAfterStart + t));
            TensorPrimitives.SoftMax(logits, logits);
            TensorPrimitives.Add(relevance, logits, relevance);
        }
        float mean = TensorPrimitives.Sum(relevance) / nt;   // relevance/nv vs mean/nv: same comparison
        int count = 0;
        for (int t = 0; t < nt; t++) if (relevance[t] > mean) count++;
        if (count == 0)
        {
            // All equally relevant: every text token rates.
            var all = new int[nt];
            for (int t = 0; t < nt; t++) all[t] = t;
            return all;
        }
        var r = new int[count];
        for (int t = 0, i = 0; t < nt; t++) if (relevance[t] > mean) r[i++] = t;
        return r;
    }
}
