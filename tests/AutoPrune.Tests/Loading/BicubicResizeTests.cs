using AutoPrune.Loading;

namespace AutoPrune.Tests.Loading;

public class BicubicResizeTests
{
    private static RgbImage HorizontalGradient(int w, int h)
    {
        var img = new RgbImage(w, h, new byte[w * h * 3]);
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
            {
                byte v = (byte)(x * 255 / (w - 1));
                int o = (y * w + x) * 3;
                img.Rgb[o] = v; img.Rgb[o + 1] = (byte)(255 - v); img.Rgb[o + 2] = v;
            }
        return img;
    }

    [Theory]
    [InlineData(7, 5, 20, 13, ResampleFilter.Bicubic)]
    [InlineData(64, 48, 9, 5, ResampleFilter.Bicubic)]
    [InlineData(31, 17, 17, 31, ResampleFilter.Bicubic)]
    [InlineData(64, 48, 9, 5, ResampleFilter.Bilinear)]
    [InlineData(3, 3, 11, 2, ResampleFilter.Bilinear)]
    public void ConstantImageStaysConstant(int w, int h, int ow, int oh, ResampleFilter f)
    {
        var r = BicubicResize.Resize(RgbImage.Filled(w, h, 0, 137, 255), ow, oh, f);
        Assert.Equal((ow, oh), (r.Width, r.Height));
        for (int i = 0; i < r.Rgb.Length; i += 3)
            Assert.Equal(((byte)0, (byte)137, (byte)255), (r.Rgb[i], r.Rgb[i + 1], r.Rgb[i + 2]));
    }

    [Theory]
    [InlineData(8, 40)]   // upscale
    [InlineData(100, 13)] // antialiased downscale
    [InlineData(50, 49)]
    public void GradientStaysMonotonic(int w, int ow)
    {
        var r = BicubicResize.Resize(HorizontalGradient(w, 4), ow, 4);
        for (int y = 0; y < 4; y++)
            for (int x = 1; x < ow; x++)
            {
                int a = (y * ow + x - 1) * 3, b = a + 3;
                Assert.True(r.Rgb[b] >= r.Rgb[a], $"row {y} x {x}: {r.Rgb[a]} -> {r.Rgb[b]}");
                Assert.True(r.Rgb[b + 1] <= r.Rgb[a + 1]);
            }
        // Every row is the same input row, so every output row is identical.
        for (int y = 1; y < 4; y++)
            Assert.Equal(r.Rgb.AsSpan(0, ow * 3).ToArray(), r.Rgb.AsSpan(y * ow * 3, ow * 3).ToArray());
        Assert.True(r.Rgb[(ow - 1) * 3] > r.Rgb[0] + 150); // still spans most of the range
    }

    [Fact]
    public void IdentitySizeIsAByteExactCopy()
    {
        var src = HorizontalGradient(9, 6);
        src.Rgb[5] = 77;
        var r = BicubicResize.Resize(src, 9, 6);
        Assert.Equal(src.Rgb, r.Rgb);
        Assert.NotSame(src.Rgb, r.Rgb);
    }

    [Fact]
    public void UnchangedAxisIsNotResampled()
    {
        // Only the height changes: each column is constant, so the skipped horizontal pass leaves noisy rows intact.
        var src = new RgbImage(5, 3, new byte[5 * 3 * 3]);
        byte[] row = [3, 250, 17, 99, 0, 1, 200, 8, 64, 128, 255, 42, 7, 7, 9];
        for (int y = 0; y < 3; y++) row.CopyTo(src.Rgb, y * 15);
        var r = BicubicResize.Resize(src, 5, 8);
        for (int y = 0; y < 8; y++) Assert.Equal(row, r.Rgb.AsSpan(y * 15, 15).ToArray());
    }

    [Fact]
    public void TwoByTwoToOneIsTwoRoundedPasses()
    {
        // Scale 2 -> support 4, both taps weigh 0.5 (2^21 in fixed point). Horizontal: (10+21+1)>>1 = 16 and
        // (30+40+1)>>1 = 35 (uint8 intermediate); vertical: (16+35+1)>>1 = 26. A float average would give 25.25.
        var src = new RgbImage(2, 2, [10, 0, 255, 21, 0, 255, 30, 0, 255, 40, 0, 255]);
        foreach (var f in new[] { ResampleFilter.Bicubic, ResampleFilter.Bilinear })
        {
            var r = BicubicResize.Resize(src, 1, 1, f);
            Assert.Equal(new byte[] { 26, 0, 255 }, r.Rgb);
        }
    }

    [Fact]
    public void BilinearFourToTwoMatchesHandDerivedWeights()
    {
        // Scale 2 -> triangle of radius 2 input pixels. Output 0 (center 1.0): taps 0,1,2 weigh .75,.75,.25 -> 3/7,3/7,1/7:
        // 0*3/7 + 70*3/7 + 140/7 = 50. Output 1 (center 3.0): taps 1,2,3 -> 1/7,3/7,3/7: 10 + 60 + 90 = 160.
        var src = new RgbImage(4, 1, [0, 0, 0, 70, 70, 70, 140, 140, 140, 210, 210, 210]);
        var r = BicubicResize.Resize(src, 2, 1, ResampleFilter.Bilinear);
        Assert.Equal(new byte[] { 50, 50, 50, 160, 160, 160 }, r.Rgb);
    }

    [Fact]
    public void BicubicUpscaleTruncatesAndRenormalisesAtTheBorder()
    {
        // 2 -> 4, scale 0.5, support 2. Pillow drops taps outside the image and renormalises (no edge clamping):
        // out 0 (center .25): taps x0,x1 weigh f(.25)=.8671875, f(1.25)=-.0703125 -> 100*1.08824 - 200*.08824 = 91.18 -> 91
        // out 1 (center .75): f(-.25)=.8671875, f(.75)=.2265625 -> 100*.79286 + 200*.20714 = 120.71 -> 121
        // out 2, 3 mirror them: 179.29 -> 179, 208.82 -> 209.
        var src = new RgbImage(2, 1, [100, 100, 100, 200, 200, 200]);
        var r = BicubicResize.Resize(src, 4, 1);
        Assert.Equal(new byte[] { 91, 91, 91, 121, 121, 121, 179, 179, 179, 209, 209, 209 }, r.Rgb);
    }

    [Fact]
    public void DownscaleCoefficientsWidenWithTheScale()
    {
        var (_, _, up) = BicubicResize.Coefficients(10, 20, ResampleFilter.Bicubic);
        var (_, _, down) = BicubicResize.Coefficients(30, 10, ResampleFilter.Bicubic);
        Assert.Equal(5, up);    // ceil(2) * 2 + 1
        Assert.Equal(13, down); // ceil(2 * 3) * 2 + 1
        // Fixed-point weights of every output pixel sum to ~2^22.
        var (bounds, kk, ks) = BicubicResize.Coefficients(30, 10, ResampleFilter.Bicubic);
        for (int i = 0; i < 10; i++)
        {
            long s = 0;
            for (int t = 0; t < bounds[2 * i + 1]; t++) s += kk[i * ks + t];
            Assert.InRange(s, (1 << 22) - 8, (1 << 22) + 8);
        }
    }

    [Fact]
    public void OvershootIsClampedToUint8()
    {
        // A sharp step makes bicubic ring; results must stay clamped, with 0 and 255 reached.
        var src = new RgbImage(4, 1, [0, 0, 0, 0, 0, 0, 255, 255, 255, 255, 255, 255]);
        var r = BicubicResize.Resize(src, 16, 1);
        // Without clamping the negative lobe would wrap to ~250 on the dark side (and 255+ to ~0 on the bright side).
        for (int x = 0; x < 16; x++)
            Assert.True(x < 8 ? r.Rgb[x * 3] < 128 : r.Rgb[x * 3] >= 128, $"x {x}: {r.Rgb[x * 3]}");
        Assert.Equal(0, r.Rgb[0]);
        Assert.Equal(255, r.Rgb[15 * 3]);
    }

    [Fact]
    public void RejectsBadArguments()
    {
        var img = RgbImage.Filled(2, 2, 0, 0, 0);
        Assert.Throws<ArgumentOutOfRangeException>(() => BicubicResize.Resize(img, 0, 2));
        Assert.Throws<ArgumentOutOfRangeException>(() => BicubicResize.Resize(img, 3, 3, (ResampleFilter)1));
    }
}
