namespace AutoPrune.Loading;

/// <summary>An 8-bit RGB image: <see cref="Rgb"/> holds Width*Height*3 bytes, interleaved, row-major, top row first.</summary>
public sealed class RgbImage
{
    public int Width { get; }
    public int Height { get; }
    public byte[] Rgb { get; }

    public RgbImage(int width, int height, byte[] rgb)
    {
        ArgumentNullException.ThrowIfNull(rgb);
        if (width <= 0 || height <= 0) throw new ArgumentOutOfRangeException(nameof(width), $"image size {width}x{height} must be positive");
        if ((long)width * height * 3 != rgb.LongLength)
            throw new ArgumentException($"RGB buffer has {rgb.LongLength} bytes, expected {(long)width * height * 3} for {width}x{height}", nameof(rgb));
        Width = width;
        Height = height;
        Rgb = rgb;
    }

    /// <summary>A width x height image filled with one color.</summary>
    public static RgbImage Filled(int width, int height, byte r, byte g, byte b)
    {
        var img = new RgbImage(width, height, new byte[checked(width * height * 3)]);
        var px = img.Rgb;
        for (int i = 0; i < px.Length; i += 3) { px[i] = r; px[i + 1] = g; px[i + 2] = b; }
        return img;
    }

    public override string ToString() => $"RgbImage {Width}x{Height}";
}
