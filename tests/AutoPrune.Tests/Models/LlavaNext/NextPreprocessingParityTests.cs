using AutoPrune.Loading;
using AutoPrune.Models.LlavaNext;
using AutoPrune.Tests.Support;

namespace AutoPrune.Tests.Models.LlavaNext;

/// <summary>
/// Anyres preprocessing, vision tower per tile, projector and packing against the float32 PyTorch port of HF's NeXT
/// code: pinpoint, resize, padding, grid and token counts exact; canvas and base view byte-exact; pixels to 1e-6;
/// features within the LLaVA-1.5 golden tolerances.
/// </summary>
public sealed class NextPreprocessingParityTests(NextModelFixture fx) : IClassFixture<NextModelFixture>
{
    private const double StatRel = 1e-4;

    [Theory, MemberData(nameof(NextGolden.All), MemberType = typeof(NextGolden))]
    public void ResolutionResizePaddingGridAndTokenCountMatch(string name)
    {
        var g = new NextGolden(name);
        var img = fx.Model.ImageProcessor.Process(ImageLoader.Load(g.ImagePath));
        Assert.Equal(g.Ints("image_sizes"), new[] { img.OriginalHeight, img.OriginalWidth });
        Assert.Equal(g.Ints("best_resolution"), new[] { img.Best.Height, img.Best.Width });
        Assert.Equal(g.Ints("resized_for_patching"), new[] { img.ResizedHeight, img.ResizedWidth });
        var pad = g["padding"];
        Assert.Equal(pad.GetProperty("top").GetInt32(), img.PadTop);
        Assert.Equal(pad.GetProperty("left").GetInt32(), img.PadLeft);
        Assert.Equal(pad.GetProperty("bottom").GetInt32(), img.Best.Height - img.ResizedHeight - img.PadTop);
        Assert.Equal(pad.GetProperty("right").GetInt32(), img.Best.Width - img.ResizedWidth - img.PadLeft);
        Assert.Equal(g.Ints("grid"), new[] { img.GridRows, img.GridCols });
        Assert.Equal(g.Int("num_patches"), img.Tiles);

        // uint8 stages byte for byte.
        Assert.Equal(ImageLoader.Load(g.File("canvas_png")).Rgb, img.Canvas.Rgb);
        Assert.Equal(ImageLoader.Load(g.File("base_png")).Rgb, img.Base.Rgb);

        // The processor's count of <image> tokens for this size, without running anything.
        Assert.Equal(g.Int("num_image_tokens"), fx.Model.ImageTokens(img.OriginalHeight, img.OriginalWidth));
        var f = g["num_image_tokens_formula"];
        var layout = fx.Model.Layout(img.OriginalHeight, img.OriginalWidth);
        Assert.Equal(f.GetProperty("unpadded_features").GetInt32(), (layout.RowEnd - layout.RowStart) * (layout.ColEnd - layout.ColStart));
        Assert.Equal(f.GetProperty("newline_features").GetInt32(), layout.NewlineTokens);
        var unpad = g["unpad"];
        Assert.Equal(GoldenReference.Ints(unpad.GetProperty("kept_rows")), new[] { layout.RowStart, layout.RowEnd });
        Assert.Equal(GoldenReference.Ints(unpad.GetProperty("kept_cols")), new[] { layout.ColStart, layout.ColEnd });
        Assert.Equal(g.Ints("feature_grid_before_unpad"), new[] { layout.FeatureRows, layout.FeatureCols });
    }

    [Theory, MemberData(nameof(NextGolden.All), MemberType = typeof(NextGolden))]
    public void TilePixelsMatch(string name)
    {
        var g = new NextGolden(name);
        var img = fx.Model.ImageProcessor.Process(ImageLoader.Load(g.ImagePath));
        Assert.Equal(GoldenReference.Ints(g["pixel_values"].GetProperty("shape")), new[] { img.Tiles, 3, img.TileSize, img.TileSize });
        int plane = img.TileSize * img.TileSize;
        foreach (var t in g["pixel_values"].GetProperty("tiles").EnumerateArray())
        {
            int i = t.GetProperty("index").GetInt32();
            var tile = img.Tile(i);
            if (t.GetProperty("grid_rc").ValueKind == System.Text.Json.JsonValueKind.Array)
            {
                var rc = GoldenReference.Ints(t.GetProperty("grid_rc"));
                Assert.Equal(i, 1 + rc[0] * img.GridCols + rc[1]);
            }
            Compare.Close($"{name} tile {i} first16", tile[..16], GoldenReference.Floats(t.GetProperty("first16")), 1e-6);
            foreach (var probe in t.GetProperty("probes").EnumerateArray())
            {
                int c = probe[0].GetInt32(), y = probe[1].GetInt32(), x = probe[2].GetInt32();
                Assert.True(Math.Abs(tile[c * plane + y * img.TileSize + x] - probe[3].GetDouble()) <= 1e-6, $"{name} tile {i} probe ({c},{y},{x})");
            }
            var sums = GoldenReference.Floats(t.GetProperty("channel_sums"));
            for (int c = 0; c < 3; c++)
            {
                double s = 0;
                foreach (var v in tile.Slice(c * plane, plane)) s += v;
                Assert.True(Math.Abs(s - sums[c]) <= 1e-6 * plane, $"{name} tile {i} channel {c} sum {s} vs {sums[c]}");
            }
        }
    }

    [Theory, MemberData(nameof(NextGolden.All), MemberType = typeof(NextGolden))]
    public void PerTileFeaturesAndPackedSequenceMatch(string name)
    {
        var g = new NextGolden(name);
        var feats = fx.Model.EncodeAnyres(ImageLoader.Load(g.ImagePath));
        int side2 = fx.Model.Config.Llava.Vision.NumPatches, dt = fx.Model.Config.Llava.Text.HiddenSize;
        foreach (var t in g["vision_features"].GetProperty("per_tile").EnumerateArray())
        {
            int i = t.GetProperty("index").GetInt32();
            Compare.Stats($"{name} tile {i} selected", feats.PerTile[i].Features, t.GetProperty("selected"), StatRel);
            Compare.Close($"{name} tile {i} selected token sums", TokenSums(feats.PerTile[i].Features, side2),
                GoldenReference.Floats(t.GetProperty("selected").GetProperty("token_sums")), 1e-3);
            var proj = feats.Projected.AsSpan(i * side2 * dt, side2 * dt);
            Compare.Stats($"{name} tile {i} projected", proj, t.GetProperty("projected"), StatRel);
            Compare.Close($"{name} tile {i} projected token sums", TokenSums(proj, side2),
                GoldenReference.Floats(t.GetProperty("projected").GetProperty("token_sums")), 1e-3);
        }

        var p = g["packed_image_features"];
        Assert.Equal(GoldenReference.Ints(p.GetProperty("shape")), new[] { feats.Layout.Count, dt });
        var layout = new string(feats.Layout.Tokens.Select(k => k.IsNewline ? 'n' : k.Tile == 0 ? 'b' : 'g').ToArray());
        Assert.Equal(p.GetProperty("layout").GetString(), layout);
        int k = 0;
        foreach (var src in p.GetProperty("source_tile_patch").EnumerateArray())
        {
            var tok = feats.Layout.Tokens[k++];
            Assert.Equal((src[0].GetInt32(), src[1].GetInt32()), (tok.Tile, tok.Patch));
        }
        Compare.Stats($"{name} packed", feats.Packed, p, StatRel);
        Compare.Close($"{name} packed row sums", TokenSums(feats.Packed, feats.Layout.Count), GoldenReference.Floats(p.GetProperty("row_sums")), 1e-3);
        Compare.Close($"{name} packed last row (newline)", feats.Packed.AsSpan((feats.Layout.Count - 1) * dt, dt),
            GoldenReference.Floats(p.GetProperty("last_row")), 1e-4, 0.99999);
        Compare.Close($"{name} packed first grid row", feats.Packed.AsSpan(side2 * dt, dt),
            GoldenReference.Floats(p.GetProperty("first_grid_row")), 1e-4, 0.99999);
    }

    [Theory, MemberData(nameof(NextGolden.All), MemberType = typeof(NextGolden))]
    public void PromptIdsExpandToTheProcessorsImageTokens(string name)
    {
        var g = new NextGolden(name);
        var prompt = fx.Model.Tokenize(g["question"].GetString()!);
        Assert.Equal(g.Ints("input_ids"), fx.Model.ExpandedIds(prompt, g.Int("num_image_tokens")));
        Assert.Equal(g.Ints("image_token_span")[0], prompt.ImagePositions[0]);
    }

    [Fact]
    public void TilesGiveTheSameFeaturesWhateverTheThreadCount()
    {
        var img = ImageLoader.Load(new NextGolden("case2").ImagePath);
        var many = fx.Model.EncodeAnyres(img);
        int saved = global::AutoPrune.Tensors.Parallelism.MaxThreads;
        try
        {
            global::AutoPrune.Tensors.Parallelism.MaxThreads = 1;
            var one = fx.Model.EncodeAnyres(img);
            Assert.Equal(one.Packed, many.Packed);
        }
        finally { global::AutoPrune.Tensors.Parallelism.MaxThreads = saved; }
    }

    [Fact]
    public void SpatialPackingIsTheWholeGridWithoutNewlines()
    {
        var g = new NextGolden("case0"); // 2x2 grid of 4x4 patches: 16 base + 64 grid tokens
        var unpad = fx.Model.EncodeAnyres(ImageLoader.Load(g.ImagePath));
        var spatial = fx.Spatial.EncodeAnyres(ImageLoader.Load(g.ImagePath));
        Assert.Equal(16 + 64, spatial.Layout.Count);
        Assert.Equal(80, fx.Spatial.ImageTokens(60, 100));
        Assert.DoesNotContain(spatial.Layout.Tokens, t => t.IsNewline);
        int dt = fx.Model.Config.Llava.Text.HiddenSize;
        // Feature-grid row 5, column 6: tile (1, 1) = pixel tile 4, patch (1, 2) = 6.
        var tok = spatial.Layout.Tokens[16 + 5 * 8 + 6];
        Assert.Equal((4, 6), (tok.Tile, tok.Patch));
        Assert.Equal(unpad.Projected.AsSpan((4 * 16 + 6) * dt, dt).ToArray(), spatial.Packed.AsSpan((16 + 5 * 8 + 6) * dt, dt).ToArray());
    }

    private static float[] TokenSums(ReadOnlySpan<float> x, int tokens)
    {
        int d = x.Length / tokens;
        var s = new float[tokens];
        for (int t = 0; t < tokens; t++) { double a = 0; foreach (var v in x.Slice(t * d, d)) a += v; s[t] = (float)a; }
        return s;
    }
}
