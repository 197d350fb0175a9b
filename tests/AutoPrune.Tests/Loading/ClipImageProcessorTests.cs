using AutoPrune.Loading;

namespace AutoPrune.Tests.Loading;

public class ClipImageProcessorTests
{
    private static ClipImageProcessor Tiny() => ClipImageProcessor.FromFile(Path.Combine(TestPaths.TinyModel, "preprocessor_config.json"));

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    public void GoldenPixelValues(int n)
    {
        var g = GoldenCase.Load(n);
        var px = Tiny().Process(ImageLoader.Load(g.ImagePath), out int h, out int w);
        Assert.Equal((128, 128), (h, w));
        Assert.Equal(3 * 128 * 128, px.Length);
        for (int i = 0; i < 16; i++)
            Assert.True(Math.Abs(px[i] - g.PixelFirst16[i]) <= 1e-6, $"pixel {i}: {px[i]} vs golden {g.PixelFirst16[i]}");
        double sum = 0;
        foreach (var v in px) sum += v;
        Assert.True(Math.Abs(sum - g.PixelSum) <= 1e-6 * Math.Abs(g.PixelSum), $"sum {sum} vs golden {g.PixelSum}");
    }

    [Fact]
    public void ConfigFieldsAreRead()
    {
        var p = Tiny();
        Assert.True(p.DoResize && p.DoCenterCrop && p.DoRescale && p.DoNormalize && p.DoConvertRgb);
        Assert.Equal(128, p.ShortestEdge);
        Assert.Equal((128, 128), (p.CropHeight, p.CropWidth));
        Assert.Equal(ResampleFilter.Bicubic, p.Resample);
        Assert.Equal(0.00392156862745098, p.RescaleFactor);
        Assert.Equal(ClipImageProcessor.OpenAiClipMean, p.ImageMean);
        Assert.Equal(ClipImageProcessor.OpenAiClipStd, p.ImageStd);
        Assert.False(p.PadToSquare);
    }

    [Fact]
    public void MissingFieldsTakeClipDefaults()
    {
        var dir = TestPaths.TempDir();
        var f = Path.Combine(dir, "preprocessor_config.json");
        File.WriteAllText(f, "{}");
        var p = ClipImageProcessor.FromFile(f);
        Assert.Equal(224, p.ShortestEdge);
        Assert.Equal((224, 224), (p.CropHeight, p.CropWidth));
        Assert.Equal(1.0 / 255.0, p.RescaleFactor);
        Assert.Equal(ResampleFilter.Bicubic, p.Resample);
        Assert.Equal((224, 224), p.OutputSize(640, 480));
    }

    [Theory]
    [InlineData("{\"resample\": 1}", "resample 1")]
    [InlineData("{\"resample\": 0}", "resample 0")]
    [InlineData("{\"size\": \"big\"}", "size")]
    [InlineData("{\"image_mean\": [0.5, 0.5]}", "image_mean")]
    [InlineData("{\"image_std\": [0.5, 0, 0.5]}", "image_std")]
    [InlineData("[1]", "JSON object")]
    [InlineData("{not json", "invalid JSON")]
    public void BadConfigIsRejected(string json, string expected)
    {
        var f = Path.Combine(TestPaths.TempDir(), "preprocessor_config.json");
        File.WriteAllText(f, json);
        var e = Assert.Throws<ModelLoadException>(() => ClipImageProcessor.FromFile(f));
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void MissingConfigFileIsModelLoadError() =>
        Assert.Throws<ModelLoadException>(() => ClipImageProcessor.FromFile(Path.Combine(TestPaths.TempDir(), "nope.json")));

    [Fact]
    public void HeightWidthSizeAndBilinearAreAccepted()
    {
        var f = Path.Combine(TestPaths.TempDir(), "p.json");
        File.WriteAllText(f, "{\"size\": {\"height\": 20, \"width\": 30}, \"resample\": 2, \"do_center_crop\": false}");
        var p = ClipImageProcessor.FromFile(f);
        Assert.Equal(ResampleFilter.Bilinear, p.Resample);
        var px = p.Process(RgbImage.Filled(7, 9, 1, 2, 3), out int h, out int w);
        Assert.Equal((20, 30), (h, w));
        Assert.Equal(3 * 20 * 30, px.Length);
    }

    [Theory]
    [InlineData(200, 100, 128, 64)] // landscape: short side 100 -> 64, long int(64*200/100)
    [InlineData(100, 300, 64, 192)] // portrait
    [InlineData(333, 500, 64, 96)]  // int(64*500/333) = int(96.096) = 96
    [InlineData(500, 333, 96, 64)]
    public void ShortestEdgeTargetTruncatesLongSide(int w, int h, int ew, int eh)
    {
        var p = new ClipImageProcessor { ShortestEdge = 64 };
        Assert.Equal((ew, eh), p.ResizeTarget(w, h));
    }

    [Fact]
    public void NonSquareImageIsResizedThenCenterCropped()
    {
        // 200x100: left half red, right half blue. Shortest edge 64 -> 128x64; center crop 64 takes resized columns 32..95,
        // so the red/blue boundary (resized column 64) lands at crop column 32.
        var img = RgbImage.Filled(200, 100, 255, 0, 0);
        for (int y = 0; y < 100; y++)
            for (int x = 100; x < 200; x++) { int o = (y * 200 + x) * 3; img.Rgb[o] = 0; img.Rgb[o + 2] = 255; }
        var p = new ClipImageProcessor { ShortestEdge = 64, CropHeight = 64, CropWidth = 64 };
        var px = p.Process(img, out int h, out int w);
        Assert.Equal((64, 64), (h, w));
        int plane = 64 * 64;
        float Norm(int u8, int c) => ((float)(u8 * (1.0 / 255.0)) - p.ImageMean[c]) / p.ImageStd[c];
        foreach (int y in new[] { 0, 31, 63 })
        {
            Assert.Equal(Norm(255, 0), px[0 * plane + y * 64 + 5]); // red side
            Assert.Equal(Norm(0, 2), px[2 * plane + y * 64 + 5]);
            Assert.Equal(Norm(0, 0), px[0 * plane + y * 64 + 58]);  // blue side
            Assert.Equal(Norm(255, 2), px[2 * plane + y * 64 + 58]);
            Assert.True(px[0 * plane + y * 64 + 31] > px[0 * plane + y * 64 + 33]); // the edge is between
        }
    }

    [Fact]
    public void CenterCropUsesFloorOffset()
    {
        // 5 wide, crop 2: HF offset (5-2)//2 = 1.
        var img = new RgbImage(5, 1, [0, 0, 0, 10, 10, 10, 20, 20, 20, 30, 30, 30, 40, 40, 40]);
        var c = ClipImageProcessor.CenterCrop(img, 1, 2);
        Assert.Equal(new byte[] { 10, 10, 10, 20, 20, 20 }, c.Rgb);
    }

    [Fact]
    public void CenterCropPadsSmallImagesWithZeros()
    {
        // 3x3 into 6x6: HF pads then crops, placing the image at ceil((6-3)/2) = 2.
        var img = RgbImage.Filled(3, 3, 9, 9, 9);
        var c = ClipImageProcessor.CenterCrop(img, 6, 6);
        for (int y = 0; y < 6; y++)
            for (int x = 0; x < 6; x++)
            {
                byte expect = y is >= 2 and <= 4 && x is >= 2 and <= 4 ? (byte)9 : (byte)0;
                Assert.Equal(expect, c.Rgb[(y * 6 + x) * 3 + 1]);
            }
    }

    [Fact]
    public void PadColorIsLlavaMeanColor()
    {
        Assert.Equal(((byte)122, (byte)116, (byte)104), new ClipImageProcessor().PadColor);
    }

    [Fact]
    public void PadToSquareCentersTheImageOnTheMeanColor()
    {
        // Wide 4x2 -> 4x4, image at row (4-2)//2 = 1.
        var wide = ClipImageProcessor.ExpandToSquare(RgbImage.Filled(4, 2, 255, 255, 255), (122, 116, 104));
        Assert.Equal((4, 4), (wide.Width, wide.Height));
        for (int y = 0; y < 4; y++)
            for (int x = 0; x < 4; x++)
            {
                int o = (y * 4 + x) * 3;
                var got = (wide.Rgb[o], wide.Rgb[o + 1], wide.Rgb[o + 2]);
                Assert.Equal(y is 1 or 2 ? ((byte)255, (byte)255, (byte)255) : ((byte)122, (byte)116, (byte)104), got);
            }
        // Tall 2x5 -> 5x5, image at column (5-2)//2 = 1.
        var tall = ClipImageProcessor.ExpandToSquare(RgbImage.Filled(2, 5, 0, 0, 0), (122, 116, 104));
        Assert.Equal((5, 5), (tall.Width, tall.Height));
        for (int x = 0; x < 5; x++)
            Assert.Equal(x is 1 or 2 ? (byte)0 : (byte)122, tall.Rgb[(3 * 5 + x) * 3]);
    }

    [Fact]
    public void PadToSquareOptionFeedsTheBorderThroughTheProcessor()
    {
        var p = new ClipImageProcessor { PadToSquare = true, DoResize = false, DoCenterCrop = false };
        var px = p.Process(RgbImage.Filled(4, 2, 255, 255, 255), out int h, out int w);
        Assert.Equal((4, 4), (h, w));
        for (int c = 0; c < 3; c++)
        {
            byte border = c switch { 0 => 122, 1 => 116, _ => 104 };
            float expectBorder = ((float)(border * (1.0 / 255.0)) - p.ImageMean[c]) / p.ImageStd[c];
            float expectWhite = ((float)(255 * (1.0 / 255.0)) - p.ImageMean[c]) / p.ImageStd[c];
            Assert.Equal(expectBorder, px[c * 16 + 0]);
            Assert.Equal(expectWhite, px[c * 16 + 1 * 4 + 2]);
            Assert.Equal(expectBorder, px[c * 16 + 3 * 4 + 3]);
            // The mean color normalizes to about zero: that is why LLaVA pads with it.
            Assert.True(Math.Abs(expectBorder) < 0.02f);
        }
    }

    [Fact]
    public void RescaleAndNormalizeCanBeDisabled()
    {
        var img = RgbImage.Filled(2, 2, 10, 20, 30);
        var raw = new ClipImageProcessor { DoResize = false, DoCenterCrop = false, DoRescale = false, DoNormalize = false }.Process(img);
        Assert.Equal(new float[] { 10, 10, 10, 10, 20, 20, 20, 20, 30, 30, 30, 30 }, raw);
        var scaled = new ClipImageProcessor { DoResize = false, DoCenterCrop = false, DoNormalize = false }.Process(img);
        Assert.Equal((float)(20 / 255.0), scaled[4]);
    }
}
