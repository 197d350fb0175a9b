using StbImageSharp;

namespace AutoPrune.Loading;

/// <summary>
/// Decodes PNG, JPEG, BMP (bottom-up and top-down), GIF (first frame), TGA, PSD and HDR files with StbImageSharp,
/// and PNM (P1-P6) with <see cref="PnmDecoder"/>, into <see cref="RgbImage"/>. Like PIL's convert("RGB"): alpha is
/// discarded (not composited), grayscale is replicated into R, G and B. Truncated or corrupt PNG, JPEG, GIF and
/// BMP data is refused before decoding (<see cref="ImageStructure"/>), so a file decodes to the same pixels on
/// every run or not at all. Every failure is an <see cref="ImageLoadException"/> naming the source.
/// </summary>
public static class ImageLoader
{
    /// <summary>Largest accepted side. Guards against headers that claim absurd sizes before memory is committed.</summary>
    public const int MaxSide = 32768;

    /// <summary>Pillow's Image.MAX_IMAGE_PIXELS (its decompression-bomb threshold): the default pixel limit.</summary>
    public const long DefaultMaxPixels = 89_478_485;

    /// <summary>The largest pixel limit that can be set: an RGB buffer of that many pixels still fits one array.</summary>
    public const long MaxPixelsCeiling = int.MaxValue / 3;

    private static long _maxPixels = DefaultMaxPixels;

    /// <summary>
    /// Largest accepted pixel count, checked from the file's header before decoding (a 500 KB PNG can claim
    /// 16000x11000 pixels) and for the padded or resized intermediates of preprocessing. Process-wide, like
    /// Pillow's; raise it (up to <see cref="MaxPixelsCeiling"/>) for genuinely huge images.
    /// </summary>
    public static long MaxPixels
    {
        get => Volatile.Read(ref _maxPixels);
        set
        {
            if (value < 1 || value > MaxPixelsCeiling)
                throw new ImageLoadException($"image pixel limit {value} is outside 1..{MaxPixelsCeiling}");
            Volatile.Write(ref _maxPixels, value);
        }
    }

    public static RgbImage Load(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (Directory.Exists(path)) throw new ImageLoadException($"{path}: is a directory, not an image file");
        if (!File.Exists(path)) throw new ImageLoadException($"{path}: image file not found");
        byte[] bytes;
        try { bytes = File.ReadAllBytes(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ImageLoadException($"{path}: cannot read image file: {e.Message}", e);
        }
        return Decode(bytes, path);
    }

    public static RgbImage Load(Stream stream, string source = "<stream>")
    {
        ArgumentNullException.ThrowIfNull(stream);
        var ms = new MemoryStream();
        try { stream.CopyTo(ms); }
        catch (Exception e) when (e is IOException or NotSupportedException or ObjectDisposedException)
        {
            throw new ImageLoadException($"{source}: cannot read image stream: {e.Message}", e);
        }
        return Decode(ms.ToArray(), source);
    }

    public static RgbImage Load(byte[] bytes, string source = "<bytes>")
    {
        ArgumentNullException.ThrowIfNull(bytes);
        return Decode(bytes, source);
    }

    private static RgbImage Decode(byte[] bytes, string source)
    {
        if (bytes.Length == 0) throw new ImageLoadException($"{source}: empty file");
        if (PnmDecoder.IsPnm(bytes)) return PnmDecoder.Decode(bytes, source, (w, h) => CheckSize(w, h, source));

        // Read the header first so a forged size is rejected before the decoder allocates for it.
        var header = ImageStructure.Check(bytes, source);
        if (header is { } hd) CheckSize(hd.Width, hd.Height, source);
        else
        {
            ImageInfo? info;
            try
            {
                using var ms = new MemoryStream(bytes, writable: false);
                info = ImageInfo.FromStream(ms);
            }
            catch (Exception e) { throw new ImageLoadException($"{source}: not a readable image: {AutoPruneException.Describe(e)}", e); }
            if (info is null) throw new ImageLoadException($"{source}: not an image (unrecognised format or implausible header)");
            CheckSize(info.Value.Width, info.Value.Height, source);
        }

        // The decoder reads a top-down BMP (negative height) as an error: decode it as bottom-up and flip the rows.
        bool flip = header is { TopDownBmp: true };
        if (flip)
        {
            bytes = (byte[])bytes.Clone();
            System.Buffers.Binary.BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(22), header!.Value.Height);
        }

        ImageResult result;
        try { result = ImageResult.FromMemory(bytes, ColorComponents.RedGreenBlue); }
        catch (Exception e) { throw new ImageLoadException($"{source}: corrupt or unsupported image data: {AutoPruneException.Describe(e)}", e); }
        if (result is null || result.Data is null) throw new ImageLoadException($"{source}: the decoder returned no pixels");

        CheckSize(result.Width, result.Height, source);
        // The decoder converts to the requested 3 components; verify rather than trust it.
        if (result.Comp != ColorComponents.RedGreenBlue || result.Data.LongLength != (long)result.Width * result.Height * 3)
            throw new ImageLoadException($"{source}: decoder produced {result.Data.LongLength} bytes for {result.Width}x{result.Height} ({result.Comp}), expected RGB");
        if (header is { } h2 && (h2.Width, h2.Height) != (result.Width, result.Height))
            throw new ImageLoadException($"{source}: the decoder produced {result.Width}x{result.Height} pixels for a {h2.Width}x{h2.Height} header");
        if (flip) FlipRows(result.Data, result.Width, result.Height);
        return new RgbImage(result.Width, result.Height, result.Data);
    }

    private static void FlipRows(byte[] rgb, int width, int height)
    {
        int stride = width * 3;
        var tmp = new byte[stride];
        for (int top = 0, bottom = height - 1; top < bottom; top++, bottom--)
        {
            var a = rgb.AsSpan(top * stride, stride);
            var b = rgb.AsSpan(bottom * stride, stride);
            a.CopyTo(tmp);
            b.CopyTo(a);
            tmp.CopyTo(b);
        }
    }

    private static void CheckSize(int w, int h, string source)
    {
        if (w <= 0 || h <= 0) throw new ImageLoadException($"{source}: invalid image size {w}x{h}");
        long max = MaxPixels;
        if (w > MaxSide || h > MaxSide || (long)w * h > max)
            throw new ImageLoadException(
                $"{source}: image size {w}x{h} ({(long)w * h:N0} pixels) is over the limit (sides up to {MaxSide}, at most {max:N0} pixels)");
    }
}
