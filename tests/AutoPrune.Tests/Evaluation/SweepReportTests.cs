using System.Text.Json;
using AutoPrune.Evaluation;

namespace AutoPrune.Tests.Evaluation;

public class SweepReportTests
{
    private static EvalResult R(string policy, string? budget, double acc, double tokens, double reduction, double prefill,
        string bench = "shapes-vqa/dev", string model = "m", int n = 600) => new()
    {
        Policy = policy, Budget = budget, Model = model, Scorer = "exact", Benchmark = bench, N = n,
        Accuracy = acc, ByCategory = new() { ["color"] = acc + 10, ["count"] = acc - 10 },
        MeanVisualTokens = tokens, FlopsReduction = reduction, PrefillMsMean = prefill, DecodeMsMean = 5,
    };

    [Fact]
    public void Table_has_baseline_first_then_policies_by_decreasing_budget()
    {
        var baseline = R("none", null, 40, 256, 0, 100);
        var report = SweepReport.Build(baseline, [
            R("autoprune", "28", 30, 28, 80, 40),
            R("fastv", "86", 36, 86, 55, 60),
            R("autoprune", "86", 38, 86, 60, 50),
        ]);
        Assert.Equal(["none (unpruned)", "autoprune@86", "autoprune@28", "fastv@86"], report.Rows.Select(r => r.Label));
        var ap86 = report.Rows[1];
        Assert.Equal(95, ap86.RelativeAccuracy!.Value, 9);
        Assert.Equal(2, ap86.PrefillSpeedup!.Value, 9);
        Assert.Equal(100, report.Rows[0].RelativeAccuracy!.Value, 9);
        Assert.Equal(1, report.Rows[0].PrefillSpeedup!.Value, 9);

        var md = report.ToMarkdown();
        Assert.Contains("| Method | Acc | Rel. acc | color | count | Mean visual tokens | FLOPs reduction | Prefill speedup |", md);
        Assert.Contains("| none (unpruned) | 40.0 | 100.0% | 50.0 | 30.0 | 256.0 | 0.0% | 1.00x |", md);
        Assert.Contains("| autoprune@86 | 38.0 | 95.0% | 48.0 | 28.0 | 86.0 | 60.0% | 2.00x |", md);
        Assert.Contains("| autoprune@28 | 30.0 | 75.0% | 40.0 | 20.0 | 28.0 | 80.0% | 2.50x |", md);
        Assert.Contains("### shapes-vqa/dev (n=600)", md);

        using var doc = JsonDocument.Parse(report.ToJson());
        var rows = doc.RootElement.GetProperty("rows");
        Assert.Equal(4, rows.GetArrayLength());
        Assert.Equal(75, rows[2].GetProperty("relative_accuracy").GetDouble(), 9);
        Assert.Equal(2.5, rows[2].GetProperty("prefill_speedup").GetDouble(), 9);
    }

    [Fact]
    public void Several_benchmarks_get_one_table_each()
    {
        var report = SweepReport.Build(
            [R("none", null, 40, 256, 0, 100), R("none", null, 80, 256, 0, 100, bench: "pope")],
            [R("fastv", "57", 60, 57, 70, 50, bench: "pope"), R("fastv", "57", 20, 57, 70, 50)]);
        Assert.Equal(["shapes-vqa/dev", "shapes-vqa/dev", "pope", "pope"], report.Rows.Select(r => r.Benchmark));
        Assert.Equal(75, report.Rows[3].RelativeAccuracy!.Value, 9);
        Assert.Equal(2, report.ToMarkdown().Split("### ").Length - 1);
    }

    [Fact]
    public void Incomparable_results_are_refused()
    {
        var baseline = R("none", null, 40, 256, 0, 100);
        Assert.Throws<EvalSettingsException>(() => SweepReport.Build(baseline, [R("fastv", "57", 1, 1, 1, 1, model: "other")]));
        Assert.Throws<EvalSettingsException>(() => SweepReport.Build(baseline, [R("fastv", "57", 1, 1, 1, 1, n: 100)]));
        Assert.Throws<EvalSettingsException>(() => SweepReport.Build(baseline, [R("fastv", "57", 1, 1, 1, 1, bench: "gqa")]));
    }

    [Fact]
    public void Missing_numbers_show_as_dashes()
    {
        var baseline = R("none", null, 0, 256, 0, 0);
        var md = SweepReport.Build(baseline, [R("fastv", "57", 10, 57, 70, 50) with { ByCategory = new() { ["color"] = 5 } }]).ToMarkdown();
        Assert.Contains("| fastv@57 | 10.0 | – | 5.0 | – | 57.0 | 70.0% | – |", md);
    }
}
