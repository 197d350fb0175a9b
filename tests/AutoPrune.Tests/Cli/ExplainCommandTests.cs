using System.Text.Json;
using AutoPrune.Loading;
using AutoPrune.Plots;
using SkiaSharp;

namespace AutoPrune.Tests.Cli;

/// <summary>`autoprune explain` end to end on the tiny model: files, trace.json, and figure pixels that match the trace.</summary>
public sealed class ExplainCommandTests
{
    private static string Image => Path.Combine(TestPaths.Golden, "case0.png");

    private static (string dir, string stdout, JsonElement trace) Explain(params string[] extra)
    {
        var dir = TestPaths.TempDir();
        var (code, stdout, stderr) = CliTests.Run(["explain", "--image", Image, "Is there a yellow square?", "--model", TestPaths.TinyModel, "--output", dir, .. extra]);
        Assert.True(code == 0, stderr);
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "trace.json")));
        return (dir, stdout, doc.RootElement.Clone());
    }

    private static int[][] Ids(JsonElement t) =>
        t.GetProperty("visual_ids_per_layer").EnumerateArray().Select(l => l.EnumerateArray().Select(e => e.GetInt32()).ToArray()).ToArray();

    [Fact]
    public void TestPolicyWritesAllFilesAndTheFigureMatchesTheTrace()
    {
        var (dir, stdout, trace) = Explain("--policy", "test-even");
        var answer = trace.GetProperty("answer").GetString();
        Assert.False(string.IsNullOrWhiteSpace(answer));
        Assert.Contains("A1: " + answer, stdout);
        Assert.Equal("Is there a yellow square?", trace.GetProperty("question").GetString());
        Assert.Equal("test-even", trace.GetProperty("policy").GetString());
        var ids = Ids(trace);
        Assert.Equal(8, ids.Length);
        Assert.Equal(256, ids[1].Length);
        Assert.Equal(Enumerable.Range(0, 128).Select(i => 2 * i), ids[2]);
        Assert.Equal([256, 256, 128, 128, 128, 128, 128, 128], trace.GetProperty("visual_tokens_per_layer").EnumerateArray().Select(e => e.GetInt32()));
        foreach (var f in new[] { "pruning.png", "tokens_per_layer.png", "retention_curve.png", "trace.json" })
            Assert.Contains(Path.Combine(dir, f), stdout);

        // Rebuild the figure's geometry from the same inputs and compare pixels with the crop the model saw.
        using var model = global::AutoPrune.Models.LlavaModel.Load(TestPaths.TinyModel);
        var crop = ModelCrop.Prepare(model.ImageProcessor, ImageLoader.Load(Image));
        Assert.Equal((128, 128), (crop.Width, crop.Height));
        var t = new Accounting.PrefillTrace { VisualTokensIn = 256, VisualIdsPerLayer = ids, VisualTokensPerLayer = ids.Select(i => i.Length).ToArray() };
        var fig = new PruningFigure(crop, 16, PruningFigure.DefaultLayers(8), [new("x", t)], "x");
        using var bmp = PlotTestSupport.DecodePng(Path.Combine(dir, "pruning.png"));
        Assert.Equal((fig.Width, fig.Height), (bmp.Width, bmp.Height));
        // An odd (dropped from layer 2 on) token whose pixel is bright enough to see darkening, and its even neighbour.
        int odd = Enumerable.Range(0, 128).Select(i => 2 * i + 1).First(tok =>
        {
            var r = fig.TokenRect(0, 2, tok);
            var (cx, cy) = fig.CropPixel(0, 2, (r.Left + r.Right) / 2, (r.Top + r.Bottom) / 2);
            var p = PlotTestSupport.Rgb(crop, cx, cy);
            return p.R + p.G + p.B > 120;
        });
        foreach (var (col, token, kept) in new[] { (2, odd, false), (2, odd - 1, true), (1, odd, true), (7, odd, false) })
        {
            var r = fig.TokenRect(0, col, token);
            int x = (r.Left + r.Right) / 2, y = (r.Top + r.Bottom) / 2;
            var (cx, cy) = fig.CropPixel(0, col, x, y);
            var src = PlotTestSupport.Rgb(crop, cx, cy);
            var got = bmp.GetPixel(x, y);
            if (kept) Assert.Equal(new SKColor(src.R, src.G, src.B), got);
            else Assert.True(got.Red + got.Green + got.Blue < (src.R + src.G + src.B) / 2, $"token {token} layer col {col}: {got} vs {src}");
        }
    }

    [Fact]
    public void CompareQuestionAddsASecondRowAndTrace()
    {
        var (dir, stdout, trace) = Explain("--policy", "fastv", "--budget", "64", "--compare-question", "How many shapes are there?", "--draw-layers", "0,1,7");
        Assert.Contains("Q2: How many shapes are there?", stdout);
        var cmp = trace.GetProperty("compare");
        Assert.Equal("How many shapes are there?", cmp.GetProperty("question").GetString());
        Assert.Equal(8, Ids(cmp).Length);
        Assert.True(cmp.GetProperty("mean_visual_tokens").GetDouble() < 100);
        using var two = PlotTestSupport.DecodePng(Path.Combine(dir, "pruning.png"));
        var (dir1, _, _) = Explain("--policy", "fastv", "--budget", "64", "--draw-layers", "0,1,7");
        using var one = PlotTestSupport.DecodePng(Path.Combine(dir1, "pruning.png"));
        Assert.Equal(one.Width, two.Width);
        Assert.True(two.Height > one.Height * 1.6, $"{two.Height} vs {one.Height}");
        using var tok = PlotTestSupport.DecodePng(Path.Combine(dir, "tokens_per_layer.png"));
        Assert.Equal(1200, tok.Width);
    }

    [Fact]
    public void PolicyWithoutCurveSkipsTheRetentionPlotAndSaysSo()
    {
        var (dir, stdout, trace) = Explain("--policy", "fastv", "--budget", "64");
        Assert.Contains("no retention_curve.png", stdout);
        Assert.False(File.Exists(Path.Combine(dir, "retention_curve.png")));
        Assert.True(File.Exists(Path.Combine(dir, "pruning.png")));
        Assert.Equal(64, trace.GetProperty("budget").GetDouble());
    }

    [Fact]
    public void AutoPruneWritesItsRetentionCurve()
    {
        var (dir, stdout, trace) = Explain("--policy", "autoprune", "--budget", "64", "--compare-question", "How many shapes are there?");
        Assert.DoesNotContain("no retention_curve.png", stdout);
        using var bmp = PlotTestSupport.DecodePng(Path.Combine(dir, "retention_curve.png"));
        Assert.Equal(1200, bmp.Width);
        Assert.True(trace.TryGetProperty("k", out _));
        Assert.Equal(8, trace.GetProperty("retention_curve").GetArrayLength());
        Assert.Contains("k=", stdout);                                   // MI / k summary per question
        // Every layer's ids are what it processed: counts agree with visual_tokens_per_layer.
        var counts = trace.GetProperty("visual_tokens_per_layer").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        Assert.Equal(counts, Ids(trace).Select(l => l.Length));
    }

    [Fact]
    public void MergedTokensAreCountedInTheTrace()
    {
        var (_, _, trace) = Explain("--policy", "test-merge");
        var ids = Ids(trace);
        Assert.All(ids, l => Assert.Equal(101, l.Length));
        Assert.Equal(1, ids[0].Count(i => i >= 256));
    }

    [Theory]
    [InlineData("9")]
    [InlineData("a,b")]
    [InlineData("")]
    public void BadLayersAreOneLineErrors(string layers)
    {
        var (code, stdout, stderr) = CliTests.Run("explain", "--image", Image, "Q?", "--model", TestPaths.TinyModel, "--output", TestPaths.TempDir(), "--draw-layers", layers);
        Assert.NotEqual(0, code);
        Assert.Equal("", stdout);
        Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("error: ", stderr);
    }
}
