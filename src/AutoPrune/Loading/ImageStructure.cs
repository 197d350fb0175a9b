using System.Buffers.Binary;

namespace AutoPrune.Loading;

/// <summary>
/// Structural checks of PNG, JPEG, GIF and BMP files, run before StbImageSharp decodes them. The decoder reads
/// zeros past the end of its input and leaves buffers it never writes uninitialized, so a truncated file would
/// decode to made-up (and, for JPEG, run-to-run different) pixels. Refused here, as Pillow refuses them:
/// a PNG chunk whose CRC is wrong or a PNG without IEND; a JPEG without its end-of-image marker, or whose scans
/// leave a component undecoded; a GIF whose first frame's data is cut off; a BMP whose pixel rows run past the
/// end of the file. The header's size comes back so the pixel limit is applied before anything is allocated.
/// </summary>
internal static class ImageStructure
{
    internal readonly record struct Header(string Format, int Width, int Height, bool TopDownBmp = false);

    /// <summary>The checked header, or null for the formats left to the decoder as they are (TGA, PSD, HDR, PNM).</summary>
    public static Header? Check(ReadOnlySpan<byte> b, string source)
    {
        if (b.StartsWith((ReadOnlySpan<byte>)[0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A])) return Png(b, source);
        if (b.Length >= 2 && b[0] == 0xFF && b[1] == 0xD8) return Jpeg(b, source);
        if (b.StartsWith("GIF87a"u8) || b.StartsWith("GIF89a"u8)) return Gif(b, source);
        if (b.StartsWith("BM"u8)) return Bmp(b, source);
        return null;
    }

    private static ImageLoadException Bad(string source, string format, string problem) => new($"{source}: corrupt {format} file: {problem}");

    private static Header Png(ReadOnlySpan<byte> b, string source)
    {
        int pos = 8, width = 0, height = 0;
        bool ihdr = false, idat = false;
        while (true)
        {
            if (pos + 8 > b.Length) throw Bad(source, "PNG", "truncated (the data ends before the IEND chunk)");
            uint len = BinaryPrimitives.ReadUInt32BigEndian(b[pos..]);
            var type = b.Slice(pos + 4, 4);
            string name = System.Text.Encoding.ASCII.GetString(type);
            if (len > int.MaxValue || pos + 12L + len > b.Length)
                throw Bad(source, "PNG", $"truncated (chunk '{name}' at byte {pos} declares {len} bytes; the file ends first)");
            var data = b.Slice(pos + 8, (int)len);
            uint crc = BinaryPrimitives.ReadUInt32BigEndian(b[(pos + 8 + (int)len)..]);
            if (Crc32.Compute(b.Slice(pos + 4, 4 + (int)len)) != crc)
                throw Bad(source, "PNG", $"chunk '{name}' at byte {pos} fails its CRC check");
            if (!ihdr)
            {
                if (!type.SequenceEqual("IHDR"u8) || len != 13) throw Bad(source, "PNG", "the first chunk is not a 13-byte IHDR");
                uint w = BinaryPrimitives.ReadUInt32BigEndian(data), h = BinaryPrimitives.ReadUInt32BigEndian(data[4..]);
                if (w == 0 || h == 0 || w > int.MaxValue || h > int.MaxValue) throw Bad(source, "PNG", $"invalid image size {w}x{h}");
                (width, height, ihdr) = ((int)w, (int)h, true);
            }
            else if (type.SequenceEqual("IDAT"u8)) idat = true;
            else if (type.SequenceEqual("IEND"u8))
            {
                if (!idat) throw Bad(source, "PNG", "no IDAT chunk (no pixel data)");
                return new Header("PNG", width, height);
            }
            pos += 12 + (int)len;
        }
    }

    private static Header Jpeg(ReadOnlySpan<byte> b, string source)
    {
        const string F = "JPEG";
        int pos = 2, width = 0, height = 0, scans = 0;
        var components = new List<(int Id, bool Decoded)>();
        while (true)
        {
            if (pos >= b.Length) throw Bad(source, F, "truncated (the data ends before the end-of-image marker)");
            if (b[pos] != 0xFF) throw Bad(source, F, $"expected a marker at byte {pos}, found 0x{b[pos]:X2}");
            while (pos < b.Length && b[pos] == 0xFF) pos++; // fill bytes
            if (pos >= b.Length) throw Bad(source, F, "truncated (the data ends before the end-of-image marker)");
            int m = b[pos++];
            if (m == 0xD9) break; // EOI
            if (m is 0x01 or (>= 0xD0 and <= 0xD7)) continue; // markers without a payload
            if (m == 0xD8 || m == 0x00) throw Bad(source, F, $"unexpected marker 0xFF{m:X2} at byte {pos - 2}");
            if (pos + 2 > b.Length) throw Bad(source, F, "truncated (the data ends inside a segment)");
            int len = BinaryPrimitives.ReadUInt16BigEndian(b[pos..]);
            if (len < 2 || pos + len > b.Length) throw Bad(source, F, $"truncated (segment 0xFF{m:X2} at byte {pos - 2} runs past the end)");
            var seg = b.Slice(pos + 2, len - 2);
            pos += len;
            bool sof = m is >= 0xC0 and <= 0xCF && m is not (0xC4 or 0xC8 or 0xCC);
            if (sof)
            {
                if (components.Count > 0) throw Bad(source, F, "more than one frame header");
                if (seg.Length < 6) throw Bad(source, F, "frame header too short");
                height = BinaryPrimitives.ReadUInt16BigEndian(seg[1..]);
                width = BinaryPrimitives.ReadUInt16BigEndian(seg[3..]);
                int n = seg[5];
                if (width == 0 || height == 0) throw Bad(source, F, $"invalid image size {width}x{height}");
                if (n == 0 || seg.Length < 6 + 3 * n) throw Bad(source, F, $"frame header lists {n} components in {seg.Length} bytes");
                for (int i = 0; i < n; i++) components.Add((seg[6 + 3 * i], false));
            }
            else if (m == 0xDA)
            {
                if (components.Count == 0) throw Bad(source, F, "a scan comes before the frame header");
                if (seg.Length < 1 || seg.Length < 4 + 2 * seg[0]) throw Bad(source, F, "scan header too short");
                int ns = seg[0];
                int ss = seg[1 + 2 * ns], ah = seg[3 + 2 * ns] >> 4;
                // A component's blocks are only initialized by a scan that carries its DC coefficients first.
                for (int i = 0; i < ns; i++)
                {
                    int id = seg[1 + 2 * i];
                    int k = components.FindIndex(c => c.Id == id);
                    if (k < 0) throw Bad(source, F, $"a scan names component {id}, which the frame does not have");
                    if (ss == 0 && ah == 0) components[k] = (components[k].Id, true);
                }
                scans++;
                pos = SkipEntropyData(b, pos, source);
            }
        }
        if (components.Count == 0 || scans == 0) throw Bad(source, F, "no frame or no scan before the end-of-image marker");
        foreach (var c in components)
            if (!c.Decoded) throw Bad(source, F, $"component {c.Id} is never decoded by any scan");
        return new Header(F, width, height);
    }

    /// <summary>Entropy-coded bytes run until a marker other than a stuffed 0xFF00 or a restart marker.</summary>
    private static int SkipEntropyData(ReadOnlySpan<byte> b, int pos, string source)
    {
        while (true)
        {
            int ff = b[pos..].IndexOf((byte)0xFF);
            if (ff < 0) throw Bad(source, "JPEG", "truncated (the data ends inside a scan)");
            pos += ff;
            if (pos + 1 >= b.Length) throw Bad(source, "JPEG", "truncated (the data ends inside a scan)");
            int next = b[pos + 1];
            if (next == 0x00 || next is >= 0xD0 and <= 0xD7) pos += 2;
            else if (next == 0xFF) pos += 1;
            else return pos;
        }
    }

    private static Header Gif(ReadOnlySpan<byte> b, string source)
    {
        const string F = "GIF";
        ImageLoadException Truncated() => Bad(source, F, "truncated (the data ends before the first frame is complete)");
        if (b.Length < 13) throw Truncated();
        int width = BinaryPrimitives.ReadUInt16LittleEndian(b[6..]), height = BinaryPrimitives.ReadUInt16LittleEndian(b[8..]);
        if (width == 0 || height == 0) throw Bad(source, F, $"invalid image size {width}x{height}");
        int pos = 13;
        if ((b[10] & 0x80) != 0) pos += 3 << ((b[10] & 7) + 1);
        while (true)
        {
            if (pos >= b.Length) throw Truncated();
            byte block = b[pos++];
            if (block == 0x21)
            {
                if (pos >= b.Length) throw Truncated();
                pos = SkipSubBlocks(b, pos + 1) ?? throw Truncated();
            }
            else if (block == 0x2C)
            {
                if (pos + 9 > b.Length) throw Truncated();
                byte packed = b[pos + 8];
                pos += 9;
                if ((packed & 0x80) != 0) pos += 3 << ((packed & 7) + 1);
                if (pos >= b.Length) throw Truncated();
                pos = SkipSubBlocks(b, pos + 1) ?? throw Truncated(); // after the LZW minimum code size
                return new Header(F, width, height);
            }
            else if (block == 0x3B) throw Bad(source, F, "no image before the trailer");
            else throw Bad(source, F, $"unknown block 0x{block:X2} at byte {pos - 1}");
        }
    }

    /// <summary>Position after a chain of data sub-blocks and its zero terminator, or null when the data ends first.</summary>
    private static int? SkipSubBlocks(ReadOnlySpan<byte> b, int pos)
    {
        while (pos < b.Length)
        {
            int n = b[pos++];
            if (n == 0) return pos;
            pos += n;
        }
        return null;
    }

    private static Header Bmp(ReadOnlySpan<byte> b, string source)
    {
        const string F = "BMP";
        if (b.Length < 26) throw Bad(source, F, "truncated header");
        long offset = BinaryPrimitives.ReadUInt32LittleEndian(b[10..]);
        int dib = BinaryPrimitives.ReadInt32LittleEndian(b[14..]);
        int width, height, bpp, compression = 0;
        if (dib == 12)
        {
            width = BinaryPrimitives.ReadUInt16LittleEndian(b[18..]);
            height = BinaryPrimitives.ReadUInt16LittleEndian(b[20..]);
            bpp = BinaryPrimitives.ReadUInt16LittleEndian(b[24..]);
        }
        else if (dib >= 40)
        {
            if (b.Length < 54) throw Bad(source, F, "truncated header");
            width = BinaryPrimitives.ReadInt32LittleEndian(b[18..]);
            height = BinaryPrimitives.ReadInt32LittleEndian(b[22..]);
            bpp = BinaryPrimitives.ReadUInt16LittleEndian(b[28..]);
            compression = BinaryPrimitives.ReadInt32LittleEndian(b[30..]);
        }
        else throw Bad(source, F, $"unsupported header size {dib}");
        bool topDown = height < 0;
        if (width <= 0 || height == 0 || height == int.MinValue) throw Bad(source, F, $"invalid image size {width}x{height}");
        height = Math.Abs(height);
        if (bpp is not (1 or 4 or 8 or 16 or 24 or 32)) throw Bad(source, F, $"unsupported bit depth {bpp}");
        if (compression is not (0 or 3 or 6))
            throw Bad(source, F, compression is 1 or 2 ? "run-length compressed BMP is not supported" : $"compression {compression} is not supported");
        long stride = ((long)width * bpp + 31) / 32 * 4;
        if (offset + stride * height > b.Length)
            throw Bad(source, F, $"truncated ({width}x{height} at {bpp} bits needs {offset + stride * height} bytes, the file has {b.Length})");
        return new Header(F, width, height, topDown);
    }
}

/// <summary>CRC-32 (ISO-HDLC, the PNG/zlib polynomial), table driven.</summary>
internal static class Crc32
{
    private static readonly uint[] Table = Build();

    private static uint[] Build()
    {
        var t = new uint[256];
        for (uint n = 0; n < 256; n++)
        {
            uint c = n;
            for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            t[n] = c;
        }
        return t;
    }

    public static uint Compute(ReadOnlySpan<byte> data)
    {
        uint c = 0xFFFFFFFFu;
        foreach (var x in data) c = Table[(c ^ x) & 0xFF] ^ (c >> 8);
        return c ^ 0xFFFFFFFFu;
    }
}
