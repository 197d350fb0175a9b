using AutoPrune.Loading;

namespace AutoPrune.Models.LlavaNext;

/// <summary>How the tiles' features become one visual sequence.</summary>
public enum AnyresPackingMode
{
    /// <summary>Hugging Face / llava-v1.6 ("spatial_unpad"): unpad the grid against the original size, image_newline after every row.</summary>
    Unpad,
    /// <summary>The official AutoPrune NeXT setting ("spatial"): the full tile grid row-major, no unpadding, no newlines (at most 5 x 576 tokens on llava-v1.6).</summary>
    Spatial,
}

/// <summary>Where one packed visual token comes from.</summary>
/// <param name="Tile">Tile index in the pixel tensor (0 = base view), or -1 for an image_newline token.</param>
/// <param name="Patch">Patch index inside that tile (row-major over its patch grid); -1 for a newline.</param>
/// <param name="Row">Row of the feature grid (grid tokens and newlines); -1 for base tokens.</param>
public readonly record struct PackedToken(int Tile, int Patch, int Row)
{
    public bool IsNewline => Tile < 0;
}

/// <summary>
/// HF pack_image_features for one image: the base tile's features first, then the grid tiles' features arranged as one
/// (rows·side) x (cols·side) feature grid (tile (r, c), patch (i, j) at row r·side + i, column c·side + j), cut by
/// unpad_image to the image's own aspect ratio and read row-major with image_newline closing every kept row.
/// The token count equals LlavaNextProcessor's number of &lt;image&gt; tokens for that image size.
/// </summary>
public sealed class AnyresLayout
{
    public AnyresPackingMode Mode { get; }
    public int Side { get; }
    public int GridRows { get; }
    public int GridCols { get; }
    public int FeatureRows => GridRows * Side;
    public int FeatureCols => GridCols * Side;
    /// <summary>Kept feature rows [RowStart, RowEnd) and columns [ColStart, ColEnd) after unpadding.</summary>
    public int RowStart { get; }
    public int RowEnd { get; }
    public int ColStart { get; }
    public int ColEnd { get; }
    public bool Newlines => Mode == AnyresPackingMode.Unpad;
    public PackedToken[] Tokens { get; }
    public int Count => Tokens.Length;
    public int BaseTokens => Side * Side;
    public int NewlineTokens => Newlines ? RowEnd - RowStart : 0;

    private AnyresLayout(AnyresPackingMode mode, int side, int gridRows, int gridCols, int r0, int r1, int c0, int c1)
    {
        Mode = mode; Side = side; GridRows = gridRows; GridCols = gridCols;
        RowStart = r0; RowEnd = r1; ColStart = c0; ColEnd = c1;
        var tokens = new List<PackedToken>(side * side + (r1 - r0) * (c1 - c0 + 1));
        for (int p = 0; p < side * side; p++) tokens.Add(new PackedToken(0, p, -1));
        for (int row = r0; row < r1; row++)
        {
            int tr = row / side, i = row % side;
            for (int col = c0; col < c1; col++)
            {
                int tc = col / side, j = col % side;
                tokens.Add(new PackedToken(1 + tr * gridCols + tc, i * side + j, row));
            }
            if (Newlines) tokens.Add(new PackedToken(-1, -1, row));
        }
        Tokens = [.. tokens];
    }

    /// <summary>The layout for an original image of (height, width) tiled as gridRows x gridCols tiles of side x side patches.</summary>
    public static AnyresLayout Plan(int height, int width, int gridRows, int gridCols, int side, AnyresPackingMode mode)
    {
        if (height <= 0 || width <= 0) throw new ArgumentOutOfRangeException(nameof(height), $"image size {height}x{width} must be positive");
        if (gridRows <= 0 || gridCols <= 0 || side <= 0) throw new ArgumentOutOfRangeException(nameof(gridRows), "grid and patch side must be positive");
        int curH = gridRows * side, curW = gridCols * side;
        if (mode == AnyresPackingMode.Spatial) return new AnyresLayout(mode, side, gridRows, gridCols, 0, curH, 0, curW);

        // unpad_image: compare aspect ratios as Python floats; new side = int(round(x, 7)); odd leftovers stay at the end.
        double originalAspect = (double)width / height, currentAspect = (double)curW / curH;
        if (originalAspect > currentAspect)
        {
            int newH = IntOfRound7(height * ((double)curW / width));
            int pad = (curH - newH) / 2;
            return new AnyresLayout(mode, side, gridRows, gridCols, pad, curH - pad, 0, curW);
        }
        else
        {
            int newW = IntOfRound7(width * ((double)curH / height));
            int pad = (curW - newW) / 2;
            return new AnyresLayout(mode, side, gridRows, gridCols, 0, curH, pad, curW - pad);
        }
    }

    /// <summary>Python's int(round(x, 7)) for 0 ≤ x: 2.9999999999999996 becomes 3, where a plain truncation gives 2.</summary>
    internal static int IntOfRound7(double x) => (int)Math.Round(x, 7, MidpointRounding.ToEven);

    /// <summary>
    /// Which packed token every pixel of the original image falls in: through the canvas (resize + padding) into the
    /// tile grid for <paramref name="baseView"/> false, or into the base view's patch grid (the whole image squeezed
    /// into one tile) for true. -1 where unpadding removed the token.
    /// </summary>
    public int[] TokenOfPixel(AnyresImage img, bool baseView)
    {
        int w = img.OriginalWidth, h = img.OriginalHeight;
        var map = new int[w * h];
        if (baseView)
        {
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++)
                    map[y * w + x] = (int)((long)y * Side / h) * Side + (int)((long)x * Side / w); // base tokens come first
            return map;
        }
        var cell = new int[FeatureRows * FeatureCols];
        Array.Fill(cell, -1);
        for (int k = BaseTokens; k < Tokens.Length; k++)
        {
            var t = Tokens[k];
            if (t.IsNewline) continue;
            int tc = (t.Tile - 1) % GridCols;
            cell[t.Row * FeatureCols + tc * Side + t.Patch % Side] = k;
        }
        int patchPx = img.TileSize / Side;
        var colOf = new int[w];
        for (int x = 0; x < w; x++) colOf[x] = Math.Min(FeatureCols - 1, (img.PadLeft + (int)((x + 0.5) * img.ResizedWidth / w)) / patchPx);
        for (int y = 0; y < h; y++)
        {
            int row = Math.Min(FeatureRows - 1, (img.PadTop + (int)((y + 0.5) * img.ResizedHeight / h)) / patchPx);
            for (int x = 0; x < w; x++) map[y * w + x] = cell[row * FeatureCols + colOf[x]];
        }
        return map;
    }

    /// <summary>
    /// Packs per-tile projected features [tiles · side², d] (tile-major, patches row-major) into [Count, d].
    /// <paramref name="newline"/> is the image_newline vector [d] (unused in <see cref="AnyresPackingMode.Spatial"/>).
    /// </summary>
    public float[] Pack(ReadOnlySpan<float> projected, ReadOnlySpan<float> newline, int d)
    {
        int perTile = Side * Side, tiles = 1 + GridRows * GridCols;
        if (projected.Length != tiles * perTile * d)
            throw new ArgumentException($"projected features have {projected.Length} values, expected {tiles} tiles x {perTile} x {d}");
        if (Newlines && newline.Length != d) throw new ArgumentException($"image_newline has {newline.Length} values, expected {d}");
        var packed = new float[Count * d];
        for (int k = 0; k < Tokens.Length; k++)
        {
            var t = Tokens[k];
            var src = t.IsNewline ? newline : projected.Slice((t.Tile * perTile + t.Patch) * d, d);
            src.CopyTo(packed.AsSpan(k * d, d));
        }
        return packed;
    }
}
