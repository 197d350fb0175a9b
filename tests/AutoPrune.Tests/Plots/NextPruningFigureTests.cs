using AutoPrune.Loading;
using AutoPrune.Plots;
using AutoPrune.Pruning;
using AutoPrune.Tests.Support;

namespace AutoPrune.Tests.Plots;

/// <summary>The pruning figure on LLaVA-NeXT: kept tokens drawn on the original image, tile tokens and base tokens as two views.</summary>
public sealed class NextPruningFigureTests(NextModelFixture fx) : IClassFixture<NextModelFixture>
{
    [Fact]
    public void TileAndBaseTokensLandOnTheOriginalImage()
    {
        var g = new NextGolden("case2"); // 150x150 on a 2x2 grid, no padding: every tile token covers part of the image
        var source = ImageLoader.Load(g.ImagePath);
        var image = fx.Model.EncodeAnyres(source);
        var layout = image.Layout;
        var tiles = layout.TokenOfPixel(image.Image, baseView: false);
        var baseMap = layout.TokenOfPixel(image.Image, baseView: true);
        var gridTokens = Enumerable.Range(layout.BaseTokens, layout.Count - layout.BaseTokens).Where(k => !layout.Tokens[k].IsNewline);
        Assert.Equal(gridTokens.Order(), tiles.Distinct().Order());
        Assert.Equal(Enumerable.Range(0, 16), baseMap.Distinct().Order());
        // Top-left pixel: tile (0, 0), patch 0, which is the first grid token; bottom-right: tile (1, 1), patch 15.
        Assert.Equal(16, tiles[0]);
        var last = layout.Tokens[tiles[^1]];
        Assert.Equal((4, 15), (last.Tile, last.Patch));

        var pre = fx.Model.Prefill(image, fx.Model.Tokenize(g["question"].GetString()!),
            PolicyFactory.Create("fastervlm", new PolicyOptions { Budget = 30 }));
        var fig = new PruningFigure([new TokenView("tiles", source, tiles), new TokenView("base view", source, baseMap)],
            [0, 3], [new PruningRun("Q", pre.Trace)], "next");
        Assert.Equal(2, fig.Rows);
        using var bmp = fig.Render();
        var kept = pre.Trace.VisualIdsPerLayer[0].ToHashSet();
        foreach (var (row, map) in new[] { (0, tiles), (1, baseMap) })
            foreach (var token in map.Distinct())
            {
                var r = fig.TokenRect(row, 0, token);
                int cx = (r.Left + r.Right) / 2, cy = (r.Top + r.Bottom) / 2;
                var (sx, sy) = fig.CropPixel(row, 0, cx, cy);
                if (map[sy * source.Width + sx] != token) continue; // bounding-box centre on a neighbour
                int s = (sy * source.Width + sx) * 3;
                float f = kept.Contains(token) ? 1f : PruningFigure.DropFactor;
                var got = bmp.GetPixel(cx, cy);
                if (got == PruningFigure.OutlineColor) continue;
                Assert.Equal((byte)(source.Rgb[s] * f), got.Red);
            }
    }
}
