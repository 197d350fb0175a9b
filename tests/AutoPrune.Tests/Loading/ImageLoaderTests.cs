using AutoPrune.Loading;

namespace AutoPrune.Tests.Loading;

public class ImageLoaderTests
{
    private static string Case0 => Path.Combine(TestPaths.Golden, "case0.png");

    [Fact]
    public void LoadsPngAsRgb()
    {
        var img = ImageLoader.Load(Case0);
        Assert.Equal((128, 128), (img.Width, img.Height));
        Assert.Equal(128 * 128 * 3, img.Rgb.Length);
    }

    [Fact]
    public void StreamAndBytesOverloadsDecodeTheSamePixels()
    {
        var fromPath = ImageLoader.Load(Case0);
        using var fs = File.OpenRead(Case0);
        var fromStream = ImageLoader.Load(fs);
        var fromBytes = ImageLoader.Load(File.ReadAllBytes(Case0));
        Assert.Equal(fromPath.Rgb, fromStream.Rgb);
        Assert.Equal(fromPath.Rgb, fromBytes.Rgb);
    }

    [Fact]
    public void MissingFile()
    {
        var p = Path.Combine(TestPaths.TempDir(), "missing.png");
        var e = Assert.Throws<ImageLoadException>(() => ImageLoader.Load(p));
        Assert.Contains(p, e.Message);
        Assert.Contains("not found", e.Message);
    }

    [Fact]
    public void Directory()
    {
        var d = TestPaths.TempDir();
        var e = Assert.Throws<ImageLoadException>(() => ImageLoader.Load(d));
        Assert.Contains("directory", e.Message);
    }

    [Fact]
    public void EmptyFile()
    {
        var p = Path.Combine(TestPaths.TempDir(), "empty.png");
        File.WriteAllBytes(p, []);
        var e = Assert.Throws<ImageLoadException>(() => ImageLoader.Load(p));
        Assert.Contains(p, e.Message);
        Assert.Contains("empty", e.Message);
    }

    [Fact]
    public void GarbageBytes()
    {
        var p = Path.Combine(TestPaths.TempDir(), "garbage.png");
        File.WriteAllText(p, "this is definitely not an image, just some text padding it out");
        var e = Assert.Throws<ImageLoadException>(() => ImageLoader.Load(p));
        Assert.Contains(p, e.Message);
        Assert.Throws<ImageLoadException>(() => ImageLoader.Load(new byte[] { 1, 2, 3 }));
        Assert.Throws<ImageLoadException>(() => ImageLoader.Load(new MemoryStream()));
    }

    [Fact]
    public void TruncatedPng()
    {
        var bytes = File.ReadAllBytes(Case0).AsSpan(0, 200).ToArray();
        Assert.Throws<ImageLoadException>(() => ImageLoader.Load(bytes, "truncated.png"));
    }

    /// <summary>A PNG signature and an IHDR claiming the given size (RGB, 8 bit), an empty IDAT and IEND, valid CRCs.</summary>
    internal static byte[] PngHeaderOnly(int w, int h)
    {
        var ihdr = new byte[13];
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(ihdr, w);
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(ihdr.AsSpan(4), h);
        ihdr[8] = 8; ihdr[9] = 2;
        return TestImages.PngFromChunks(("IHDR", ihdr), ("IDAT", []), ("IEND", []));
    }

    [Theory]
    [InlineData(40000, 1)]     // one side over MaxSide
    [InlineData(16000, 11000)] // 176M pixels, over the 89M default (stb itself would try to allocate 528 MB)
    public void AbsurdDimensionsAreRejectedFromTheHeader(int w, int h)
    {
        var e = Assert.Throws<ImageLoadException>(() => ImageLoader.Load(PngHeaderOnly(w, h), "huge.png"));
        Assert.Contains($"{w}x{h}", e.Message); // our limit, not the decoder's own refusal
        Assert.Contains("over the limit", e.Message);
        Assert.Contains("huge.png", e.Message);
    }

    [Fact]
    public void HeaderOverflowingTheDecoderIsRejected() =>
        Assert.Throws<ImageLoadException>(() => ImageLoader.Load(PngHeaderOnly(100000, 100000), "huge.png"));

    /// <summary>An uncompressed 24-bit BMP (bottom-up rows, BGR, rows padded to 4 bytes).</summary>
    private static byte[] Bmp24(int w, int h, Func<int, int, (byte R, byte G, byte B)> px)
    {
        int stride = (w * 3 + 3) & ~3, size = 54 + stride * h;
        var b = new byte[size];
        void Le32(int at, int v) => BitConverter.TryWriteBytes(b.AsSpan(at, 4), v);
        b[0] = (byte)'B'; b[1] = (byte)'M'; Le32(2, size); Le32(10, 54);
        Le32(14, 40); Le32(18, w); Le32(22, h); b[26] = 1; b[28] = 24; Le32(34, stride * h);
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
            {
                var (r, g, bl) = px(x, y);
                int o = 54 + (h - 1 - y) * stride + x * 3;
                b[o] = bl; b[o + 1] = g; b[o + 2] = r;
            }
        return b;
    }

    [Fact]
    public void LoadsBmpWithCorrectChannelOrderAndOrientation()
    {
        var bytes = Bmp24(3, 2, (x, y) => ((byte)(10 * x + 1), (byte)(100 + y), (byte)200));
        var img = ImageLoader.Load(bytes, "test.bmp");
        Assert.Equal((3, 2), (img.Width, img.Height));
        // Top-left first, R G B order.
        Assert.Equal(new byte[] { 1, 100, 200, 11, 100, 200, 21, 100, 200, 1, 101, 200, 11, 101, 200, 21, 101, 200 }, img.Rgb);
    }

    [Fact]
    public void LoadsGif()
    {
        // GIF89a 1x1, global palette [white, black], no transparency; LZW (min code 2) data 0x44 0x01 = clear, index 0, end.
        byte[] gif = [0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 1, 0, 1, 0, 0x80, 0, 0, 0xFF, 0xFF, 0xFF, 0, 0, 0,
                      0x2C, 0, 0, 0, 0, 1, 0, 1, 0, 0, 2, 2, 0x44, 0x01, 0, 0x3B];
        var img = ImageLoader.Load(gif, "white.gif");
        Assert.Equal((1, 1), (img.Width, img.Height));
        Assert.Equal(new byte[] { 255, 255, 255 }, img.Rgb);
    }

    /// <summary>An uncompressed TGA: type 2 (true color, BGR/BGRA) or 3 (grayscale), top-left origin.</summary>
    private static byte[] Tga(int type, int bpp, int w, int h, byte[] pixels)
    {
        var b = new byte[18 + pixels.Length];
        b[2] = (byte)type;
        b[12] = (byte)w; b[13] = (byte)(w >> 8); b[14] = (byte)h; b[15] = (byte)(h >> 8);
        b[16] = (byte)bpp;
        b[17] = (byte)(0x20 | (bpp == 32 ? 8 : 0)); // top-left origin, alpha bits
        pixels.CopyTo(b, 18);
        return b;
    }

    [Fact]
    public void GrayscaleIsReplicatedToRgb()
    {
        var img = ImageLoader.Load(Tga(3, 8, 2, 1, [7, 250]), "gray.tga");
        Assert.Equal(new byte[] { 7, 7, 7, 250, 250, 250 }, img.Rgb);
    }

    [Fact]
    public void AlphaIsDiscardedNotComposited()
    {
        // BGRA pixels: opaque red, fully transparent green. PIL convert("RGB") keeps the color of transparent pixels.
        var img = ImageLoader.Load(Tga(2, 32, 2, 1, [0, 0, 255, 255, 0, 200, 0, 0]), "rgba.tga");
        Assert.Equal(new byte[] { 255, 0, 0, 0, 200, 0 }, img.Rgb);
    }
}
