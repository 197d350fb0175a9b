using AutoPrune.Loading;
using AutoPrune.Models.LlavaNext;
using AutoPrune.Tests.Support;

namespace AutoPrune.Tests.Loading;

/// <summary>Anyres selection and packing on hand-checkable sizes, including degenerate and extreme aspect ratios.</summary>
public sealed class LlavaNextImageProcessorTests(NextModelFixture fx) : IClassFixture<NextModelFixture>
{
    private static readonly Pinpoint[] V16 = LlavaNextConfig.DefaultPinpoints;

    [Theory]
    [InlineData(480, 640, 672, 672)]   // 4:3 photo: the 2x2 canvas keeps the most pixels
    [InlineData(300, 1000, 336, 1008)] // wide strip
    [InlineData(1000, 300, 1008, 336)]
    [InlineData(336, 672, 336, 672)]   // exactly a pinpoint
    [InlineData(100, 100, 336, 672)]   // small square: every pinpoint keeps all pixels; 336x672 and 672x336 waste least, the first wins
    public void SelectsLlavaV16Pinpoints(int h, int w, int bh, int bw)
    {
        var best = LlavaNextImageProcessor.SelectBestResolution(h, w, V16);
        Assert.Equal(new Pinpoint(bh, bw), best);
    }

    [Fact]
    public void PythonIntOfRoundTo7Digits()
    {
        Assert.Equal(3, AnyresLayout.IntOfRound7(2.9999999999999996));
        Assert.Equal(2, AnyresLayout.IntOfRound7(2.99999));
        Assert.Equal(0, AnyresLayout.IntOfRound7(0.04));
    }

    [Theory]
    [InlineData(1, 200, 16)]    // one pixel high: unpadding keeps no feature row, only the 16 base tokens remain
    [InlineData(200, 1, 20)]    // one pixel wide: no column is kept, but HF still closes each of the 4 rows with image_newline
    [InlineData(1, 1, 36)]      // upscaled to 48x48 on a 48x96 canvas: 4x4 kept + 4 newlines + 16 base
    [InlineData(2, 3000, 16)]
    [InlineData(3000, 7, 20)]
    public void DegenerateAndExtremeSizesGiveAConsistentAnswer(int h, int w, int expected)
    {
        var img = new RgbImage(w, h, Enumerable.Range(0, w * h * 3).Select(i => (byte)(i * 37)).ToArray());
        var feats = fx.Model.EncodeAnyres(img);
        Assert.Equal(expected, feats.Layout.Count);
        Assert.Equal(expected, fx.Model.ImageTokens(h, w));
        Assert.Equal(feats.Layout.Count * fx.Model.Config.Llava.Text.HiddenSize, feats.Packed.Length);
        Assert.All(feats.Packed, v => Assert.True(float.IsFinite(v)));
    }
}
