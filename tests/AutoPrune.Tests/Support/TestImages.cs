using System.Buffers.Binary;
using System.IO.Compression;
using AutoPrune.Loading;
using SkiaSharp;

namespace AutoPrune.Tests.Support;

/// <summary>Image files built in memory for decoder tests: PNG with real CRCs, BMP either way up, PNM, JPEG via SkiaSharp.</summary>
public static class TestImages
{
    /// <summary>An 8-bit RGB PNG of the pixels (filter 0 rows, zlib-compressed), CRCs computed.</summary>
    public static byte[] Png(int w, int h, Func<int, int, (byte R, byte G, byte B)> px)
    {
        var raw = new MemoryStream();
        for (int y = 0; y < h; y++)
        {
            raw.WriteByte(0);
            for (int x = 0; x < w; x++) { var (r, g, b) = px(x, y); raw.WriteByte(r); raw.WriteByte(g); raw.WriteByte(b); }
        }
        var z = new MemoryStream();
        using (var zs = new ZLibStream(z, CompressionLevel.SmallestSize, leaveOpen: true)) raw.WriteTo(zs);
        var ihdr = new byte[13];
        BinaryPrimitives.WriteInt32BigEndian(ihdr, w);
        BinaryPrimitives.WriteInt32BigEndian(ihdr.AsSpan(4), h);
        ihdr[8] = 8; ihdr[9] = 2;
        return PngFromChunks(("IHDR", ihdr), ("IDAT", z.ToArray()), ("IEND", []));
    }

    public static byte[] PngFromChunks(params (string Type, byte[] Data)[] chunks)
    {
        var png = new MemoryStream();
        png.Write([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]);
        Span<byte> be = stackalloc byte[4];
        foreach (var (type, data) in chunks)
        {
            BinaryPrimitives.WriteInt32BigEndian(be, data.Length);
            png.Write(be);
            var body = System.Text.Encoding.ASCII.GetBytes(type).Concat(data).ToArray();
            png.Write(body);
            BinaryPrimitives.WriteUInt32BigEndian(be, Crc32.Compute(body));
            png.Write(be);
        }
        return png.ToArray();
    }

    /// <summary>An uncompressed 24-bit BMP, rows bottom-up (the usual) or top-down (negative height).</summary>
    public static byte[] Bmp24(int w, int h, Func<int, int, (byte R, byte G, byte B)> px, bool topDown = false)
    {
        int stride = (w * 3 + 3) & ~3, size = 54 + stride * h;
        var b = new byte[size];
        void Le32(int at, int v) => BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(at, 4), v);
        b[0] = (byte)'B'; b[1] = (byte)'M'; Le32(2, size); Le32(10, 54);
        Le32(14, 40); Le32(18, w); Le32(22, topDown ? -h : h); b[26] = 1; b[28] = 24; Le32(34, stride * h);
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
            {
                var (r, g, bl) = px(x, y);
                int o = 54 + (topDown ? y : h - 1 - y) * stride + x * 3;
                b[o] = bl; b[o + 1] = g; b[o + 2] = r;
            }
        return b;
    }

    /// <summary>A JPEG of a golden scene, encoded by SkiaSharp (baseline, quality given).</summary>
    public static byte[] Jpeg(int quality = 90)
    {
        using var bmp = SKBitmap.Decode(Path.Combine(TestPaths.Golden, "case0.png"));
        using var data = SKImage.FromBitmap(bmp).Encode(SKEncodedImageFormat.Jpeg, quality);
        return data.ToArray();
    }

    /// <summary>A 1x1 white GIF89a (global palette [white, black], LZW min code 2) with its trailer.</summary>
    public static byte[] Gif() =>
        [0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 1, 0, 1, 0, 0x80, 0, 0, 0xFF, 0xFF, 0xFF, 0, 0, 0,
         0x2C, 0, 0, 0, 0, 1, 0, 1, 0, 0, 2, 2, 0x44, 0x01, 0, 0x3B];

    /// <summary>A small RGB scene with distinct rows and columns (orientation and channel order show).</summary>
    public static (byte R, byte G, byte B) Pattern(int x, int y) => ((byte)(10 * x + 1), (byte)(100 + y), (byte)(200 - x - y));
}
