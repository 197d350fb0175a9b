using System.Globalization;
using AutoPrune.Accounting;
using AutoPrune.Loading;
using SkiaSharp;

namespace AutoPrune.Plots;

/// <summary>One row of the figure: a prefill trace and the label shown above it (question and answer).</summary>
public sealed record PruningRun(string Label, PrefillTrace Trace);

/// <summary>
/// Small multiples of the model's input crop, one row per run and one panel per selected decoder layer: tokens the
/// layer processed are shown as they are, tokens already dropped are darkened. Merged (recycled) tokens have no place
/// on the grid; panel titles count them. A last "depth" panel per row colors each token by how many layers processed it.
/// The geometry is public so tests (and callers) can find a token's pixels.
/// </summary>
public sealed class PruningFigure
{
    public const int TargetWidth = 1200;
    /// <summary>Dropped pixels are multiplied by this.</summary>
    public const float DropFactor = 0.3f;
    private const int Margin = 16, Gap = 8, HeaderHeight = 46, RowLabelHeight = 26, PanelTitleHeight = 38, RowGap = 14, MinPanel = 96;

    public RgbImage Crop { get; }
    /// <summary>Visual tokens per side of the grid (config.Vision.PatchesPerSide).</summary>
    public int GridSide { get; }
    public IReadOnlyList<int> Layers { get; }
    public IReadOnlyList<PruningRun> Runs { get; }
    public string Title { get; }
    public bool DepthPanel { get; }

    public int Columns => Layers.Count + (DepthPanel ? 1 : 0);
    public int PanelWidth { get; }
    public int PanelHeight { get; }
    public int Width { get; }
    public int Height { get; }

    // Per panel pixel: the crop pixel and grid cell it shows (nearest neighbour).
    private readonly int[] _srcX, _srcY, _cellX, _cellY;

    public PruningFigure(RgbImage crop, int gridSide, IReadOnlyList<int> layers, IReadOnlyList<PruningRun> runs, string title, bool depthPanel = true)
    {
        ArgumentNullException.ThrowIfNull(crop);
        if (gridSide <= 0 || gridSide > Math.Min(crop.Width, crop.Height)) throw new ArgumentOutOfRangeException(nameof(gridSide), $"grid side {gridSide} does not fit a {crop.Width}x{crop.Height} crop");
        if (runs.Count == 0) throw new ArgumentException("no runs to draw", nameof(runs));
        if (layers.Count == 0) throw new ArgumentException("no layers selected", nameof(layers));
        foreach (var run in runs)
        {
            int n0 = run.Trace.VisualTokensIn;
            if (n0 != gridSide * gridSide) throw new ArgumentException($"trace has {n0} visual tokens, the grid {gridSide}x{gridSide}", nameof(runs));
            foreach (var l in layers)
                if (l < 0 || l >= run.Trace.VisualIdsPerLayer.Length)
                    throw new ArgumentOutOfRangeException(nameof(layers), $"layer {l} is outside 0..{run.Trace.VisualIdsPerLayer.Length - 1}");
        }
        Crop = crop; GridSide = gridSide; Layers = layers; Runs = runs; Title = title; DepthPanel = depthPanel;

        int cols = Columns;
        PanelWidth = Math.Max(MinPanel, (TargetWidth - 2 * Margin - (cols - 1) * Gap) / cols);
        PanelHeight = Math.Max(1, (int)Math.Round(PanelWidth * (double)crop.Height / crop.Width));
        Width = 2 * Margin + cols * PanelWidth + (cols - 1) * Gap;
        Height = HeaderHeight + runs.Count * (RowLabelHeight + PanelTitleHeight + PanelHeight + RowGap) + Margin - RowGap;

        _srcX = new int[PanelWidth]; _cellX = new int[PanelWidth];
        for (int x = 0; x < PanelWidth; x++) { _srcX[x] = (int)((long)x * crop.Width / PanelWidth); _cellX[x] = _srcX[x] * gridSide / crop.Width; }
        _srcY = new int[PanelHeight]; _cellY = new int[PanelHeight];
        for (int y = 0; y < PanelHeight; y++) { _srcY[y] = (int)((long)y * crop.Height / PanelHeight); _cellY[y] = _srcY[y] * gridSide / crop.Height; }
    }

    /// <summary>Default panels: every layer up to 8 layers, else 0, 1, 2, L/2, L-1.</summary>
    public static int[] DefaultLayers(int numLayers) =>
        numLayers <= 8 ? Enumerable.Range(0, numLayers).ToArray()
            : new[] { 0, 1, 2, numLayers / 2, numLayers - 1 }.Distinct().Order().ToArray();

    /// <summary>Figure pixels of the panel at (row, col); col == Layers.Count is the depth panel.</summary>
    public SKRectI PanelRect(int row, int col)
    {
        if (row < 0 || row >= Runs.Count || col < 0 || col >= Columns) throw new ArgumentOutOfRangeException(nameof(col));
        int x = Margin + col * (PanelWidth + Gap);
        int y = HeaderHeight + row * (RowLabelHeight + PanelTitleHeight + PanelHeight + RowGap) + RowLabelHeight + PanelTitleHeight;
        return new SKRectI(x, y, x + PanelWidth, y + PanelHeight);
    }

    /// <summary>Figure pixels (right/bottom exclusive) that show visual token <paramref name="token"/> in a panel.</summary>
    public SKRectI TokenRect(int row, int col, int token)
    {
        if (token < 0 || token >= GridSide * GridSide) throw new ArgumentOutOfRangeException(nameof(token));
        int tx = token % GridSide, ty = token / GridSide;
        int x0 = Array.IndexOf(_cellX, tx), x1 = Array.LastIndexOf(_cellX, tx) + 1;
        int y0 = Array.IndexOf(_cellY, ty), y1 = Array.LastIndexOf(_cellY, ty) + 1;
        var p = PanelRect(row, col);
        return new SKRectI(p.Left + x0, p.Top + y0, p.Left + x1, p.Top + y1);
    }

    /// <summary>The crop pixel shown at figure pixel (x, y) inside panel (row, col).</summary>
    public (int X, int Y) CropPixel(int row, int col, int x, int y)
    {
        var p = PanelRect(row, col);
        if (!p.Contains(x, y)) throw new ArgumentOutOfRangeException(nameof(x), $"({x}, {y}) is outside panel ({row}, {col})");
        return (_srcX[x - p.Left], _srcY[y - p.Top]);
    }

    /// <summary>Two title lines of a panel: ("layer 3", "58 tokens + 6 merged") or the depth panel's.</summary>
    public (string Head, string Detail) PanelTitle(int row, int col)
    {
        var t = Runs[row].Trace;
        if (col == Layers.Count) return ("depth", $"layers kept, of {t.VisualIdsPerLayer.Length}");
        int l = Layers[col];
        var ids = t.VisualIdsPerLayer[l];
        int merged = ids.Count(i => i >= t.VisualTokensIn);
        return ($"layer {l}", $"{ids.Length - merged} tokens" + (merged > 0 ? $" + {merged} merged" : ""));
    }

    /// <summary>Layers (of the trace) that processed each grid token.</summary>
    public static int[] LayersKept(PrefillTrace t)
    {
        var n = new int[t.VisualTokensIn];
        foreach (var ids in t.VisualIdsPerLayer)
            foreach (var i in ids)
                if (i >= 0 && i < n.Length) n[i]++;
        return n;
    }

    public SKBitmap Render()
    {
        var bmp = new SKBitmap(new SKImageInfo(Width, Height, SKColorType.Rgba8888, SKAlphaType.Premul));
        using var canvas = new SKCanvas(bmp);
        canvas.Clear(SKColors.White);
        using var titleFont = Drawing.Font(20, bold: true);
        using var labelFont = Drawing.Font(15, bold: true);
        using var panelFont = Drawing.Font(13);
        using var panelHeadFont = Drawing.Font(14, bold: true);
        Drawing.Text(canvas, Title, Margin, 10, titleFont, SKColors.Black, Width - 2 * Margin - (DepthPanel ? 260 : 0));
        if (DepthPanel) DrawColorBar(canvas, panelFont);

        var cells = new bool[GridSide * GridSide];
        for (int row = 0; row < Runs.Count; row++)
        {
            var t = Runs[row].Trace;
            var first = PanelRect(row, 0);
            Drawing.Text(canvas, Runs[row].Label, Margin, first.Top - PanelTitleHeight - RowLabelHeight + 4, labelFont, new SKColor(0x20, 0x20, 0x60), Width - 2 * Margin);
            for (int col = 0; col < Columns; col++)
            {
                var r = PanelRect(row, col);
                var (head, detail) = PanelTitle(row, col);
                Drawing.Text(canvas, head, r.Left, r.Top - PanelTitleHeight + 2, panelHeadFont, SKColors.Black, PanelWidth);
                if (panelFont.MeasureText(detail) > PanelWidth) detail = detail.Replace(" tokens", "");   // "33 + 2 merged"
                Drawing.Text(canvas, detail, r.Left, r.Top - PanelTitleHeight + 19, panelFont, new SKColor(0x40, 0x40, 0x40), PanelWidth);
                if (col < Layers.Count)
                {
                    Array.Clear(cells);
                    foreach (var i in t.VisualIdsPerLayer[Layers[col]]) if (i >= 0 && i < cells.Length) cells[i] = true;
                    DrawMask(bmp, r, cells);
                }
                else DrawDepth(bmp, r, LayersKept(t), t.VisualIdsPerLayer.Length);
            }
        }
        return bmp;
    }

    public void Save(string path)
    {
        using var bmp = Render();
        Drawing.SavePng(bmp, path);
    }

    private void DrawMask(SKBitmap bmp, SKRectI r, bool[] kept)
    {
        var px = Crop.Rgb;
        for (int y = 0; y < PanelHeight; y++)
            for (int x = 0; x < PanelWidth; x++)
            {
                int s = (_srcY[y] * Crop.Width + _srcX[x]) * 3;
                bool k = kept[_cellY[y] * GridSide + _cellX[x]];
                float f = k ? 1f : DropFactor;
                bmp.SetPixel(r.Left + x, r.Top + y, new SKColor((byte)(px[s] * f), (byte)(px[s + 1] * f), (byte)(px[s + 2] * f)));
            }
        // Outline: the outermost pixel ring of a kept cell, on sides facing a dropped cell, so kept regions stand out on dark images.
        for (int y = 0; y < PanelHeight; y++)
            for (int x = 0; x < PanelWidth; x++)
            {
                int cx = _cellX[x], cy = _cellY[y];
                if (!kept[cy * GridSide + cx]) continue;
                bool Dropped(int nx, int ny) => nx >= 0 && ny >= 0 && nx < GridSide && ny < GridSide && !kept[ny * GridSide + nx];
                bool edge = (x == 0 || _cellX[x - 1] != cx) && Dropped(cx - 1, cy)
                            || (x == PanelWidth - 1 || _cellX[x + 1] != cx) && Dropped(cx + 1, cy)
                            || (y == 0 || _cellY[y - 1] != cy) && Dropped(cx, cy - 1)
                            || (y == PanelHeight - 1 || _cellY[y + 1] != cy) && Dropped(cx, cy + 1);
                if (edge) bmp.SetPixel(r.Left + x, r.Top + y, OutlineColor);
            }
    }

    /// <summary>Kept regions are outlined with this color where they border dropped tokens.</summary>
    public static readonly SKColor OutlineColor = new(255, 214, 0);

    private void DrawDepth(SKBitmap bmp, SKRectI r, int[] layersKept, int numLayers)
    {
        var px = Crop.Rgb;
        for (int y = 0; y < PanelHeight; y++)
            for (int x = 0; x < PanelWidth; x++)
            {
                int s = (_srcY[y] * Crop.Width + _srcX[x]) * 3;
                var c = Heat(numLayers == 0 ? 0 : layersKept[_cellY[y] * GridSide + _cellX[x]] / (double)numLayers);
                // Grey image under a 60% heat overlay.
                double g = (px[s] * 0.299 + px[s + 1] * 0.587 + px[s + 2] * 0.114) * 0.4;
                bmp.SetPixel(r.Left + x, r.Top + y, new SKColor((byte)(g + 0.6 * c.Red), (byte)(g + 0.6 * c.Green), (byte)(g + 0.6 * c.Blue)));
            }
    }

    private void DrawColorBar(SKCanvas canvas, SKFont font)
    {
        int w = 160, h = 12, x = Width - Margin - w, y = 14;
        using var paint = new SKPaint();
        for (int i = 0; i < w; i++)
        {
            paint.Color = Heat(i / (double)(w - 1));
            canvas.DrawRect(x + i, y, 1, h, paint);
        }
        int layers = Runs.Max(r => r.Trace.VisualIdsPerLayer.Length);
        Drawing.Text(canvas, "0", x - 14, y - 1, font, SKColors.Black);
        Drawing.Text(canvas, layers.ToString(CultureInfo.InvariantCulture), x + w + 4, y - 1, font, SKColors.Black);
        Drawing.Text(canvas, "layers kept", x - 92, y - 1, font, SKColors.Black);
    }

    /// <summary>Dark blue → teal → yellow (a viridis-like ramp) for 0..1.</summary>
    internal static SKColor Heat(double v)
    {
        v = Math.Clamp(v, 0, 1);
        (double r, double g, double b)[] stops = [(68, 1, 84), (59, 82, 139), (33, 145, 140), (94, 201, 98), (253, 231, 37)];
        double p = v * (stops.Length - 1);
        int i = Math.Min((int)p, stops.Length - 2);
        double f = p - i;
        var (r0, g0, b0) = stops[i]; var (r1, g1, b1) = stops[i + 1];
        return new SKColor((byte)(r0 + f * (r1 - r0)), (byte)(g0 + f * (g1 - g0)), (byte)(b0 + f * (b1 - b0)));
    }
}
