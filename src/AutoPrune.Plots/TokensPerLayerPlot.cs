using AutoPrune.Accounting;
using ScottPlot;

namespace AutoPrune.Plots;

/// <summary>Visual tokens each decoder layer processed, per run, against the budget and the unpruned count.</summary>
public static class TokensPerLayerPlot
{
    /// <param name="budget">Target mean tokens per layer; null: the first trace's Budget, else no budget line.</param>
    public static void Save(IReadOnlyList<PruningRun> runs, string path, double? budget = null, string? title = null)
    {
        if (runs.Count == 0) throw new ArgumentException("no runs to plot", nameof(runs));
        var first = runs[0].Trace;
        budget ??= first.Budget;
        var plt = PlotStyle.New(title ?? $"Visual tokens per decoder layer ({first.Policy})", "decoder layer", "visual tokens processed");
        int n0 = runs.Max(r => r.Trace.VisualTokensIn);
        int layers = runs.Max(r => r.Trace.VisualTokensPerLayer.Length);

        var full = plt.Add.HorizontalLine(n0, 1.5f, Colors.Gray, LinePattern.Dotted);
        full.LegendText = $"unpruned N0 = {n0}";
        if (budget is double b)
        {
            var bl = plt.Add.HorizontalLine(b, 2, Colors.Black, LinePattern.Dashed);
            bl.LegendText = $"budget T = {b.ToString("G6", System.Globalization.CultureInfo.InvariantCulture)} (mean per layer)";
        }

        for (int i = 0; i < runs.Count; i++)
        {
            var t = runs[i].Trace;
            var color = PlotStyle.Pick(i);
            var ys = t.VisualTokensPerLayer.Select(v => (double)v).ToArray();
            var xs = Enumerable.Range(0, ys.Length).Select(l => (double)l).ToArray();
            var sc = plt.Add.Scatter(xs, ys, color);
            sc.LineWidth = 2.5f;
            sc.MarkerSize = 8 - 2 * (i % 2);
            sc.LinePattern = PlotStyle.Patterns[i % PlotStyle.Patterns.Length];   // identical runs stay distinguishable
            var extra = TraceSummary.Line(t);
            sc.LegendText = $"{Short(runs[i].Label)}: mean {t.MeanVisualTokens:F1}" + (extra.Length > 0 ? $" ({extra})" : "");
            foreach (var (key, values, _) in PlannedCurves(t))
            {
                // Planned counts as rings around the realized dots: visible even where the plan was met exactly.
                var pc = plt.Add.Scatter(xs, values, color);
                pc.LinePattern = LinePattern.Dotted;
                pc.LineWidth = 1;
                pc.MarkerShape = MarkerShape.OpenCircle;
                pc.MarkerSize = 14;
                pc.LegendText = $"{Prefix(runs[i].Label)} planned ({key})";
            }
        }
        plt.Axes.SetLimitsX(-0.5, Math.Max(1, layers - 0.5));
        PlotStyle.IntegerTicks(plt);
        // Headroom above N0 for the legend.
        plt.Axes.SetLimitsY(0, n0 * (1.1 + 0.05 * (2 + runs.Sum(r => 1 + PlannedCurves(r.Trace).Count()))));
        plt.ShowLegend(Alignment.UpperRight);
        PlotStyle.Save(plt, path);
    }

    /// <summary>Planned per-layer token counts (one value per layer).</summary>
    public static IEnumerable<TraceCurve> PlannedCurves(PrefillTrace t) =>
        t.Curves.OfKind(CurveKind.PlannedVisualTokens).Where(c => c.Values.Length == t.VisualTokensPerLayer.Length);

    /// <summary>"Q1" of "Q1: question …"; the shortened label when it has no prefix.</summary>
    internal static string Prefix(string label) { int c = label.IndexOf(':'); return c > 0 && c <= 12 ? label[..c] : Short(label, 24); }

    internal static string Short(string s, int max = 48) => s.Length <= max ? s : s[..(max - 1)] + "…";
}
