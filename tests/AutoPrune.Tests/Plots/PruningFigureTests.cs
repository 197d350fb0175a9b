using AutoPrune.Plots;
using SkiaSharp;

namespace AutoPrune.Tests.Plots;

/// <summary>The pruning figure: geometry, and that its pixels show exactly the tokens the trace says each layer kept.</summary>
public sealed class PruningFigureTests
{
    private static readonly int[] AllLayers = [0, 1, 2, 3, 4, 5, 6, 7];

    [Fact]
    public void SavedPngHasTheFigureSizeAndPanelsInsideIt()
    {
        var fig = new PruningFigure(PlotTestSupport.Gradient(), 16, AllLayers, [new("Q1: easy → yes", PlotTestSupport.EvenTrace()), new("Q2: hard → 3", PlotTestSupport.EvenTrace())], "test");
        var path = Path.Combine(TestPaths.TempDir(), "pruning.png");
        fig.Save(path);
        using var bmp = PlotTestSupport.DecodePng(path);
        Assert.Equal(fig.Width, bmp.Width);
        Assert.Equal(fig.Height, bmp.Height);
        Assert.InRange(fig.Width, 1100, 1300);
        Assert.Equal(9, fig.Columns);                                    // 8 layers + depth
        var last = fig.PanelRect(1, fig.Columns - 1);
        Assert.True(last.Right <= fig.Width && last.Bottom <= fig.Height);
        Assert.True(fig.PanelRect(0, 0).Right < fig.PanelRect(0, 1).Left);   // panels do not overlap
        Assert.True(fig.PanelRect(0, 0).Bottom < fig.PanelRect(1, 0).Top);
    }

    [Fact]
    public void KeptTokenShowsTheCropAndDroppedTokenIsDarker()
    {
        var crop = PlotTestSupport.Gradient();
        var trace = PlotTestSupport.EvenTrace();
        var fig = new PruningFigure(crop, 16, AllLayers, [new("run", trace)], "test");
        var path = Path.Combine(TestPaths.TempDir(), "pruning.png");
        fig.Save(path);
        using var bmp = PlotTestSupport.DecodePng(path);

        foreach (var (col, token, kept) in new[] { (2, 34, true), (2, 35, false), (0, 35, true), (5, 200, true), (5, 201, false) })
        {
            var r = fig.TokenRect(0, col, token);
            int x = (r.Left + r.Right) / 2, y = (r.Top + r.Bottom) / 2;
            var (cx, cy) = fig.CropPixel(0, col, x, y);
            Assert.Equal(token % 16, cx / 8);                             // the pixel lies in the token's 8x8 patch
            Assert.Equal(token / 16, cy / 8);
            var src = PlotTestSupport.Rgb(crop, cx, cy);
            var got = bmp.GetPixel(x, y);
            if (kept)
                Assert.Equal(new SKColor(src.R, src.G, src.B), got);
            else
            {
                Assert.True(got.Red < src.R && got.Green < src.G && got.Blue < src.B, $"token {token} in panel {col} is not darkened: {got} vs {src}");
                Assert.Equal((byte)(src.R * PruningFigure.DropFactor), got.Red);
            }
        }
    }

    [Fact]
    public void KeptRegionsAreOutlinedWhereTheyMeetDroppedTokens()
    {
        var fig = new PruningFigure(PlotTestSupport.Gradient(), 16, AllLayers, [new("run", PlotTestSupport.EvenTrace())], "test");
        using var bmp = fig.Render();
        // Token 34 is kept, its right neighbour 35 is dropped: the rightmost column of 34 is the outline color;
        // in layer 0 (nothing dropped) it is plain image.
        var r = fig.TokenRect(0, 2, 34);
        Assert.Equal(PruningFigure.OutlineColor, bmp.GetPixel(r.Right - 1, (r.Top + r.Bottom) / 2));
        var r0 = fig.TokenRect(0, 0, 34);
        Assert.NotEqual(PruningFigure.OutlineColor, bmp.GetPixel(r0.Right - 1, (r0.Top + r0.Bottom) / 2));
    }

    [Fact]
    public void TitlesCountTokensAndMergedTokens()
    {
        var fig = new PruningFigure(PlotTestSupport.Gradient(), 16, AllLayers, [new("run", PlotTestSupport.EvenTrace())], "test");
        Assert.Equal(("layer 0", "256 tokens"), fig.PanelTitle(0, 0));
        Assert.Equal(("layer 2", "128 tokens"), fig.PanelTitle(0, 2));
        Assert.Equal(("layer 3", "128 tokens + 1 merged"), fig.PanelTitle(0, 3));
        Assert.Equal("depth", fig.PanelTitle(0, 8).Head);
    }

    [Fact]
    public void DepthPanelSeparatesLongAndShortLivedTokens()
    {
        var trace = PlotTestSupport.EvenTrace();
        var kept = PruningFigure.LayersKept(trace);
        Assert.Equal(8, kept[34]);
        Assert.Equal(2, kept[35]);
        var fig = new PruningFigure(PlotTestSupport.Gradient(), 16, [2], [new("run", trace)], "test");
        using var bmp = fig.Render();
        SKColor Center(int token) { var r = fig.TokenRect(0, 1, token); return bmp.GetPixel((r.Left + r.Right) / 2, (r.Top + r.Bottom) / 2); }
        // Tokens 34 and 35 have almost the same image color; the heat (8 vs 2 layers) makes the long-lived one brighter.
        var a = Center(34); var b = Center(35);
        Assert.True(a.Red + a.Green > b.Red + b.Green + 100, $"{a} vs {b}");
    }

    [Fact]
    public void NonIntegerScaleMapsEveryPanelPixelToItsToken()
    {
        // 336 crop, 24x24 grid (LLaVA-1.5), 5 panels: the panel is not a multiple of the crop.
        var crop = PlotTestSupport.Gradient(336);
        var t = new AutoPrune.Accounting.PrefillTrace { VisualTokensIn = 576, VisualIdsPerLayer = Enumerable.Range(0, 32).Select(_ => new[] { 0, 575 }).ToArray() };
        t.VisualTokensPerLayer = t.VisualIdsPerLayer.Select(i => i.Length).ToArray();
        var layers = PruningFigure.DefaultLayers(32);
        Assert.Equal([0, 1, 2, 16, 31], layers);
        var fig = new PruningFigure(crop, 24, layers, [new("run", t)], "test");
        foreach (var token in new[] { 0, 23, 300, 575 })
        {
            var r = fig.TokenRect(0, 3, token);
            Assert.True(r.Width > 0 && r.Height > 0);
            for (int x = r.Left; x < r.Right; x++)
            {
                var (cx, cy) = fig.CropPixel(0, 3, x, r.Top);
                Assert.Equal(token % 24, cx / 14);
                Assert.Equal(token / 24, cy / 14);
            }
        }
    }

    [Fact]
    public void BadInputsAreRejected()
    {
        var crop = PlotTestSupport.Gradient();
        var t = PlotTestSupport.EvenTrace();
        Assert.Throws<ArgumentOutOfRangeException>(() => new PruningFigure(crop, 16, [8], [new("run", t)], "x"));
        Assert.Throws<ArgumentException>(() => new PruningFigure(crop, 8, [0], [new("run", t)], "x"));     // 256 tokens on an 8x8 grid
        Assert.Throws<ArgumentException>(() => new PruningFigure(crop, 16, [0], [], "x"));
    }
}
