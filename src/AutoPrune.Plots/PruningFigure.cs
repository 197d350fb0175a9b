using System.Globalization;
using AutoPrune.Accounting;
using AutoPrune.Loading;
using SkiaSharp;

namespace AutoPrune.Plots;

/// <summary>One run of the figure: a prefill trace and the label shown above it (question and answer).</summary>
public sealed record PruningRun(string Label, PrefillTrace Trace);

/// <summary>
/// An image and which visual token every one of its pixels shows (-1: none). LLaVA-1.5's crop is one square grid;
/// LLaVA-NeXT's original image is shown twice, once with its high-resolution tile tokens and once with its base-view tokens.
/// </summary>
public sealed record TokenView(string Name, RgbImage Image, int[] TokenOfPixel)
{
    /// <summary>A square grid of gridSide x gridSide tokens over the image, row-major (LLaVA-1.5's patch order).</summary>
    public static TokenView Grid(RgbImage image, int gridSide, string name = "")
    {
        var map = new int[image.Width * image.Height];
        for (int y = 0; y < image.Height; y++)
            for (int x = 0; x < image.Width; x++)
                map[y * image.Width + x] = (int)((long)y * gridSide / image.Height) * gridSide + (int)((long)x * gridSide / image.Width);
        return new TokenView(name, image, map);
    }
}

/// <summary>
/// Small multiples of the model's input image, one row per run (and view) and one panel per selected decoder layer:
/// tokens the layer processed are shown as they are, tokens already dropped are darkened. Merged (recycled) tokens
/// have no place on the image; panel titles count them. A last "depth" panel per row colors each token by how many
/// layers processed it. The geometry is public so tests (and callers) can find a token's pixels.
/// </summary>
public sealed class PruningFigure
{
    public const int TargetWidth = 1200;
    /// <summary>Dropped pixels are multiplied by this.</summary>
    public const float DropFactor = 0.3f;
    private const int Margin = 16, Gap = 8, HeaderHeight = 46, RowLabelHeight = 26, PanelTitleHeight = 38, RowGap = 14, MinPanel = 96;

    public RgbImage Crop => Views[0].Image;
    public IReadOnlyList<TokenView> Views { get; }
    public IReadOnlyList<int> Layers { get; }
    public IReadOnlyList<PruningRun> Runs { get; }
    public string Title { get; }
    public bool DepthPanel { get; }

    /// <summary>Rows of panels: one per run and view (run-major).</summary>
    public int Rows => Runs.Count * Views.Count;
    public int Columns => Layers.Count + (DepthPanel ? 1 : 0);
    public int PanelWidth { get; }
    public int PanelHeight { get; }
    public int Width { get; }
    public int Height { get; }

    // Per panel pixel: the image pixel it shows (nearest neighbour), and per view the token there.
    private readonly int[] _srcX, _srcY;
    private readonly int[][] _token;

    /// <summary>LLaVA-1.5: the crop as one gridSide x gridSide grid of tokens.</summary>
    public PruningFigure(RgbImage crop, int gridSide, IReadOnlyList<int> layers, IReadOnlyList<PruningRun> runs, string title, bool depthPanel = true)
        : this([GridView(crop, gridSide, runs)], layers, runs, title, depthPanel) { }

    private static TokenView GridView(RgbImage crop, int gridSide, IReadOnlyList<PruningRun> runs)
    {
        ArgumentNullException.ThrowIfNull(crop);
        if (gridSide <= 0 || gridSide > Math.Min(crop.Width, crop.Height)) throw new ArgumentOutOfRangeException(nameof(gridSide), $"grid side {gridSide} does not fit a {crop.Width}x{crop.Height} crop");
        foreach (var run in runs)
            if (run.Trace.VisualTokensIn != gridSide * gridSide)
                throw new ArgumentException($"trace has {run.Trace.VisualTokensIn} visual tokens, the grid {gridSide}x{gridSide}", nameof(runs));
        return TokenView.Grid(crop, gridSide);
    }

    public PruningFigure(IReadOnlyList<TokenView> views, IReadOnlyList<int> layers, IReadOnlyList<PruningRun> runs, string title, bool depthPanel = true)
    {
        if (views.Count == 0) throw new ArgumentException("no views to draw", nameof(views));
        if (runs.Count == 0) throw new ArgumentException("no runs to draw", nameof(runs));
        if (layers.Count == 0) throw new ArgumentException("no layers selected", nameof(layers));
        var img = views[0].Image;
        int maxToken = -1;
        foreach (var v in views)
        {
            if (v.Image.Width != img.Width || v.Image.Height != img.Height)
                throw new ArgumentException($"view '{v.Name}' is {v.Image.Width}x{v.Image.Height}, the first {img.Width}x{img.Height}", nameof(views));
            if (v.TokenOfPixel.Length != img.Width * img.Height)
                throw new ArgumentException($"view '{v.Name}' maps {v.TokenOfPixel.Length} pixels of {img.Width * img.Height}", nameof(views));
            foreach (var t in v.TokenOfPixel) maxToken = Math.Max(maxToken, t);
        }
        foreach (var run in runs)
        {
            if (maxToken >= run.Trace.VisualTokensIn)
                throw new ArgumentException($"trace has {run.Trace.VisualTokensIn} visual tokens, the image shows token {maxToken}", nameof(runs));
            foreach (var l in layers)
                if (l < 0 || l >= run.Trace.VisualIdsPerLayer.Length)
                    throw new ArgumentOutOfRangeException(nameof(layers), $"layer {l} is outside 0..{run.Trace.VisualIdsPerLayer.Length - 1}");
        }
        Views = views; Layers = layers; Runs = runs; Title = title; DepthPanel = depthPanel;

        int cols = Columns;
        PanelWidth = Math.Max(MinPanel, (TargetWidth - 2 * Margin - (cols - 1) * Gap) / cols);
        PanelHeight = Math.Max(1, (int)Math.Round(PanelWidth * (double)img.Height / img.Width));
        Width = 2 * Margin + cols * PanelWidth + (cols - 1) * Gap;
        Height = HeaderHeight + Rows * (RowLabelHeight + PanelTitleHeight + PanelHeight + RowGap) + Margin - RowGap;

        _srcX = new int[PanelWidth];
        for (int x = 0; x < PanelWidth; x++) _srcX[x] = (int)((long)x * img.Width / PanelWidth);
        _srcY = new int[PanelHeight];
        for (int y = 0; y < PanelHeight; y++) _srcY[y] = (int)((long)y * img.Height / PanelHeight);
        _token = new int[views.Count][];
        for (int v = 0; v < views.Count; v++)
        {
            var map = views[v].TokenOfPixel;
            var t = _token[v] = new int[PanelWidth * PanelHeight];
            for (int y = 0; y < PanelHeight; y++)
                for (int x = 0; x < PanelWidth; x++) t[y * PanelWidth + x] = map[_srcY[y] * img.Width + _srcX[x]];
        }
    }

    /// <summary>Default panels: every layer up to 8 layers, else 0, 1, 2, L/2, L-1.</summary>
    public static int[] DefaultLayers(int numLayers) =>
        numLayers <= 8 ? Enumerable.Range(0, numLayers).ToArray()
            : new[] { 0, 1, 2, numLayers / 2, numLayers - 1 }.Distinct().Order().ToArray();

    /// <summary>Figure pixels of the panel at (row, col); col == Layers.Count is the depth panel.</summary>
    public SKRectI PanelRect(int row, int col)
    {
        if (row < 0 || row >= Rows || col < 0 || col >= Columns) throw new ArgumentOutOfRangeException(nameof(col));
        int x = Margin + col * (PanelWidth + Gap);
        int y = HeaderHeight + row * (RowLabelHeight + PanelTitleHeight + PanelHeight + RowGap) + RowLabelHeight + PanelTitleHeight;
        return new SKRectI(x, y, x + PanelWidth, y + PanelHeight);
    }

    /// <summary>Figure pixels (right/bottom exclusive) bounding where visual token <paramref name="token"/> shows in a panel.</summary>
    public SKRectI TokenRect(int row, int col, int token)
    {
        var map = _token[row % Views.Count];
        int x0 = int.MaxValue, y0 = int.MaxValue, x1 = -1, y1 = -1;
        for (int y = 0; y < PanelHeight; y++)
            for (int x = 0; x < PanelWidth; x++)
                if (map[y * PanelWidth + x] == token) { x0 = Math.Min(x0, x); x1 = Math.Max(x1, x); y0 = Math.Min(y0, y); y1 = Math.Max(y1, y); }
        if (x1 < 0) throw new ArgumentOutOfRangeException(nameof(token), $"token {token} is not shown in view '{Views[row % Views.Count].Name}'");
        var p = PanelRect(row, col);
        return new SKRectI(p.Left + x0, p.Top + y0, p.Left + x1 + 1, p.Top + y1 + 1);
    }

    /// <summary>The image pixel shown at figure pixel (x, y) inside panel (row, col).</summary>
    public (int X, int Y) CropPixel(int row, int col, int x, int y)
    {
        var p = PanelRect(row, col);
        if (!p.Contains(x, y)) throw new ArgumentOutOfRangeException(nameof(x), $"({x}, {y}) is outside panel ({row}, {col})");
        return (_srcX[x - p.Left], _srcY[y - p.Top]);
    }

    /// <summary>Two title lines of a panel: ("layer 3", "58 tokens + 6 merged") or the depth panel's.</summary>
    public (string Head, string Detail) PanelTitle(int row, int col)
    {
        var t = Runs[row / Views.Count].Trace;
        if (col == Layers.Count) return ("depth", $"layers kept, of {t.VisualIdsPerLayer.Length}");
        int l = Layers[col];
        var ids = t.VisualIdsPerLayer[l];
        int merged = ids.Count(i => i >= t.VisualTokensIn);
        return ($"layer {l}", $"{ids.Length - merged} tokens" + (merged > 0 ? $" + {merged} merged" : ""));
    }

    /// <summary>Layers (of the trace) that processed each original visual token.</summary>
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

        for (int row = 0; row < Rows; row++)
        {
            var run = Runs[row / Views.Count];
            var t = run.Trace;
            var view = Views[row % Views.Count];
            var cells = new bool[t.VisualTokensIn];
            var first = PanelRect(row, 0);
            string label = Views.Count > 1 ? $"{run.Label} | {view.Name}" : run.Label;
            Drawing.Text(canvas, label, Margin, first.Top - PanelTitleHeight - RowLabelHeight + 4, labelFont, new SKColor(0x20, 0x20, 0x60), Width - 2 * Margin);
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
                    DrawMask(bmp, r, view.Image, _token[row % Views.Count], cells);
                }
                else DrawDepth(bmp, r, view.Image, _token[row % Views.Count], LayersKept(t), t.VisualIdsPerLayer.Length);
            }
        }
        return bmp;
    }

    public void Save(string path)
    {
        using var bmp = Render();
        Drawing.SavePng(bmp, path);
    }

    private void DrawMask(SKBitmap bmp, SKRectI r, RgbImage img, int[] token, bool[] kept)
    {
        var px = img.Rgb;
        bool Kept(int t) => t >= 0 && kept[t];
        for (int y = 0; y < PanelHeight; y++)
            for (int x = 0; x < PanelWidth; x++)
            {
                int s = (_srcY[y] * img.Width + _srcX[x]) * 3;
                float f = Kept(token[y * PanelWidth + x]) ? 1f : DropFactor;
                bmp.SetPixel(r.Left + x, r.Top + y, new SKColor((byte)(px[s] * f), (byte)(px[s + 1] * f), (byte)(px[s + 2] * f)));
            }
        // Outline: the outermost pixel ring of a kept token, on sides facing a dropped one, so kept regions stand out on dark images.
        for (int y = 0; y < PanelHeight; y++)
            for (int x = 0; x < PanelWidth; x++)
            {
                int t = token[y * PanelWidth + x];
                if (!Kept(t)) continue;
                bool Dropped(int nx, int ny)
                {
                    if (nx < 0 || ny < 0 || nx >= PanelWidth || ny >= PanelHeight) return false;
                    int o = token[ny * PanelWidth + nx];
                    return o != t && !Kept(o);
                }
                if (Dropped(x - 1, y) || Dropped(x + 1, y) || Dropped(x, y - 1) || Dropped(x, y + 1))
                    bmp.SetPixel(r.Left + x, r.Top + y, OutlineColor);
            }
    }

    /// <summary>Kept regions are outlined with this color where they border dropped tokens.</summary>
    public static readonly SKColor OutlineColor = new(255, 214, 0);

    private void DrawDepth(SKBitmap bmp, SKRectI r, RgbImage img, int[] token, int[] layersKept, int numLayers)
    {
        var px = img.Rgb;
        for (int y = 0; y < PanelHeight; y++)
            for (int x = 0; x < PanelWidth; x++)
            {
                int s = (_srcY[y] * img.Width + _srcX[x]) * 3, t = token[y * PanelWidth + x];
                var c = Heat(numLayers == 0 || t < 0 ? 0 : layersKept[t] / (double)numLayers);
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
