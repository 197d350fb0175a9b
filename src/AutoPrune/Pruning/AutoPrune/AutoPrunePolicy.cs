using System.Globalization;
using AutoPrune.Accounting;

namespace AutoPrune.Pruning;

/// <summary>
/// AutoPrune — "Each Complexity Deserves a Pruning Policy" (NeurIPS 2025), official code AutoLab-SAI-SJTU/AutoPrune.
/// Pruning inside the decoder with a schedule that adapts to the question:
/// <list type="number">
/// <item>After layer 0: MI0 = Σheads MI(text→visual attention) / n_text; score = [CLS] attention
///   + 0.3·MI0·(mean over heads and text rows of the attention); keep the top min(floor(2.5T), N0) in original order.</item>
/// <item>After layer 1: MI1 from layer-1 attention (text rows × preselected tokens) → slope k = max(k0 − γ·MI1, 0) of the
///   logistic curve keep(l) = 0.75/(1+exp(k(l−(x0+k)))); bisection finds the scale s so the budget is met (<see cref="BudgetSolver"/>).</item>
/// <item>After each layer l ≥ 1: rank by attention (mean over heads and text rows after the image), keep the top
///   ceil((N1−1)·min(1, s·keep(l))) in current order, recycle the best 30% of the dropped ones (<see cref="TokenRecycling"/>).</item>
/// </list>
/// Settings (PolicyOptions.Settings / CLI flags): x0 = 14.9 (given for 32 layers, scaled ×L/32), k0 = 0.4, gamma = 0.2,
/// budget-mode = faithful | strict, recycle = true, mi-norm = sum | mean | mean-per-text (how MI1 is normalized).
/// Budget default: round(64·N0/576), the paper's 64-of-576 operating point (28 for 256 tokens); in strict mode a default
/// below the lowest feasible mean is raised to it with a trace note (an explicit infeasible budget is refused).
/// Positions: compact by default, as the official code.
/// Differences from the official code: MI in double (official fp16); budget-mode strict (ours) besides faithful;
/// the solver returns the closest scale seen (official: last midpoint); no pruning after the last layer (its output
/// only feeds the final norm; faithful accounting still counts that layer's planned count as the official does);
/// a budget ≥ N0 disables pruning entirely (the official formula would still drop one token per layer);
/// deterministic tie-breaks in ranking and clustering.
/// </summary>
public sealed class AutoPrunePolicy : IPruningPolicy
{
    public const string PolicyName = "autoprune";
    public const double ClsMiWeight = 0.3;

    public static readonly PolicyInfo Info = new(PolicyName,
        "after layer 0 (preselects 2.5T), then after every layer on a logistic schedule adapted to the question's mutual information",
        "[CLS] attention + MI-weighted text attention, then text-to-visual attention; dropped tokens recycled",
        "round(64 N0/576): 28 of 256, 64 of 576 visual tokens", "compact",
    [
        new("x0", SettingKind.Number, "14.9", "retention-curve midpoint, given for 32 layers and scaled by depth"),
        new("k0", SettingKind.Number, "0.4", "curve slope at zero mutual information"),
        new("gamma", SettingKind.Number, "0.2", "slope decrease per unit of MI1: k = max(k0 - gamma MI1, 0)"),
        new("budget-mode", SettingKind.Choice, "strict",
            "strict: the budget is the mean of the visual tokens every layer processes; faithful: the official accounting " +
            "(layer 0 counted as 2.5T), a reproduction mode that processes more than the budget", "strict", "faithful"),
        new("recycle", SettingKind.Boolean, "true", "recycle the best dropped tokens into merged clusters"),
        new("mi-norm", SettingKind.Choice, "sum", "normalization of MI1: sum over heads (official), mean over heads, or mean per text token",
            "sum", "mean", "mean-per-text"),
    ]);

    public string Name => PolicyName;
    public PositionMode Positions { get; }
    public double? Budget { get; }
    public double X0At32 { get; }
    public double K0 { get; }
    public double Gamma { get; }
    public BudgetMode Mode { get; }
    public bool Recycle { get; }
    public MiNormalization MiNorm { get; }

    public AutoPrunePolicy(PolicyOptions options)
    {
        Budget = options.Budget;
        Positions = options.Positions ?? PositionMode.Compact;
        var s = new SettingsReader(Info, options);
        X0At32 = s.Double("x0", 0, 1000, minExclusive: true) ?? RetentionCurve.DefaultX0At32;
        K0 = s.Double("k0", 0, 100) ?? 0.4;
        Gamma = s.Double("gamma", 0, 1000) ?? 0.2;
        // Strict by default: the budget is what the layers process. Faithful (the official accounting) is a reproduction mode.
        Mode = s.Choice("budget-mode") == "faithful" ? BudgetMode.Faithful : BudgetMode.Strict;
        Recycle = s.Bool("recycle") ?? true;
        MiNorm = s.Choice("mi-norm") switch
        {
            "mean" => MiNormalization.Mean,
            "mean-per-text" => MiNormalization.MeanPerText,
            _ => MiNormalization.Sum,
        };
    }

    /// <summary>The default budget for N0 visual tokens: the paper's 64 of 576, rounded.</summary>
    public static double DefaultBudget(int n0) => Math.Max(1, Math.Round(64.0 * n0 / 576.0));

    public IPruningRun Begin(PruningSetup setup)
    {
        var trace = setup.Trace;
        int n0 = setup.VisualTokens, layers = setup.DecoderLayers;
        if (LayerSchedule.KeepsAll(Budget, n0, setup)) return NoPruning.KeepAll.Instance;
        if (Mode == BudgetMode.Faithful)
            trace.Notes.Add("budget mode faithful (the official accounting, a reproduction mode): layer 0 counts as its 2.5T preselection, " +
                            "so the layers process more visual tokens than the budget on average");
        double target = Budget ?? DefaultBudget(n0);
        if (Mode == BudgetMode.Strict && Budget == null && target < BudgetSolver.MinStrictBudget(n0, layers))
        {
            double raised = Math.Ceiling(BudgetSolver.MinStrictBudget(n0, layers));
            trace.Notes.Add($"default budget {target:G6} is below the lowest strict budget; using {raised:G6}");
            target = raised;
        }
        trace.Budget = target;
        if (target >= n0 || layers < 2)
        {
            trace.Notes.Add(layers < 2 ? "a one-layer decoder: no pruning" : "budget >= visual tokens: no pruning");
            return NoPruning.KeepAll.Instance;
        }
        int preselect = BudgetSolver.Preselection(n0, layers, target, Mode, Recycle);   // throws for an infeasible strict budget
        trace.Values["preselected"] = preselect;
        trace.Values["x0"] = RetentionCurve.ScaleX0(X0At32, layers);
        return new Run(this, trace, n0, layers, target, preselect);
    }

    /// <summary>One prefill: the [CLS] attention, then the plan made after layer 1.</summary>
    private sealed class Run(AutoPrunePolicy p, PrefillTrace trace, int n0, int layers, double target, int preselect) : IPruningRun
    {
        private float[]? _cls;
        private RetentionCurve? _curve;
        private BudgetPlan? _plan;

        public VisualSelection? BeforeDecoder(PreDecoderContext ctx)
        {
            _cls = ctx.ClsAttention.ToArray();
            return null;
        }

        public VisualSelection? AfterLayer(LayerContext ctx)
        {
            if (ctx.VisualCount == 0) return null;
            var textRows = ctx.TextRowsAfterImage();
            var visRows = ctx.VisualRows();
            int nText = textRows.Length, nVis = visRows.Length;
            var att = ctx.AttentionPerHead(textRows, visRows);
            var meanAtt = MeanTextAttention(att, ctx.Heads, nText, nVis);

            if (ctx.Layer == 0) return Preselect(ctx, att, meanAtt, nText, nVis);

            if (ctx.Layer == 1 || _plan == null) Plan(ctx, att, nText, nVis);
            return Prune(ctx, meanAtt);
        }

        /// <summary>Step 0: [CLS] attention + 0.3·MI0·text attention, top N1 in original order.</summary>
        private VisualSelection? Preselect(LayerContext ctx, float[] att, float[] meanAtt, int nText, int nVis)
        {
            double mi0 = nText == 0 ? 0 : MutualInformation.SumOverHeads(att, ctx.Heads, nText, nVis) / nText;
            trace.Values.Set("mi0", mi0, "MI0");
            if (_cls == null || _cls.Length != nVis)
                throw new InvalidOperationException("autoprune needs the vision [CLS] attention of every visual token before layer 0");
            var score = new float[nVis];
            for (int v = 0; v < nVis; v++) score[v] = (float)(_cls[v] + ClsMiWeight * mi0 * meanAtt[v]);
            int k = Math.Min(preselect, nVis);
            return k == nVis ? null : new VisualSelection(Ranking.TopKInOrder(score, k));
        }

        /// <summary>Step 1: MI1 → slope k → curve → scale s for the budget.</summary>
        private void Plan(LayerContext ctx, float[] att, int nText, int nVis)
        {
            double mi1Sum = MutualInformation.SumOverHeads(att, ctx.Heads, nText, nVis);
            double mi1 = MutualInformation.Normalize(mi1Sum, p.MiNorm, ctx.Heads, nText);
            double k = Math.Max(p.K0 - p.Gamma * mi1, 0);
            _curve = new RetentionCurve(k, RetentionCurve.ScaleX0(p.X0At32, layers));
            _plan = BudgetSolver.Solve(n0, layers, nVis, _curve, target, p.Recycle, p.Mode);
            var t = trace;
            t.Values.Set("mi1", mi1, "MI1");
            t.Values["mi1_sum"] = mi1Sum;
            t.Values.Set("k", k, "k");
            t.Values["scale"] = _plan.Scale;
            t.Values["budget_mean_accounted"] = _plan.AccountedMean;
            t.Values["budget_reached"] = _plan.Reached ? 1 : 0;
            var curve = new double[layers];
            for (int l = 0; l < layers; l++) curve[l] = _curve.Keep(l);
            t.Curves.Set("retention_curve", curve, CurveKind.KeepFraction);
            t.Curves.Set("planned_visual_tokens", Array.ConvertAll(_plan.Processed, v => (double)v), CurveKind.PlannedVisualTokens);
            if (!_plan.Reached)
                t.Notes.Add($"budget {target:G6} not met exactly: {p.Mode.ToString().ToLowerInvariant()} mean {_plan.AccountedMean:G6}");
        }

        /// <summary>Steps 2-3: keep the top ceil((N1−1)·min(1, s·keep(l))) in current order, recycle the dropped.</summary>
        private VisualSelection? Prune(LayerContext ctx, float[] meanAtt)
        {
            int l = ctx.Layer, current = ctx.VisualCount;
            int keepN = BudgetSolver.KeepCount(_plan!.Preselected, _plan.Scale, _curve!.Keep(l), current, BudgetSolver.MinKeep(p.Mode));
            if (keepN == current) return null;
            var keep = Ranking.TopKInOrder(meanAtt, keepN);
            int[][]? merge = null;
            if (p.Recycle)
            {
                var dropped = new int[current - keepN];
                int di = 0, ki = 0;
                for (int v = 0; v < current; v++)
                {
                    if (ki < keep.Length && keep[ki] == v) { ki++; continue; }
                    dropped[di++] = v;
                }
                merge = TokenRecycling.Recycle(ctx, dropped, meanAtt);
            }
            return new VisualSelection(keep, merge);
        }
    }

    /// <summary>Mean over heads and text rows of [heads, nText, nVis] → [nVis].</summary>
    internal static float[] MeanTextAttention(float[] perHead, int heads, int nText, int nVis)
    {
        var acc = new double[nVis];
        int block = nText * nVis;
        for (int h = 0; h < heads; h++)
            for (int r = 0; r < nText; r++)
            {
                var row = perHead.AsSpan(h * block + r * nVis, nVis);
                for (int v = 0; v < nVis; v++) acc[v] += row[v];
            }
        var mean = new float[nVis];
        double inv = 1.0 / Math.Max(1, heads * nText);
        for (int v = 0; v < nVis; v++) mean[v] = (float)(acc[v] * inv);
        return mean;
    }
}
