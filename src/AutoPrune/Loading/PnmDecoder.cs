namespace AutoPrune.Loading;

/// <summary>
/// Netpbm images: P1/P4 bitmaps (1 is black), P2/P5 graymaps and P3/P6 pixmaps, plain (ASCII) and binary,
/// with maxval up to 65535 (samples scaled to 0..255 with rounding). Comments (#) are allowed in the header.
/// </summary>
internal static class PnmDecoder
{
    public static bool IsPnm(ReadOnlySpan<byte> b) => b.Length >= 2 && b[0] == 'P' && b[1] is >= (byte)'1' and <= (byte)'6';

    /// <summary>Decodes the image; <paramref name="checkSize"/> sees width and height before any pixel memory is allocated.</summary>
    public static RgbImage Decode(ReadOnlySpan<byte> b, string source, Action<int, int> checkSize)
    {
        int kind = b[1] - '0';
        bool bitmap = kind is 1 or 4, color = kind is 3 or 6, binary = kind >= 4;
        int pos = 2;
        int width = Number(b, ref pos, source, "width"), height = Number(b, ref pos, source, "height");
        int maxval = bitmap ? 1 : Number(b, ref pos, source, "maxval");
        if (width <= 0 || height <= 0) throw Bad(source, $"invalid image size {width}x{height}");
        if (maxval is < 1 or > 65535) throw Bad(source, $"maxval {maxval} is outside 1..65535");
        checkSize(width, height);

        int channels = color ? 3 : 1;
        long samples = (long)width * height * channels;
        var rgb = new byte[checked(width * height * 3)];
        if (binary)
        {
            if (pos >= b.Length || !IsSpace(b[pos])) throw Bad(source, "truncated header");
            pos++; // exactly one whitespace byte before the raster
            var data = b[pos..];
            if (bitmap)
            {
                int rowBytes = (width + 7) / 8;
                if (data.Length < (long)rowBytes * height) throw Truncated(source, (long)rowBytes * height, data.Length);
                for (int y = 0; y < height; y++)
                    for (int x = 0; x < width; x++)
                        Put(rgb, y * width + x, (data[y * rowBytes + x / 8] >> (7 - x % 8) & 1) != 0 ? (byte)0 : (byte)255);
                return new RgbImage(width, height, rgb);
            }
            int bytesPer = maxval < 256 ? 1 : 2;
            if (data.Length < samples * bytesPer) throw Truncated(source, samples * bytesPer, data.Length);
            for (long i = 0; i < samples; i++)
            {
                int v = bytesPer == 1 ? data[(int)i] : data[(int)(2 * i)] << 8 | data[(int)(2 * i + 1)];
                Store(rgb, i, color, Scale(v, maxval, source));
            }
            return new RgbImage(width, height, rgb);
        }
        for (long i = 0; i < samples; i++)
        {
            int v = bitmap ? Bit(b, ref pos, source) : Number(b, ref pos, source, "sample");
            if (bitmap) Put(rgb, (int)i, v == 1 ? (byte)0 : (byte)255);
            else Store(rgb, i, color, Scale(v, maxval, source));
        }
        return new RgbImage(width, height, rgb);
    }

    private static ImageLoadException Bad(string source, string problem) => new($"{source}: corrupt PNM file: {problem}");

    private static ImageLoadException Truncated(string source, long need, int have) =>
        Bad(source, $"truncated (the raster needs {need} bytes, the file has {have})");

    private static bool IsSpace(byte c) => c is (byte)' ' or (byte)'\t' or (byte)'\n' or (byte)'\r' or 0x0B or 0x0C;

    private static void SkipSpaceAndComments(ReadOnlySpan<byte> b, ref int pos)
    {
        while (pos < b.Length)
        {
            if (IsSpace(b[pos])) pos++;
            else if (b[pos] == '#') { while (pos < b.Length && b[pos] != '\n' && b[pos] != '\r') pos++; }
            else break;
        }
    }

    private static int Number(ReadOnlySpan<byte> b, ref int pos, string source, string what)
    {
        SkipSpaceAndComments(b, ref pos);
        if (pos >= b.Length) throw Bad(source, $"truncated (the data ends before the {what})");
        long v = 0;
        int start = pos;
        while (pos < b.Length && b[pos] is >= (byte)'0' and <= (byte)'9')
        {
            v = v * 10 + (b[pos++] - '0');
            if (v > int.MaxValue) throw Bad(source, $"{what} is too large");
        }
        if (pos == start) throw Bad(source, $"expected a number for the {what} at byte {start}, found 0x{b[start]:X2}");
        return (int)v;
    }

    /// <summary>Plain bitmaps may write their 0/1 digits without separators.</summary>
    private static int Bit(ReadOnlySpan<byte> b, ref int pos, string source)
    {
        SkipSpaceAndComments(b, ref pos);
        if (pos >= b.Length) throw Bad(source, "truncated (the data ends inside the raster)");
        byte c = b[pos++];
        return c is (byte)'0' or (byte)'1' ? c - '0' : throw Bad(source, $"expected 0 or 1 at byte {pos - 1}");
    }

    private static byte Scale(int v, int maxval, string source)
    {
        if (v > maxval) throw Bad(source, $"sample {v} exceeds maxval {maxval}");
        return maxval == 255 ? (byte)v : (byte)((v * 255L + maxval / 2) / maxval);
    }

    private static void Store(byte[] rgb, long sample, bool color, byte v)
    {
        if (color) rgb[sample] = v;
        else Put(rgb, (int)sample, v);
    }

    private static void Put(byte[] rgb, int pixel, byte v) => rgb[3 * pixel] = rgb[3 * pixel + 1] = rgb[3 * pixel + 2] = v;
}
