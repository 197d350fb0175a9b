using AutoPrune.Loading;

namespace AutoPrune.Tests.Loading;

/// <summary>Truncated and corrupt images are refused deterministically; top-down BMP and PNM decode; the pixel limit.</summary>
public sealed class ImageRobustnessTests
{
    private static void AssertPrintable(string message) =>
        Assert.DoesNotContain(message, c => char.IsControl(c));

    [Fact]
    public void TruncatedJpegIsAnErrorAtEveryCut()
    {
        var jpg = TestImages.Jpeg();
        Assert.Equal(128, ImageLoader.Load(jpg, "full.jpg").Width);
        // Cuts inside the headers, inside the scan and just before the end-of-image marker.
        foreach (int cut in new[] { 3, 20, 200, jpg.Length / 3, jpg.Length / 2, jpg.Length - 3, jpg.Length - 2, jpg.Length - 1 })
        {
            var e = Assert.Throws<ImageLoadException>(() => ImageLoader.Load(jpg.AsSpan(0, cut).ToArray(), "cut.jpg"));
            Assert.Contains("cut.jpg", e.Message);
            AssertPrintable(e.Message);
        }
    }

    [Fact]
    public void JpegWhoseScansSkipAComponentIsRefused()
    {
        var jpg = TestImages.Jpeg();
        // Rename the first component in the scan header to one the frame lacks: nothing would decode it.
        int sos = IndexOfMarker(jpg, 0xDA);
        var bad = (byte[])jpg.Clone();
        bad[sos + 5] = 77;
        var e = Assert.Throws<ImageLoadException>(() => ImageLoader.Load(bad, "scan.jpg"));
        Assert.Contains("component", e.Message);
    }

    private static int IndexOfMarker(byte[] b, byte marker)
    {
        for (int i = 0; i + 1 < b.Length; i++) if (b[i] == 0xFF && b[i + 1] == marker) return i;
        throw new InvalidOperationException("marker not found");
    }

    [Fact]
    public void CorruptJpegDecodesTheSameEveryTimeOrNotAtAll()
    {
        var jpg = TestImages.Jpeg();
        var rng = new Random(17);
        for (int trial = 0; trial < 20; trial++)
        {
            var bad = (byte[])jpg.Clone();
            for (int k = 0; k < 4; k++) bad[rng.Next(jpg.Length / 4, jpg.Length - 2)] ^= (byte)rng.Next(1, 256);
            byte[]? first = null;
            for (int run = 0; run < 3; run++)
            {
                try
                {
                    var px = ImageLoader.Load(bad, "flipped.jpg").Rgb;
                    if (first is null) first = px; else Assert.Equal(first, px);
                }
                catch (ImageLoadException e) { Assert.Null(first); AssertPrintable(e.Message); }
            }
        }
    }

    [Fact]
    public void PngWithABadCrcOrNoIendIsRefused()
    {
        var png = TestImages.Png(4, 3, TestImages.Pattern);
        Assert.Equal(3, ImageLoader.Load(png, "ok.png").Height);

        var flipped = (byte[])png.Clone();
        flipped[40] ^= 0x01; // inside the IDAT data
        var e = Assert.Throws<ImageLoadException>(() => ImageLoader.Load(flipped, "crc.png"));
        Assert.Contains("CRC", e.Message);

        var noEnd = png.AsSpan(0, png.Length - 12).ToArray();
        e = Assert.Throws<ImageLoadException>(() => ImageLoader.Load(noEnd, "noend.png"));
        Assert.Contains("truncated", e.Message);
    }

    [Fact]
    public void TruncatedGifIsRefused()
    {
        var gif = TestImages.Gif();
        Assert.Equal(new byte[] { 255, 255, 255 }, ImageLoader.Load(gif, "ok.gif").Rgb);
        foreach (int cut in new[] { 8, 13, 19, 25, 30, 32, 33 })
        {
            var e = Assert.Throws<ImageLoadException>(() => ImageLoader.Load(gif.AsSpan(0, cut).ToArray(), "cut.gif"));
            Assert.Contains("cut.gif", e.Message);
        }
        // Without the trailer the first frame is complete: Pillow decodes it too.
        Assert.Equal(new byte[] { 255, 255, 255 }, ImageLoader.Load(gif.AsSpan(0, gif.Length - 1).ToArray(), "notrailer.gif").Rgb);
    }

    [Fact]
    public void TruncatedBmpIsRefused()
    {
        var bmp = TestImages.Bmp24(5, 4, TestImages.Pattern);
        ImageLoader.Load(bmp, "ok.bmp");
        var e = Assert.Throws<ImageLoadException>(() => ImageLoader.Load(bmp.AsSpan(0, bmp.Length - 1).ToArray(), "cut.bmp"));
        Assert.Contains("truncated", e.Message);
    }

    [Fact]
    public void TopDownBmpDecodesLikeBottomUp()
    {
        var up = ImageLoader.Load(TestImages.Bmp24(5, 4, TestImages.Pattern), "up.bmp");
        var down = ImageLoader.Load(TestImages.Bmp24(5, 4, TestImages.Pattern, topDown: true), "down.bmp");
        Assert.Equal((5, 4), (down.Width, down.Height));
        Assert.Equal(up.Rgb, down.Rgb);
        Assert.Equal(new byte[] { 1, 100, 200 }, down.Rgb[..3]); // top-left pixel first
    }

    private static byte[] Ascii(string s) => System.Text.Encoding.ASCII.GetBytes(s);

    [Fact]
    public void BinaryAndPlainPnmDecode()
    {
        var p6 = Ascii("P6\n# a comment\n2 1\n255\n").Concat(new byte[] { 1, 2, 3, 250, 251, 252 }).ToArray();
        Assert.Equal(new byte[] { 1, 2, 3, 250, 251, 252 }, ImageLoader.Load(p6, "a.ppm").Rgb);
        var p5 = Ascii("P5 2 1 15\n").Concat(new byte[] { 0, 15 }).ToArray();
        Assert.Equal(new byte[] { 0, 0, 0, 255, 255, 255 }, ImageLoader.Load(p5, "a.pgm").Rgb);
        var p6wide = Ascii("P6 1 1 65535\n").Concat(new byte[] { 0xFF, 0xFF, 0x80, 0x00, 0, 0 }).ToArray();
        Assert.Equal(new byte[] { 255, 128, 0 }, ImageLoader.Load(p6wide, "b.ppm").Rgb);
        var p4 = Ascii("P4 3 1\n").Concat(new byte[] { 0b1010_0000 }).ToArray();
        Assert.Equal(new byte[] { 0, 0, 0, 255, 255, 255, 0, 0, 0 }, ImageLoader.Load(p4, "a.pbm").Rgb);
        Assert.Equal(new byte[] { 1, 2, 3 }, ImageLoader.Load(Ascii("P3 1 1 255 1 2 3"), "c.ppm").Rgb);
        Assert.Equal(new byte[] { 0, 0, 0, 255, 255, 255 }, ImageLoader.Load(Ascii("P1 2 1 10"), "b.pbm").Rgb);
    }

    [Theory]
    [InlineData("P6 2 1 255\n\u0001\u0002\u0003", "truncated")]
    [InlineData("P6 2 1", "truncated")]
    [InlineData("P5 0 1 255\n", "invalid image size")]
    [InlineData("P5 1 1 70000\n", "maxval")]
    [InlineData("P3 1 1 255 1 2 300", "exceeds maxval")]
    [InlineData("P2 1 1 x", "expected a number")]
    [InlineData("P6 99999999999 1 255\n", "too large")]
    public void BadPnmIsATypedError(string text, string expected)
    {
        var e = Assert.Throws<ImageLoadException>(() => ImageLoader.Load(Ascii(text), "bad.pnm"));
        Assert.Contains(expected, e.Message);
        Assert.Contains("bad.pnm", e.Message);
    }

    [Fact]
    public void PnmOverThePixelLimitIsRefusedBeforeAllocating()
    {
        var e = Assert.Throws<ImageLoadException>(() => ImageLoader.Load(Ascii("P6 16000 11000 255\n"), "bomb.ppm"));
        Assert.Contains("over the limit", e.Message);
    }

    [Fact]
    public void DecoderErrorsArePrintable()
    {
        Assert.Equal("a\\u0000b\\u0007", AutoPruneException.Printable("a\0b\a"));
        Assert.Equal("x \\ud800 y", AutoPruneException.Printable("x \ud800 y"));
        Assert.Equal("ok 😀", AutoPruneException.Printable("ok 😀"));
        Assert.Equal("line\\u000anext", new ImageLoadException("line\nnext").Message);
    }
}

/// <summary>The process-wide pixel limit: these tests change it, so they run alone.</summary>
[Collection(nameof(PixelLimitCollection))]
public sealed class PixelLimitTests
{
    [Fact]
    public void TheLimitIsPillowsAndCanBeRaised()
    {
        Assert.Equal(89_478_485, ImageLoader.MaxPixels);
        var huge = ImageLoaderTests.PngHeaderOnly(16000, 11000);
        Assert.Contains("over the limit", Assert.Throws<ImageLoadException>(() => ImageLoader.Load(huge, "h.png")).Message);
        try
        {
            ImageLoader.MaxPixels = 200_000_000;
            // Past the limit now: the header is accepted and the (empty) pixel data is what fails.
            var e = Assert.Throws<ImageLoadException>(() => ImageLoader.Load(huge, "h.png"));
            Assert.DoesNotContain("over the limit", e.Message);
        }
        finally { ImageLoader.MaxPixels = ImageLoader.DefaultMaxPixels; }
        Assert.Throws<ImageLoadException>(() => ImageLoader.MaxPixels = 0);
        Assert.Throws<ImageLoadException>(() => ImageLoader.MaxPixels = ImageLoader.MaxPixelsCeiling + 1);
    }

    [Fact]
    public void PaddingOrResizingAThinImageIsBoundedByTheLimit()
    {
        var thin = ImageLoader.Load(TestImages.Png(1, 32768, (x, y) => (1, 2, 3)), "thin.png");
        var pad = new ClipImageProcessor { ShortestEdge = 128, CropHeight = 128, CropWidth = 128, PadToSquare = true };
        var e = Assert.Throws<ImageLoadException>(() => pad.Process(thin));
        Assert.Contains("32768x32768", e.Message);
        var plain = pad with { PadToSquare = false };
        e = Assert.Throws<ImageLoadException>(() => plain.Process(thin));
        Assert.Contains("over the limit", e.Message);
    }
}

[CollectionDefinition(nameof(PixelLimitCollection), DisableParallelization = true)]
public sealed class PixelLimitCollection;
