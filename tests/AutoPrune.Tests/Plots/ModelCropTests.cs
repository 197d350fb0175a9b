using AutoPrune.Loading;
using AutoPrune.Plots;

namespace AutoPrune.Tests.Plots;

/// <summary>The figure is drawn on exactly the pixels the vision tower saw.</summary>
public sealed class ModelCropTests
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void CropNormalizedEqualsTheProcessorOutput(bool padToSquare)
    {
        // A non-square image so resize, crop (and padding) all matter.
        var src = new RgbImage(90, 60, Enumerable.Range(0, 90 * 60 * 3).Select(i => (byte)(i * 7 % 251)).ToArray());
        var proc = new ClipImageProcessor { ShortestEdge = 32, CropHeight = 32, CropWidth = 32, PadToSquare = padToSquare };
        var chw = proc.Process(src);
        var crop = ModelCrop.Prepare(proc, src);
        Assert.Equal((32, 32), (crop.Width, crop.Height));
        for (int c = 0; c < 3; c++)
            for (int y = 0; y < 32; y++)
                for (int x = 0; x < 32; x++)
                {
                    double expected = (crop.Rgb[(y * 32 + x) * 3 + c] / 255.0 - proc.ImageMean[c]) / proc.ImageStd[c];
                    Assert.Equal(expected, chw[(c * 32 + y) * 32 + x], 1e-5);   // float vs double arithmetic
                }
    }
}
