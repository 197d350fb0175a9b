using SkiaSharp;

namespace AutoPrune.Plots;

/// <summary>Small SkiaSharp helpers shared by the figures.</summary>
internal static class Drawing
{
    public static SKFont Font(float size, bool bold = false) =>
        new(SKTypeface.FromFamilyName(null, bold ? SKFontStyle.Bold : SKFontStyle.Normal), size);

    /// <summary>Draws text left-aligned with its top at y, shortened with "…" to fit maxWidth.</summary>
    public static void Text(SKCanvas c, string text, float x, float y, SKFont font, SKColor color, float maxWidth = float.MaxValue)
    {
        using var paint = new SKPaint { Color = color, IsAntialias = true };
        if (font.MeasureText(text) > maxWidth)
        {
            while (text.Length > 1 && font.MeasureText(text + "…") > maxWidth) text = text[..^1];
            text += "…";
        }
        font.GetFontMetrics(out var m);
        c.DrawText(text, x, y - m.Ascent, SKTextAlign.Left, font, paint);
    }

    public static void SavePng(SKBitmap bmp, string path)
    {
        var dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (dir != null) Directory.CreateDirectory(dir);
        using var data = bmp.Encode(SKEncodedImageFormat.Png, 100);
        using var fs = File.Create(path);
        data.SaveTo(fs);
    }
}
