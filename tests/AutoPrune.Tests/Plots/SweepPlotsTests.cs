using AutoPrune.Evaluation;
using AutoPrune.Plots;

namespace AutoPrune.Tests.Plots;

/// <summary>Sweep figures from hand-made results and predictions files.</summary>
public sealed class SweepPlotsTests
{
    private static EvalResult Result(string policy, string? budget, double? acc, double flopsRed, double meanTokens) => new()
    {
        Policy = policy, Budget = budget, Accuracy = acc, FlopsReduction = flopsRed, MeanVisualTokens = meanTokens,
        Model = "tiny", Scorer = "exact", Benchmark = "mini", N = 2,
    };

    private static string Predictions(string dir, string name, params int[][] perQuestion)
    {
        var path = Path.Combine(dir, name + ".predictions.jsonl");
        var lines = perQuestion.Select((tokens, i) => PredictionsFile.Format(new PredictionRecord(
            $"q{i}", i, "yes", ["yes"], 1, null, null, tokens, tokens.Average(), 1e9, 2e9, 5, 1), binaryScore: true));
        File.WriteAllLines(path, lines);
        return path;
    }

    [Fact]
    public void MeanTokensPerLayerAveragesOverQuestions()
    {
        var dir = TestPaths.TempDir();
        var p = Predictions(dir, "a", [256, 100, 50], [256, 60, 30]);
        Assert.Equal([256.0, 80, 40], SweepPlots.MeanTokensPerLayer(PredictionsFile.Read(p)));
    }

    [Fact]
    public void WriteAllProducesBothFigures()
    {
        var dir = TestPaths.TempDir();
        var baseline = new SweepRun(Result("none", null, 80, 0, 256), Predictions(dir, "none", [256, 256, 256], [256, 256, 256]));
        var pruned = new List<SweepRun>
        {
            new(Result("fastv", "128", 78, 45, 128), Predictions(dir, "fastv_128", [256, 100, 28], [256, 100, 28])),
            new(Result("fastv", "64", 70, 70, 64), Predictions(dir, "fastv_64", [256, 20, 10], [256, 20, 10])),
            new(Result("pdrop", "128", 79, 44, 128), Predictions(dir, "pdrop_128", [256, 100, 28], [256, 90, 38])),
            new(Result("visionzip", "64", 75, 72, 64), null),            // no predictions: still on the accuracy plot
        };
        var (written, notes) = SweepPlots.WriteAll(dir, baseline, pruned);
        Assert.Empty(notes);
        Assert.Equal([Path.Combine(dir, SweepPlots.AccuracyFile), Path.Combine(dir, SweepPlots.TokensFile)], written);
        foreach (var f in written)
        {
            using var bmp = PlotTestSupport.DecodePng(f);
            Assert.Equal(1200, bmp.Width);
            Assert.Equal(700, bmp.Height);
        }
    }

    [Fact]
    public void NoAccuracyMeansNoAccuracyFigure()
    {
        var dir = TestPaths.TempDir();
        var baseline = new SweepRun(Result("none", null, null, 0, 256), null);
        var (written, notes) = SweepPlots.WriteAll(dir, baseline, [new(Result("fastv", "64", null, 70, 64), null)]);
        Assert.Empty(written);
        Assert.Equal(2, notes.Count);
        Assert.False(File.Exists(Path.Combine(dir, SweepPlots.AccuracyFile)));
        Assert.False(File.Exists(Path.Combine(dir, SweepPlots.TokensFile)));
    }
}
