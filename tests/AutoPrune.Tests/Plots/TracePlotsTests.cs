using AutoPrune.Plots;

namespace AutoPrune.Tests.Plots;

/// <summary>Tokens-per-layer and retention plots, and the trace key lookups they rely on.</summary>
public sealed class TracePlotsTests
{
    [Fact]
    public void TokensPerLayerPlotIsA1200x700Png()
    {
        var t = PlotTestSupport.EvenTrace();
        t.Values["mi1"] = 3.5; t.Values["k"] = 0;
        t.Curves["planned_tokens"] = [256, 256, 128, 128, 128, 128, 128, 128];
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
        t.Values["fastv.K"] = 2;                                         // not AutoPrune's k
        t.Curves["pdrop.stage_counts"] = [256, 88, 30];                  // token counts, not fractions
        Assert.Empty(RetentionCurvePlot.Curves(t));
        Assert.False(RetentionCurvePlot.TrySave([new("Q1", t)], path));
        Assert.False(File.Exists(path));
    }

    [Fact]
    public void RetentionPlotDrawsRecordedFractionCurves()
    {
        var t = PlotTestSupport.EvenTrace("autoprune");
        t.Curves["autoprune.retention"] = [0.75, 0.7, 0.6, 0.4, 0.2, 0.1, 0.05];   // layers 1..7
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
    public void RetentionCurveIsRebuiltFromKAndX0()
    {
        var t = PlotTestSupport.EvenTrace("autoprune");
        t.Values["autoprune.k"] = 0.4; t.Values["autoprune.x0"] = 3.325;
        var c = Assert.Single(RetentionCurvePlot.Curves(t));
        Assert.Equal(7, c.Keep.Length);
        // keep(l) = 0.75 / (1 + exp(k (l - (x0 + k)))): 0.375 at l = x0 + k = 3.725, decreasing in l.
        Assert.Equal(0.75 / (1 + Math.Exp(0.4 * (1 - 3.725))), c.Keep[0], 12);
        Assert.True(c.Keep[2] > 0.375 && c.Keep[3] < 0.375);
        Assert.True(c.Keep.Zip(c.Keep.Skip(1)).All(p => p.First > p.Second));
    }

    [Fact]
    public void KeysMatchExactlyOrByLastSegment()
    {
        var t = PlotTestSupport.EvenTrace();
        t.Values["fastv.K"] = 3;
        Assert.Null(TraceKeys.Value(t, "k"));
        t.Values["autoprune.k"] = 0.25; t.Values["mi1"] = 4.5;
        Assert.Equal(0.25, TraceKeys.Value(t, "k"));
        Assert.Equal("MI1=4.50, k=0.25", TraceKeys.Summary(t));
        t.Curves["sched"] = [256, 256, 100, 100, 50, 50, 10, 10];
        t.Curves["frac"] = [1, 1, 0.5, 0.5, 0.2, 0.2, 0.1, 0.1];
        Assert.Equal(["sched"], TraceKeys.TokenCurves(t).Select(c => c.Key));
        Assert.Equal(["frac"], TraceKeys.FractionCurves(t).Select(c => c.Key));
    }
}
