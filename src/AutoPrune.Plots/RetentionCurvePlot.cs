using AutoPrune.Accounting;
using ScottPlot;

namespace AutoPrune.Plots;

/// <summary>The retention schedule(s) a policy planned: the keep-fraction curves it recorded.</summary>
public static class RetentionCurvePlot
{
    /// <summary>The curves to draw for one trace: (name, layer x values, keep fractions).</summary>
    public static List<(string Name, double[] Layers, double[] Keep)> Curves(PrefillTrace t)
    {
        int L = t.VisualTokensPerLayer.Length;
        var list = new List<(string, double[], double[])>();
        foreach (var c in t.Curves.OfKind(CurveKind.KeepFraction))
        {
            // One value per layer, or per pruning layer 1..L-1.
            int start = c.Values.Length == L - 1 ? 1 : 0;
            list.Add((c.Key, Enumerable.Range(start, c.Values.Length).Select(l => (double)l).ToArray(), c.Values));
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
            var extra = TraceSummary.Line(runs[i].Trace);
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
