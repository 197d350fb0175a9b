using System.Text.Json;

namespace AutoPrune.Loading;

/// <summary>One image after anyres preprocessing: the tiles' pixels and how they were cut.</summary>
/// <param name="Pixels">[Tiles, 3, crop, crop] float32, base tile first, then the grid tiles row-major.</param>
/// <param name="OriginalHeight">Height of the input image (HF image_sizes[0]).</param>
/// <param name="Best">The pinpoint chosen for the canvas.</param>
/// <param name="ResizedHeight">Size of the aspect-preserving resize before padding.</param>
/// <param name="PadTop">Black rows above the resized image on the canvas (the odd pixel goes to the bottom/right).</param>
/// <param name="Canvas">The uint8 canvas (Best.Height x Best.Width) that is cut into the grid tiles.</param>
/// <param name="Base">The uint8 base view: the whole image resized to the base size ignoring aspect ratio.</param>
public sealed record AnyresImage(float[] Pixels, int Tiles, int TileSize, int OriginalHeight, int OriginalWidth, Pinpoint Best,
    int GridRows, int GridCols, int ResizedHeight, int ResizedWidth, int PadTop, int PadLeft, RgbImage Canvas, RgbImage Base)
{
    public int TileValues => 3 * TileSize * TileSize;
    public ReadOnlySpan<float> Tile(int i) => Pixels.AsSpan(i * TileValues, TileValues);
}

/// <summary>
/// Hugging Face LlavaNextImageProcessor ("anyres", the slow processor): pick the best pinpoint for the image,
/// resize keeping the aspect ratio to fit it, pad with black to the pinpoint, cut the canvas into crop-size tiles,
/// and put the whole image resized to the base size in front; every tile then goes through the CLIP preprocessing
/// (resize shortest edge, center crop, rescale, normalize) of <see cref="Tile"/>.
/// </summary>
public sealed record LlavaNextImageProcessor
{
    /// <summary>Per-tile CLIP preprocessing (size, crop, resample, rescale, mean/std of the same file).</summary>
    public ClipImageProcessor Tile { get; init; } = new() { ShortestEdge = 336, CropHeight = 336, CropWidth = 336 };
    public Pinpoint[] ImageGridPinpoints { get; init; } = [.. Loading.LlavaNextConfig.DefaultPinpoints];

    /// <summary>Side of the grid tiles: HF divides the canvas by crop_size["height"].</summary>
    public int TileSize => Tile.CropHeight;

    /// <summary>The base view's size: (size.height, size.width), or a square of size.shortest_edge.</summary>
    public (int Height, int Width) BaseSize => Tile.ResizeHeight > 0 ? (Tile.ResizeHeight, Tile.ResizeWidth) : (Tile.ShortestEdge, Tile.ShortestEdge);

    public static LlavaNextImageProcessor FromFile(string path)
    {
        if (!File.Exists(path)) throw new ModelLoadException($"preprocessor config not found: {path}");
        using var doc = JsonInput.ReadFile(path, p => new ModelLoadException($"{path}: {p}"));
        return Parse(doc.RootElement, path);
    }

    public static LlavaNextImageProcessor Parse(JsonElement root, string where = "preprocessor_config.json")
    {
        var tile = ClipImageProcessor.Parse(root, where);
        var p = new LlavaNextImageProcessor
        {
            Tile = tile,
            ImageGridPinpoints = LlavaConfig.Has(root, "image_grid_pinpoints", out var pp)
                ? Pinpoint.ParseList(pp, "image_grid_pinpoints", where, e => new ModelLoadException(e))
                : [.. LlavaNextConfig.DefaultPinpoints],
        };
        p.Validate(where);
        return p;
    }

    public void Validate(string where = "preprocessor_config.json")
    {
        Tile.Validate(where);
        if (!Tile.DoCenterCrop || Tile.CropHeight != Tile.CropWidth)
            throw new ModelLoadException($"{where}: anyres tiling needs a square center crop, got do_center_crop {Tile.DoCenterCrop}, crop_size {Tile.CropHeight}x{Tile.CropWidth}");
        if (!Tile.DoResize)
            throw new ModelLoadException($"{where}: anyres tiling needs do_resize (the base view is a resize of the whole image)");
        Pinpoint.Check(ImageGridPinpoints, TileSize, "image_grid_pinpoints", "crop size", msg => new ModelLoadException($"{where}: {msg}"));
    }

    /// <summary>
    /// HF select_best_resolution: the pinpoint that keeps the most of the image's pixels when it is scaled to fit
    /// (int() of each scaled side), then the one that wastes the least canvas; ties keep the earlier pinpoint.
    /// </summary>
    public static Pinpoint SelectBestResolution(int height, int width, ReadOnlySpan<Pinpoint> pinpoints)
    {
        if (pinpoints.IsEmpty) throw new ConfigMismatchException("image_grid_pinpoints is empty");
        Pinpoint best = default;
        long maxEffective = -1, minWasted = long.MaxValue;
        foreach (var p in pinpoints)
        {
            double scale = Math.Min((double)p.Width / width, (double)p.Height / height);
            long dw = (long)(width * scale), dh = (long)(height * scale);
            long effective = Math.Min(dw * dh, (long)width * height);
            long wasted = (long)p.Width * p.Height - effective;
            if (effective > maxEffective || (effective == maxEffective && wasted < minWasted))
            {
                maxEffective = effective;
                minWasted = wasted;
                best = p;
            }
        }
        return best;
    }

    /// <summary>HF _get_patch_output_size: fit (height, width) into the target keeping the aspect ratio; the other side is ceil'ed and capped.</summary>
    public static (int Height, int Width) PatchOutputSize(int height, int width, Pinpoint target)
    {
        double scaleW = (double)target.Width / width, scaleH = (double)target.Height / height;
        if (scaleW < scaleH) return (Math.Min((int)Math.Ceiling(height * scaleW), target.Height), target.Width);
        return (target.Height, Math.Min((int)Math.Ceiling(width * scaleH), target.Width));
    }

    /// <summary>The pinpoint and the tile grid (rows, cols) an image of this size is cut into.</summary>
    public (Pinpoint Best, int Rows, int Cols) Grid(int height, int width)
    {
        var best = SelectBestResolution(height, width, ImageGridPinpoints);
        return (best, best.Height / TileSize, best.Width / TileSize);
    }

    public AnyresImage Process(RgbImage image)
    {
        ArgumentNullException.ThrowIfNull(image);
        int h = image.Height, w = image.Width, ts = TileSize;
        var (best, rows, cols) = Grid(h, w);

        var (nh, nw) = PatchOutputSize(h, w, best);
        var resized = BicubicResize.Resize(image, nw, nh, Tile.Resample);
        int top = (best.Height - nh) / 2, left = (best.Width - nw) / 2;
        var canvas = new RgbImage(best.Width, best.Height, new byte[checked(best.Width * best.Height * 3)]); // black = 0 in uint8
        for (int y = 0; y < nh; y++)
            Array.Copy(resized.Rgb, y * nw * 3, canvas.Rgb, ((top + y) * best.Width + left) * 3, nw * 3);

        var (bh, bw) = BaseSize;
        var baseView = BicubicResize.Resize(image, bw, bh, Tile.Resample);

        int tiles = 1 + rows * cols, per = 3 * ts * ts;
        var pixels = new float[checked(tiles * per)];
        Put(0, baseView);
        var cut = new RgbImage(ts, ts, new byte[ts * ts * 3]);
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++)
            {
                for (int y = 0; y < ts; y++)
                    Array.Copy(canvas.Rgb, ((r * ts + y) * best.Width + c * ts) * 3, cut.Rgb, y * ts * 3, ts * 3);
                Put(1 + r * cols + c, cut);
            }
        return new AnyresImage(pixels, tiles, ts, h, w, best, rows, cols, nh, nw, top, left, canvas, baseView);

        void Put(int index, RgbImage tile)
        {
            var chw = Tile.Process(tile, out int th, out int tw);
            if (th != ts || tw != ts || chw.Length != per)
                throw new ImageLoadException($"anyres tile {index} came out {th}x{tw}, expected {ts}x{ts}");
            chw.CopyTo(pixels, index * per);
        }
    }
}
