using System.Globalization;
using AutoPrune.Evaluation;
using ScottPlot;

namespace AutoPrune.Plots;

/// <summary>One run of a sweep: its summary and, when known, its per-question predictions file.</summary>
public sealed record SweepRun(EvalResult Result, string? PredictionsPath);

/// <summary>The sweep's figures: accuracy vs FLOPs reduction and the mean tokens-per-layer curve of each run.</summary>
public static class SweepPlots
{
    public const string AccuracyFile = "accuracy_vs_flops.png", TokensFile = "tokens_per_layer.png";

    /// <summary>Writes both figures into <paramref name="dir"/>; returns the files written and why any was not.</summary>
    public static (List<string> Written, List<string> Notes) WriteAll(string dir, SweepRun baseline, IReadOnlyList<SweepRun> pruned)
    {
        var written = new List<string>();
        var notes = new List<string>();
        var acc = Path.Combine(dir, AccuracyFile);
        if (AccuracyVsFlops(baseline.Result, pruned.Select(p => p.Result).ToList(), acc)) written.Add(acc);
        else notes.Add($"{AccuracyFile} not written: no run has an accuracy (the benchmark has no reference answers)");
        var tok = Path.Combine(dir, TokensFile);
        if (TokensPerLayer([baseline, .. pruned], tok)) written.Add(tok);
        else notes.Add($"{TokensFile} not written: no predictions file with visual tokens per layer");
        return (written, notes);
    }

    /// <summary>x = FLOPs reduction %, y = accuracy %; a line per policy through its budgets, the unpruned point marked.
    /// False (no file) when no run has an accuracy.</summary>
    public static bool AccuracyVsFlops(EvalResult baseline, IReadOnlyList<EvalResult> pruned, string path)
    {
        if (baseline.Accuracy is null && pruned.All(p => p.Accuracy is null)) return false;
        var plt = PlotStyle.New($"{baseline.Benchmark}: accuracy vs prefill FLOPs reduction (n = {baseline.N})",
            "prefill FLOPs reduction (%)", $"accuracy (%, {baseline.Scorer})");
        var policies = PolicyOrder(pruned.Select(p => p.Policy));
        var series = policies.Select((policy, ci) => (policy, ci, pts: pruned.Where(p => p.Policy == policy && p.Accuracy is not null).OrderBy(p => p.FlopsReduction).ToList()))
            .Where(s => s.pts.Count > 0).ToList();
        var all = series.SelectMany(s => s.pts).ToList();
        double yMin = all.Count > 0 ? all.Min(p => p.Accuracy!.Value) : double.MaxValue, yMax = all.Count > 0 ? all.Max(p => p.Accuracy!.Value) : double.MinValue;
        double xMax = all.Count > 0 ? all.Max(p => p.FlopsReduction) : 0;
        double ySpan = Math.Max(1, (baseline.Accuracy is double b0 ? Math.Max(yMax, b0) - Math.Min(yMin, b0) : yMax - yMin)), xSpan = Math.Max(10, xMax);
        var placed = new List<(double X, double Y, int Slot)>();
        foreach (var (policy, ci, pts) in series)
        {
            var xs = pts.Select(p => p.FlopsReduction).ToArray();
            var ys = pts.Select(p => p.Accuracy!.Value).ToArray();
            var color = PlotStyle.Pick(ci);
            var sc = plt.Add.Scatter(xs, ys, color.WithAlpha(0.85));
            sc.LineWidth = 2.5f;
            sc.MarkerSize = 11 - 1.5f * (ci % 4);   // later policies draw smaller markers over earlier ones, so coinciding points stay visible
            sc.MarkerShape = Markers[ci % Markers.Length];
            sc.LegendText = policy;
            for (int i = 0; i < pts.Count; i++)
            {
                // Labels of nearby points stack upwards instead of overprinting.
                int slot = placed.Where(p => Math.Abs(p.X - xs[i]) < 0.04 * xSpan && Math.Abs(p.Y - ys[i]) < 0.04 * ySpan).Select(p => p.Slot + 1).DefaultIfEmpty(0).Max();
                placed.Add((xs[i], ys[i], slot));
                var txt = plt.Add.Text("T=" + (pts[i].Budget ?? "?"), xs[i], ys[i]);
                txt.LabelFontSize = 12;
                txt.LabelFontColor = color;
                txt.LabelOffsetX = 7;
                txt.LabelOffsetY = -20 - 15 * slot;
            }
        }
        if (baseline.Accuracy is double ba)
        {
            var line = plt.Add.HorizontalLine(ba, 1.5f, Colors.Black, LinePattern.Dashed);
            line.LegendText = $"unpruned: {ba.ToString("F1", CultureInfo.InvariantCulture)}%";
            var m = plt.Add.Marker(baseline.FlopsReduction, ba, MarkerShape.FilledDiamond, 16, Colors.Black);
            m.LegendText = "unpruned model";
            yMin = Math.Min(yMin, ba); yMax = Math.Max(yMax, ba);
        }
        double pad = Math.Max(2, (yMax - yMin) * 0.12);
        plt.Axes.SetLimitsY(Math.Max(0, yMin - pad), Math.Min(100, yMax + pad) + 1);
        plt.Axes.SetLimitsX(-3, Math.Max(10, xMax + 8));
        plt.ShowLegend(Alignment.LowerLeft);
        PlotStyle.Save(plt, path);
        return true;
    }

    /// <summary>Mean visual tokens per layer over the questions of each run (one line per run, colored by policy).
    /// False (no file) when no run has a readable predictions file.</summary>
    public static bool TokensPerLayer(IReadOnlyList<SweepRun> runs, string path)
    {
        var curves = new List<(EvalResult R, double[] Mean)>();
        foreach (var run in runs)
        {
            if (run.PredictionsPath is null || !File.Exists(run.PredictionsPath)) continue;
            var mean = MeanTokensPerLayer(PredictionsFile.Read(run.PredictionsPath));
            if (mean.Length > 0) curves.Add((run.Result, mean));
        }
        if (curves.Count == 0) return false;
        var r0 = curves[0].R;
        var plt = PlotStyle.New($"{r0.Benchmark}: mean visual tokens per decoder layer (n = {r0.N})", "decoder layer", "visual tokens processed (mean over questions)");
        var policies = PolicyOrder(curves.Where(c => !IsUnpruned(c.R)).Select(c => c.R.Policy));
        var budgetIndex = new Dictionary<string, int>();
        int maxLen = 1;
        double yMax = 1;
        foreach (var (r, mean) in curves.OrderBy(c => IsUnpruned(c.R) ? 0 : 1).ThenBy(c => c.R.Policy, StringComparer.Ordinal)
                     .ThenByDescending(c => c.R.MeanVisualTokens))
        {
            var xs = Enumerable.Range(0, mean.Length).Select(l => (double)l).ToArray();
            bool unpruned = IsUnpruned(r);
            var color = unpruned ? Colors.Black : PlotStyle.Pick(policies.IndexOf(r.Policy));
            var sc = plt.Add.Scatter(xs, mean, color);
            sc.LineWidth = unpruned ? 2f : 2.5f;
            sc.MarkerSize = 5;
            if (!unpruned)
            {
                int bi = budgetIndex[r.Policy] = budgetIndex.TryGetValue(r.Policy, out var k) ? k + 1 : 0;
                sc.LinePattern = PlotStyle.Patterns[bi % PlotStyle.Patterns.Length];
            }
            sc.LegendText = (unpruned ? "unpruned" : $"{r.Policy}@{r.Budget}") +
                            $" (mean {r.MeanVisualTokens.ToString("F1", CultureInfo.InvariantCulture)})";
            maxLen = Math.Max(maxLen, mean.Length);
            yMax = Math.Max(yMax, mean.Max());
        }
        plt.Axes.SetLimitsX(-0.5, maxLen - 0.5);
        PlotStyle.IntegerTicks(plt);
        plt.Axes.SetLimitsY(0, yMax * 1.08);
        plt.ShowLegend(Edge.Right);
        PlotStyle.Save(plt, path);
        return true;
    }

    /// <summary>Per layer, the mean over the records that have that layer.</summary>
    public static double[] MeanTokensPerLayer(IEnumerable<PredictionRecord> records)
    {
        var sum = new List<double>();
        var count = new List<int>();
        foreach (var r in records)
            for (int l = 0; l < r.VisualTokensPerLayer.Length; l++)
            {
                if (l == sum.Count) { sum.Add(0); count.Add(0); }
                sum[l] += r.VisualTokensPerLayer[l];
                count[l]++;
            }
        return sum.Select((s, l) => s / count[l]).ToArray();
    }

    private static readonly MarkerShape[] Markers = [MarkerShape.FilledCircle, MarkerShape.FilledSquare, MarkerShape.FilledTriangleUp, MarkerShape.FilledDiamond, MarkerShape.FilledTriangleDown];

    private static bool IsUnpruned(EvalResult r) => r.Policy.Equals("none", StringComparison.OrdinalIgnoreCase) && r.Budget is null;

    private static List<string> PolicyOrder(IEnumerable<string> names) => names.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
}
