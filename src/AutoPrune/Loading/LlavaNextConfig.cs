using System.Text.Json;

namespace AutoPrune.Loading;

/// <summary>
/// A llava-hf LLaVA-NeXT config.json (model_type "llava_next", LlavaNextForConditionalGeneration). The fields it
/// shares with LLaVA-1.5 (text and vision towers, image token, feature layer) are in <see cref="Llava"/>; the anyres
/// fields are here. Defaults are transformers' LlavaNextConfig defaults (llava-v1.6's pinpoints).
/// </summary>
public sealed record LlavaNextConfig
{
    public static readonly Pinpoint[] DefaultPinpoints = [new(336, 672), new(672, 336), new(672, 672), new(1008, 336), new(336, 1008)];

    public LlavaConfig Llava { get; init; } = new();
    /// <summary>image_grid_pinpoints: the canvas sizes an image can be tiled at, (height, width), in config order.</summary>
    public Pinpoint[] ImageGridPinpoints { get; init; } = DefaultPinpoints;
    /// <summary>image_seq_length: visual tokens of one tile (the base image and every grid tile).</summary>
    public int ImageSeqLength { get; init; } = 576;
    /// <summary>use_image_newline_parameter: a learned image_newline vector ends every packed feature row.</summary>
    public bool UseImageNewline { get; init; } = true;

    public static LlavaNextConfig Load(string path)
    {
        if (!File.Exists(path)) throw new ModelLoadException($"config.json not found: {path}");
        using var doc = JsonInput.ReadFile(path, p => new ModelLoadException($"{path}: {p}"));
        return Parse(doc.RootElement, path);
    }

    public static LlavaNextConfig Parse(JsonElement root, string where = "config.json")
    {
        var llava = LlavaConfig.Parse(root, where, "llava_next");
        var f = new LlavaConfig.Fields(where);
        var cfg = new LlavaNextConfig
        {
            Llava = llava,
            ImageGridPinpoints = LlavaConfig.Has(root, "image_grid_pinpoints", out var pp)
                ? Pinpoint.ParseList(pp, "image_grid_pinpoints", where, e => new ConfigMismatchException(e)) : DefaultPinpoints,
            ImageSeqLength = f.Int(root, "", "image_seq_length", llava.Vision.NumPatches),
            UseImageNewline = f.Bool(root, "", "use_image_newline_parameter", true),
        };
        cfg.Validate(where);
        return cfg;
    }

    public void Validate(string where = "config.json")
    {
        void Require(bool ok, string what) { if (!ok) throw new ConfigMismatchException($"{where}: {what}"); }
        Llava.Validate(where);
        var v = Llava.Vision;
        // transformers reshapes each tile's features into a square patch grid, which a kept CLS row breaks.
        Require(Llava.VisionFeatureSelectStrategy == "default",
            $"vision_feature_select_strategy '{Llava.VisionFeatureSelectStrategy}' is not supported for LLaVA-NeXT (default)");
        Require(ImageSeqLength == v.NumPatches,
            $"image_seq_length {ImageSeqLength} disagrees with the vision tower's {v.NumPatches} patches per tile");
        Pinpoint.Check(ImageGridPinpoints, v.ImageSize, "image_grid_pinpoints", "vision image_size", msg => new ConfigMismatchException($"{where}: {msg}"));
    }
}

/// <summary>One anyres canvas size, (height, width) in pixels as HF lists them.</summary>
public readonly record struct Pinpoint(int Height, int Width)
{
    public override string ToString() => $"[{Height}, {Width}]";

    /// <summary>A JSON list of [height, width] pairs.</summary>
    internal static Pinpoint[] ParseList(JsonElement e, string name, string where, Func<string, Exception> error)
    {
        if (e.ValueKind != JsonValueKind.Array)
            throw error($"{where}: '{name}' should be a list of [height, width] pairs, got {e.GetRawText()}");
        var list = new Pinpoint[e.GetArrayLength()];
        int i = 0;
        foreach (var p in e.EnumerateArray())
        {
            if (p.ValueKind != JsonValueKind.Array || p.GetArrayLength() != 2
                || !p[0].TryGetInt32Strict(out var h) || !p[1].TryGetInt32Strict(out var w))
                throw error($"{where}: '{name}[{i}]' should be a [height, width] pair of integers, got {p.GetRawText()}");
            list[i++] = new Pinpoint(h, w);
        }
        return list;
    }

    /// <summary>Non-empty, positive, and whole multiples of the tile side (the grid must tile the canvas exactly).</summary>
    internal static void Check(Pinpoint[] pinpoints, int tile, string name, string tileName, Func<string, Exception> error)
    {
        if (pinpoints.Length == 0) throw error($"{name} is empty: LLaVA-NeXT needs at least one canvas size");
        foreach (var p in pinpoints)
        {
            if (p.Height <= 0 || p.Width <= 0) throw error($"{name} entry {p} must be positive");
            if (p.Height % tile != 0 || p.Width % tile != 0)
                throw error($"{name} entry {p} is not divisible by the {tileName} {tile}");
        }
    }
}

internal static class JsonElementIntExtensions
{
    public static bool TryGetInt32Strict(this JsonElement e, out int v)
    {
        v = 0;
        return e.ValueKind == JsonValueKind.Number && e.TryGetInt32(out v);
    }
}
