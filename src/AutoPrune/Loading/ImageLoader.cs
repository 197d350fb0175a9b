using StbImageSharp;

namespace AutoPrune.Loading;

/// <summary>
/// Decodes PNG, JPEG, BMP, GIF (first frame), TGA, PSD, HDR and PNM files with StbImageSharp into <see cref="RgbImage"/>.
/// Like PIL's convert("RGB"): alpha is discarded (not composited), grayscale is replicated into R, G and B.
/// Every failure is an <see cref="ImageLoadException"/> naming the source.
/// </summary>
public static class ImageLoader
{
    /// <summary>Largest accepted side. Guards against headers that claim absurd sizes before memory is committed.</summary>
    public const int MaxSide = 32768;

    /// <summary>Largest accepted pixel count (PIL's decompression-bomb error threshold is 2 * 89,478,485).</summary>
    public const long MaxPixels = 178_956_970;

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

        // Read the header first so a forged size is rejected before the decoder allocates for it.
        ImageInfo? info;
        try
        {
            using var ms = new MemoryStream(bytes, writable: false);
            info = ImageInfo.FromStream(ms);
        }
        catch (Exception e) { throw new ImageLoadException($"{source}: not a readable image: {e.Message}", e); }
        if (info is null) throw new ImageLoadException($"{source}: not an image (unrecognised format or implausible header)");
        CheckSize(info.Value.Width, info.Value.Height, source);

        ImageResult result;
        try { result = ImageResult.FromMemory(bytes, ColorComponents.RedGreenBlue); }
        catch (Exception e) { throw new ImageLoadException($"{source}: corrupt or unsupported image data: {e.Message}", e); }
        if (result is null || result.Data is null) throw new ImageLoadException($"{source}: the decoder returned no pixels");

        CheckSize(result.Width, result.Height, source);
        // The decoder converts to the requested 3 components; verify rather than trust it.
        if (result.Comp != ColorComponents.RedGreenBlue || result.Data.LongLength != (long)result.Width * result.Height * 3)
            throw new ImageLoadException($"{source}: decoder produced {result.Data.LongLength} bytes for {result.Width}x{result.Height} ({result.Comp}), expected RGB");
        return new RgbImage(result.Width, result.Height, result.Data);
    }

    private static void CheckSize(int w, int h, string source)
    {
        if (w <= 0 || h <= 0) throw new ImageLoadException($"{source}: invalid image size {w}x{h}");
        if (w > MaxSide || h > MaxSide || (long)w * h > MaxPixels)
            throw new ImageLoadException($"{source}: image size {w}x{h} is too large (max side {MaxSide}, max {MaxPixels} pixels)");
    }
}
