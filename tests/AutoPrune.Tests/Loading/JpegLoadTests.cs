using AutoPrune.Loading;
using SkiaSharp;

namespace AutoPrune.Tests.Loading;

/// <summary>JPEG decoding through ImageLoader, on a JPEG encoded here with SkiaSharp from a golden PNG.</summary>
public sealed class JpegLoadTests
{
    [Fact]
    public void JpegOfAGoldenSceneDecodesCloseToThePng()
    {
        var png = ImageLoader.Load(Path.Combine(TestPaths.Golden, "case0.png"));
        using var bmp = SKBitmap.Decode(Path.Combine(TestPaths.Golden, "case0.png"));
        using var data = SKImage.FromBitmap(bmp).Encode(SKEncodedImageFormat.Jpeg, 95);
        var path = Path.Combine(TestPaths.TempDir(), "case0.jpg");
        File.WriteAllBytes(path, data.ToArray());

        var jpg = ImageLoader.Load(path);
        Assert.Equal(png.Width, jpg.Width);
        Assert.Equal(png.Height, jpg.Height);
        // Lossy at quality 95: the mean absolute channel error stays small.
        double err = 0;
        for (int i = 0; i < png.Rgb.Length; i++) err += Math.Abs(png.Rgb[i] - jpg.Rgb[i]);
        Assert.InRange(err / png.Rgb.Length, 0, 6);
    }
}
