using AutoPrune.Accounting;
using AutoPrune.Plots;

namespace AutoPrune.Tests.Plots;

/// <summary>Tokens-per-layer and retention plots, and how they read a trace's typed entries.</summary>
public sealed class TracePlotsTests
{
    [Fact]
    public void TokensPerLayerPlotIsA1200x700Png()
    {
        var t = PlotTestSupport.EvenTrace();
        t.Values.Set("mi1", 3.5, "MI1"); t.Values.Set("k", 0, "k");
        t.Curves.Set("planned_tokens", [256, 256, 128, 128, 128, 128, 128, 128], CurveKind.PlannedVisualTokens);
        var path = Path.Combine(TestPaths.TempDir(), "tokens_per_layer.png");
        TokensPerLayerPlot.Save([new("Q1", t), new("Q2", PlotTestSupport.EvenTrace())], path);
        using var bmp = PlotTestSupport.DecodePng(path);
        Assert.Equal(1200, bmp.Width);
        Assert.Equal(700, bmp.Height);
    }

    [Fact]
    public void RetentionPlotIsSkippedWithoutACurve()
    {
        var path = Path.Combine(TestPaths.TempDir(), "retention_curve.png");
        var t = PlotTestSupport.EvenTrace("fastv");
        t.Values["fastv.K"] = 2;
        t.Curves.Set("pdrop.stage_counts", [256, 88, 30], CurveKind.Other);
        Assert.Empty(RetentionCurvePlot.Curves(t));
        Assert.False(RetentionCurvePlot.TrySave([new("Q1", t)], path));
        Assert.False(File.Exists(path));
    }

    [Fact]
    public void RetentionPlotDrawsRecordedFractionCurves()
    {
        var t = PlotTestSupport.EvenTrace("autoprune");
        t.Curves.Set("autoprune.retention", [0.75, 0.7, 0.6, 0.4, 0.2, 0.1, 0.05], CurveKind.KeepFraction);   // layers 1..7
        var curves = RetentionCurvePlot.Curves(t);
        var c = Assert.Single(curves);
        Assert.Equal("autoprune.retention", c.Name);
        Assert.Equal([1.0, 2, 3, 4, 5, 6, 7], c.Layers);
        var path = Path.Combine(TestPaths.TempDir(), "retention_curve.png");
        Assert.True(RetentionCurvePlot.TrySave([new("Q1", t)], path));
        using var bmp = PlotTestSupport.DecodePng(path);
        Assert.Equal(1200, bmp.Width);
    }

    [Fact]
    public void SummaryShowsLabelledValuesAndPlotsPickCurvesByKind()
    {
        var t = PlotTestSupport.EvenTrace();
        t.Values["fastv.K"] = 3;                                   // unlabelled: not in the summary
        Assert.Equal("", TraceSummary.Line(t));
        t.Values.Set("mi1", 4.5, "MI1");
        t.Values.Set("k", 0.25, "k");
        Assert.Equal("MI1=4.50, k=0.25", TraceSummary.Line(t));
        t.Values["k"] = 0.5;                                       // a new value keeps its label and place
        Assert.Equal("MI1=4.50, k=0.50", TraceSummary.Line(t));
        t.Curves.Set("sched", [256, 256, 100, 100, 50, 50, 10, 10], CurveKind.PlannedVisualTokens);
        t.Curves.Set("frac", [1, 1, 0.5, 0.5, 0.2, 0.2, 0.1, 0.1], CurveKind.KeepFraction);
        t.Curves.Set("stages", [0.5, 0.25], CurveKind.Other);       // fractions by value, but not a schedule
        Assert.Equal(["sched"], TokensPerLayerPlot.PlannedCurves(t).Select(c => c.Key));
        Assert.Equal(["frac"], RetentionCurvePlot.Curves(t).Select(c => c.Name));
    }
}
