using AutoPrune.Accounting;
using ScottPlot;

namespace AutoPrune.Plots;

/// <summary>
/// The retention schedule(s) a policy planned: fraction curves it recorded in trace.Curves, or else AutoPrune's logistic
/// keep(l) = 0.75 / (1 + exp(k (l - (x0 + k)))) rebuilt from recorded k and x0 values.
/// </summary>
public static class RetentionCurvePlot
{
    /// <summary>The curves to draw for one trace: (name, layer x values, keep fractions).</summary>
    public static List<(string Name, double[] Layers, double[] Keep)> Curves(PrefillTrace t)
    {
        int L = t.VisualTokensPerLayer.Length;
        var list = new List<(string, double[], double[])>();
        foreach (var (key, v) in TraceKeys.FractionCurves(t))
        {
            // One value per layer, or per pruning layer 1..L-1.
            int start = v.Length == L - 1 ? 1 : 0;
            list.Add((key, Enumerable.Range(start, v.Length).Select(l => (double)l).ToArray(), v));
        }
        if (list.Count == 0 && TraceKeys.Value(t, "k") is double k && TraceKeys.Value(t, "x0") is double x0 && L > 1)
        {
            var xs = Enumerable.Range(1, L - 1).Select(l => (double)l).ToArray();
            list.Add(($"logistic k={TraceKeys.Fmt(k)}, x0={TraceKeys.Fmt(x0)}", xs, xs.Select(l => 0.75 / (1 + Math.Exp(k * (l - (x0 + k))))).ToArray()));
        }
        return list;
    }

    /// <summary>Writes the plot when at least one run has a retention curve; false (no file) otherwise.</summary>
    public static bool TrySave(IReadOnlyList<PruningRun> runs, string path, string? title = null)
    {
        var curves = runs.Select(r => Curves(r.Trace)).ToList();
        if (curves.All(c => c.Count == 0)) return false;
        var plt = PlotStyle.New(title ?? $"Planned retention curve ({runs[0].Trace.Policy})", "decoder layer", "keep fraction");
        int maxLayer = 1;
        for (int i = 0; i < runs.Count; i++)
        {
            var extra = TraceKeys.Summary(runs[i].Trace);
            for (int j = 0; j < curves[i].Count; j++)
            {
                var (name, xs, ys) = curves[i][j];
                var sc = plt.Add.Scatter(xs, ys, PlotStyle.Pick(i));
                sc.LineWidth = 2.5f;
                sc.MarkerSize = 5;
                sc.LinePattern = PlotStyle.Patterns[j % PlotStyle.Patterns.Length];
                sc.LegendText = $"{TokensPerLayerPlot.Short(runs[i].Label)}: {name}" + (extra.Length > 0 ? $" ({extra})" : "");
                maxLayer = Math.Max(maxLayer, (int)xs[^1]);
            }
        }
        plt.Axes.SetLimitsX(-0.5, maxLayer + 0.5);
        PlotStyle.IntegerTicks(plt);
        plt.Axes.SetLimitsY(0, 1.05);
        plt.ShowLegend(Alignment.UpperRight);
        PlotStyle.Save(plt, path);
        return true;
    }
}
