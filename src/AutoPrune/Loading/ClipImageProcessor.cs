using System.Text.Json;

namespace AutoPrune.Loading;

/// <summary>
/// Hugging Face CLIPImageProcessor (as llava-hf uses it): RGB -> [pad to square] -> resize -> center crop ->
/// rescale -> normalize -> CHW float32. Built from preprocessor_config.json; absent fields take CLIPImageProcessor's
/// defaults: do_resize true, size {shortest_edge: 224}, resample 3 (bicubic), do_center_crop true,
/// crop_size 224x224, do_rescale true, rescale_factor 1/255, do_normalize true, OpenAI CLIP mean/std, do_convert_rgb true.
/// </summary>
public sealed record ClipImageProcessor
{
    public static readonly float[] OpenAiClipMean = [0.48145466f, 0.4578275f, 0.40821073f];
    public static readonly float[] OpenAiClipStd = [0.26862954f, 0.26130258f, 0.27577711f];

    public bool DoResize { get; init; } = true;
    /// <summary>Resize so the short side is this (HF "shortest_edge"); used when <see cref="ResizeHeight"/> is 0.</summary>
    public int ShortestEdge { get; init; } = 224;
    /// <summary>Exact resize target (HF size {height, width}); 0 = use <see cref="ShortestEdge"/>.</summary>
    public int ResizeHeight { get; init; }
    public int ResizeWidth { get; init; }
    public ResampleFilter Resample { get; init; } = ResampleFilter.Bicubic;
    public bool DoCenterCrop { get; init; } = true;
    public int CropHeight { get; init; } = 224;
    public int CropWidth { get; init; } = 224;
    public bool DoRescale { get; init; } = true;
    public double RescaleFactor { get; init; } = 1.0 / 255.0;
    public bool DoNormalize { get; init; } = true;
    public float[] ImageMean { get; init; } = OpenAiClipMean;
    public float[] ImageStd { get; init; } = OpenAiClipStd;
    /// <summary>Images are always RGB once loaded; kept for fidelity with the config file.</summary>
    public bool DoConvertRgb { get; init; } = true;

    /// <summary>
    /// Original LLaVA (liuhaotian) preprocessing: pad to a square of the mean color before anything else
    /// (expand2square). llava-hf does not do this.
    /// </summary>
    public bool PadToSquare { get; init; }

    /// <summary>Padding color of <see cref="PadToSquare"/>: int(mean*255) per channel as LLaVA computes it, (122,116,104) for CLIP.</summary>
    public (byte R, byte G, byte B) PadColor =>
        ((byte)(int)(ImageMean[0] * 255.0), (byte)(int)(ImageMean[1] * 255.0), (byte)(int)(ImageMean[2] * 255.0));

    public static ClipImageProcessor FromFile(string path, bool padToSquare = false)
    {
        if (!File.Exists(path)) throw new ModelLoadException($"preprocessor config not found: {path}");
        using var doc = JsonInput.ReadFile(path, p => new ModelLoadException($"{path}: {p}"));
        return Parse(doc.RootElement, path) with { PadToSquare = padToSquare };
    }

    public static ClipImageProcessor Parse(JsonElement root, string where = "preprocessor_config.json")
    {
        if (root.ValueKind != JsonValueKind.Object) throw new ModelLoadException($"{where}: expected a JSON object");
        var p = new ClipImageProcessor();
        int shortest = p.ShortestEdge, rh = 0, rw = 0;
        if (Has(root, "size", out var size))
        {
            if (size.ValueKind == JsonValueKind.Number) shortest = Int(size, "size", where); // legacy int = shortest edge
            else if (size.ValueKind == JsonValueKind.Object)
            {
                if (Has(size, "shortest_edge", out var se)) shortest = Int(se, "size.shortest_edge", where);
                else if (Has(size, "height", out var h) && Has(size, "width", out var w))
                { rh = Int(h, "size.height", where); rw = Int(w, "size.width", where); }
                else throw new ModelLoadException($"{where}: 'size' needs shortest_edge or height+width, got {size.GetRawText()}");
            }
            else throw new ModelLoadException($"{where}: 'size' should be an object or integer, got {size.GetRawText()}");
        }
        int ch = p.CropHeight, cw = p.CropWidth;
        if (Has(root, "crop_size", out var crop))
        {
            if (crop.ValueKind == JsonValueKind.Number) ch = cw = Int(crop, "crop_size", where);
            else if (crop.ValueKind == JsonValueKind.Object && Has(crop, "height", out var h) && Has(crop, "width", out var w))
            { ch = Int(h, "crop_size.height", where); cw = Int(w, "crop_size.width", where); }
            else throw new ModelLoadException($"{where}: 'crop_size' needs height+width, got {crop.GetRawText()}");
        }
        int resample = Has(root, "resample", out var rs) ? Int(rs, "resample", where) : (int)p.Resample;
        if (resample is not (2 or 3))
            throw new ModelLoadException($"{where}: resample {resample} is not supported (2 = bilinear, 3 = bicubic)");

        var proc = p with
        {
            DoResize = Bool(root, "do_resize", p.DoResize, where),
            ShortestEdge = rh == 0 ? shortest : 0,
            ResizeHeight = rh,
            ResizeWidth = rw,
            Resample = (ResampleFilter)resample,
            DoCenterCrop = Bool(root, "do_center_crop", p.DoCenterCrop, where),
            CropHeight = ch,
            CropWidth = cw,
            DoRescale = Bool(root, "do_rescale", p.DoRescale, where),
            RescaleFactor = Has(root, "rescale_factor", out var rf) ? Num(rf, "rescale_factor", where) : p.RescaleFactor,
            DoNormalize = Bool(root, "do_normalize", p.DoNormalize, where),
            ImageMean = Has(root, "image_mean", out var mean) ? Triple(mean, "image_mean", where) : p.ImageMean,
            ImageStd = Has(root, "image_std", out var std) ? Triple(std, "image_std", where) : p.ImageStd,
            DoConvertRgb = Bool(root, "do_convert_rgb", p.DoConvertRgb, where),
        };
        proc.Validate(where);
        return proc;
    }

    /// <summary>Largest resize or crop side a preprocessor config may ask for (CLIP models use 224-448).</summary>
    public const int MaxSide = 8192;

    /// <summary>Largest magnitude a normalized pixel may reach; CLIP's own settings stay within about 2.2.</summary>
    public const double MaxPixelValue = 1e4;

    public void Validate(string where = "preprocessor_config.json")
    {
        void Require(bool ok, string what) { if (!ok) throw new ModelLoadException($"{where}: {what}"); }
        void Side(string field, int value) => Require(value >= 1 && value <= MaxSide, $"{field} {value} is outside 1..{MaxSide}");
        if (DoResize)
        {
            if (ResizeHeight > 0) { Side("size.height", ResizeHeight); Side("size.width", ResizeWidth); }
            else Side("size.shortest_edge", ShortestEdge);
            Require(Resample is ResampleFilter.Bicubic or ResampleFilter.Bilinear, $"resample {(int)Resample} is not supported");
        }
        if (DoCenterCrop) { Side("crop_size.height", CropHeight); Side("crop_size.width", CropWidth); }
        Require(ImageMean.Length == 3 && ImageStd.Length == 3, "image_mean and image_std need 3 values");
        Require(ImageStd.All(s => s != 0 && float.IsFinite(s)), "image_std values must be finite and non-zero");
        Require(ImageMean.All(float.IsFinite), "image_mean values must be finite");
        if (DoRescale)
            Require(double.IsFinite(RescaleFactor) && RescaleFactor > 0, $"rescale_factor {RescaleFactor} must be finite and positive");
        // A tiny std or a huge rescale factor turns every pixel into Inf/NaN further on: refuse it here.
        for (int c = 0; c < 3; c++)
            foreach (var raw in (ReadOnlySpan<int>)[0, 255])
            {
                double v = DoRescale ? (float)(raw * RescaleFactor) : raw;
                if (DoNormalize) v = (float)((float)v - ImageMean[c]) / ImageStd[c];
                Require(double.IsFinite(v) && Math.Abs(v) <= MaxPixelValue,
                    $"rescale_factor {RescaleFactor}, image_mean {ImageMean[c]} and image_std {ImageStd[c]} map pixel value {raw} " +
                    $"of channel {c} to {v}, outside ±{MaxPixelValue}");
            }
    }

    /// <summary>
    /// The output must be the vision tower's square input: checked at load, so a disagreeing crop fails there
    /// rather than at the first image.
    /// </summary>
    public void CheckAgainst(ClipVisionConfig vision, string where = "preprocessor_config.json")
    {
        int s = vision.ImageSize;
        bool ok = DoCenterCrop ? CropHeight == s && CropWidth == s
            : DoResize && (ResizeHeight > 0 ? ResizeHeight == s && ResizeWidth == s : PadToSquare && ShortestEdge == s);
        if (!ok)
        {
            string makes = DoCenterCrop ? $"crop_size {CropHeight}x{CropWidth}"
                : DoResize && ResizeHeight > 0 ? $"size {ResizeHeight}x{ResizeWidth} without a center crop"
                : "images of varying size (no center crop)";
            throw new ConfigMismatchException(
                $"{where}: the preprocessor makes {makes}, but the vision tower's image_size is {s}x{s} (config.json vision_config.image_size)");
        }
    }

    /// <summary>The output tensor's (height, width) for an input of the given size.</summary>
    public (int Height, int Width) OutputSize(int width, int height)
    {
        if (PadToSquare) width = height = Math.Max(width, height);
        if (DoResize) (width, height) = ResizeTarget(width, height);
        return DoCenterCrop ? (CropHeight, CropWidth) : (height, width);
    }

    /// <summary>Preprocesses one image into a CHW float32 tensor [3, H, W] (H, W = crop size when center-cropping).</summary>
    public float[] Process(RgbImage image) => Process(image, out _, out _);

    public float[] Process(RgbImage image, out int height, out int width)
    {
        ArgumentNullException.ThrowIfNull(image);
        var img = image;
        if (PadToSquare)
        {
            int side = Math.Max(img.Width, img.Height);
            CheckPixels(side, side, $"padded to a square the {img.Width}x{img.Height} image");
            img = ExpandToSquare(img, PadColor);
        }
        if (DoResize)
        {
            var (w, h) = ResizeTarget(img.Width, img.Height);
            CheckPixels(w, h, $"resized to the shortest edge {ShortestEdge} the {img.Width}x{img.Height} image");
            img = BicubicResize.Resize(img, w, h, Resample);
        }
        if (DoCenterCrop) img = CenterCrop(img, CropHeight, CropWidth);
        height = img.Height;
        width = img.Width;
        return ToChw(img);
    }

    /// <summary>(width, height) after resizing; shortest edge follows HF get_resize_output_image_size (long side truncated).</summary>
    public (int Width, int Height) ResizeTarget(int width, int height)
    {
        if (ResizeHeight > 0) return (ResizeWidth, ResizeHeight);
        int s = ShortestEdge;
        // Saturate: a very thin image asks for a long side beyond int; CheckPixels then refuses it.
        static int Long(int s, int a, int b) => (int)Math.Min(int.MaxValue, s * (double)a / b);
        if (width <= height) return (s, Long(s, height, width));
        return (Long(s, width, height), s);
    }

    /// <summary>Intermediate images obey the same pixel limit as decoded ones (a 1x32768 image padded to a square is 1G pixels).</summary>
    private static void CheckPixels(int width, int height, string what)
    {
        long pixels = (long)width * height;
        if (pixels > ImageLoader.MaxPixels)
            throw new ImageLoadException(
                $"{what} would be {width}x{height} = {pixels:N0} pixels, over the limit of {ImageLoader.MaxPixels:N0} pixels");
    }

    /// <summary>LLaVA's expand2square: the image pasted at ((side-w)//2, (side-h)//2) on a square of the given color.</summary>
    public static RgbImage ExpandToSquare(RgbImage img, (byte R, byte G, byte B) color)
    {
        if (img.Width == img.Height) return img;
        int side = Math.Max(img.Width, img.Height);
        var dst = RgbImage.Filled(side, side, color.R, color.G, color.B);
        Paste(img, dst, (side - img.Width) / 2, (side - img.Height) / 2);
        return dst;
    }

    /// <summary>
    /// HF center_crop: offset (h - crop)//2; a side smaller than the crop is zero-padded with the image at
    /// ceil((crop - h)/2), which is where HF's pad-then-crop lands it.
    /// </summary>
    public static RgbImage CenterCrop(RgbImage img, int cropH, int cropW)
    {
        if (img.Width == cropW && img.Height == cropH) return img;
        var dst = new RgbImage(cropW, cropH, new byte[checked(cropW * cropH * 3)]);
        // Per axis: source start, destination start and copied length.
        static (int Src, int Dst, int Len) Axis(int size, int crop) =>
            size >= crop ? ((size - crop) / 2, 0, crop) : (0, (crop - size + 1) / 2, size);
        var (sx, dx, nx) = Axis(img.Width, cropW);
        var (sy, dy, ny) = Axis(img.Height, cropH);
        for (int y = 0; y < ny; y++)
            Array.Copy(img.Rgb, ((sy + y) * img.Width + sx) * 3, dst.Rgb, ((dy + y) * cropW + dx) * 3, nx * 3);
        return dst;
    }

    private static void Paste(RgbImage src, RgbImage dst, int x0, int y0)
    {
        for (int y = 0; y < src.Height; y++)
            Array.Copy(src.Rgb, y * src.Width * 3, dst.Rgb, ((y0 + y) * dst.Width + x0) * 3, src.Width * 3);
    }

    private float[] ToChw(RgbImage img)
    {
        int plane = img.Width * img.Height;
        var outp = new float[3 * plane];
        var px = img.Rgb;
        for (int c = 0; c < 3; c++)
        {
            // HF: rescale multiplies in float64 then casts to float32; normalize is (x - mean) / std in float32.
            float mean = ImageMean[c], std = ImageStd[c];
            int o = c * plane;
            for (int i = 0; i < plane; i++)
            {
                float v = DoRescale ? (float)(px[i * 3 + c] * RescaleFactor) : px[i * 3 + c];
                if (DoNormalize) v = (v - mean) / std;
                outp[o + i] = v;
            }
        }
        return outp;
    }

    private static bool Has(JsonElement o, string name, out JsonElement e)
    {
        e = default;
        return o.ValueKind == JsonValueKind.Object && o.TryGetProperty(name, out e) && e.ValueKind != JsonValueKind.Null;
    }

    private static int Int(JsonElement e, string name, string where) =>
        e.ValueKind == JsonValueKind.Number && e.TryGetInt32(out var i)
            ? i : throw new ModelLoadException($"{where}: '{name}' should be an integer, got {e.GetRawText()}");

    private static double Num(JsonElement e, string name, string where) =>
        e.ValueKind == JsonValueKind.Number
            ? e.GetDouble() : throw new ModelLoadException($"{where}: '{name}' should be a number, got {e.GetRawText()}");

    private static bool Bool(JsonElement o, string name, bool dflt, string where)
    {
        if (!Has(o, name, out var e)) return dflt;
        return e.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw new ModelLoadException($"{where}: '{name}' should be true or false, got {e.GetRawText()}"),
        };
    }

    private static float[] Triple(JsonElement e, string name, string where)
    {
        if (e.ValueKind == JsonValueKind.Array && e.GetArrayLength() == 3 && e.EnumerateArray().All(x => x.ValueKind == JsonValueKind.Number))
            return e.EnumerateArray().Select(x => (float)x.GetDouble()).ToArray();
        throw new ModelLoadException($"{where}: '{name}' should be 3 numbers, got {e.GetRawText()}");
    }
}
