using AutoPrune.Loading;
using AutoPrune.Tensors;

namespace AutoPrune.Models.LlavaNext;

/// <summary>One image through the vision side of LLaVA-NeXT.</summary>
/// <param name="Image">The preprocessed tiles and how they were cut.</param>
/// <param name="PerTile">Vision tower output of every tile (selected features, [CLS] attention, keys), base tile first.</param>
/// <param name="Projected">Projector output of every tile [tiles · side², Dt], tile-major.</param>
/// <param name="Layout">Which tile and patch every packed token comes from.</param>
/// <param name="Packed">The packed visual sequence [Layout.Count, Dt] that replaces the image tokens.</param>
public sealed record AnyresFeatures(AnyresImage Image, VisionOutput[] PerTile, float[] Projected, AnyresLayout Layout, float[] Packed);

/// <summary>
/// LLaVA-NeXT / llava-v1.6 (llava-hf LlavaNextForConditionalGeneration): anyres tiles → CLIP vision tower per tile →
/// projector → packing (base first, unpadded grid with image_newline per row) → LLaMA/Mistral decoder. The vision
/// tower, projector and decoder are LLaVA-1.5's; what differs is the image processor and the packing.
/// </summary>
public sealed class LlavaNextModel : IDisposable
{
    public string Directory { get; }
    public LlavaNextConfig Config { get; }
    public ModelWeights Weights { get; }
    public LlavaTokenizer Tokenizer { get; }
    public LlavaNextImageProcessor ImageProcessor { get; }
    public ClipVisionTower Vision { get; }
    public MultiModalProjector Projector { get; }
    public LlamaModel LanguageModel { get; }
    /// <summary>The image_newline parameter [Dt].</summary>
    public float[] ImageNewline { get; }
    public AnyresPackingMode Packing { get; }
    public int DefaultMaxNewTokens { get; }

    private LlavaNextModel(string dir, LlavaNextConfig config, ModelWeights weights, LlavaTokenizer tok, LlavaNextImageProcessor proc,
        AnyresPackingMode packing, int maxNew)
    {
        Directory = dir; Config = config; Weights = weights; Tokenizer = tok; ImageProcessor = proc; Packing = packing; DefaultMaxNewTokens = maxNew;
        var llava = config.Llava;
        if (proc.TileSize != llava.Vision.ImageSize)
            throw new ConfigMismatchException($"{dir}: the image processor's crop size {proc.TileSize} differs from the vision tower's image_size {llava.Vision.ImageSize}");
        if (!proc.ImageGridPinpoints.AsSpan().SequenceEqual(config.ImageGridPinpoints))
            throw new ConfigMismatchException(
                $"{dir}: image_grid_pinpoints differ between config.json ({string.Join(", ", config.ImageGridPinpoints)}) and the image processor ({string.Join(", ", proc.ImageGridPinpoints)})");
        Vision = new ClipVisionTower(llava, weights);
        Projector = new MultiModalProjector(llava, weights);
        LanguageModel = new LlamaModel(llava.Text, weights);
        ImageNewline = config.UseImageNewline ? weights.Get("image_newline", llava.Text.HiddenSize).ToFloat32() : [];
    }

    /// <summary>
    /// Loads a llava-hf NeXT folder (config.json, model*.safetensors in either key layout, tokenizer, preprocessor_config.json).
    /// <paramref name="packing"/> picks HF's unpadded packing (default) or the official AutoPrune spatial one.
    /// </summary>
    public static LlavaNextModel Load(string dir, string? weightsFile = null, AnyresPackingMode packing = AnyresPackingMode.Unpad)
    {
        dir = ModelFolder.Resolve(dir);
        var config = LlavaNextConfig.Load(Path.Combine(dir, ModelFolder.ConfigFileName));
        var tok = LlavaTokenizer.FromFolder(dir);
        tok.CheckAgainst(config.Llava);
        var ppPath = Path.Combine(dir, "preprocessor_config.json");
        var proc = File.Exists(ppPath) ? LlavaNextImageProcessor.FromFile(ppPath) : DefaultProcessor(config);
        var weightsPath = weightsFile == null ? dir : Path.IsPathRooted(weightsFile) ? weightsFile : Path.Combine(dir, weightsFile);
        var weights = CheckpointLoader.Open(weightsPath);
        try
        {
            config.Llava.CheckLayers(weights);
            return new LlavaNextModel(dir, config, weights, tok, proc, packing, GenerationConfig.ReadMaxNewTokens(dir, config.Llava));
        }
        catch
        {
            weights.Dispose();
            throw;
        }
    }

    /// <summary>Builds a model over weights already in memory (synthetic benchmarks, tests).</summary>
    public static LlavaNextModel FromWeights(string dir, LlavaNextConfig config, ModelWeights weights, LlavaTokenizer tok,
        LlavaNextImageProcessor? proc = null, AnyresPackingMode packing = AnyresPackingMode.Unpad) =>
        new(dir, config, weights, tok, proc ?? DefaultProcessor(config), packing, 8);

    /// <summary>Without a preprocessor_config.json: CLIP preprocessing at the tower's size over the config's pinpoints.</summary>
    public static LlavaNextImageProcessor DefaultProcessor(LlavaNextConfig config)
    {
        int s = config.Llava.Vision.ImageSize;
        return new LlavaNextImageProcessor
        {
            Tile = new ClipImageProcessor { ShortestEdge = s, CropHeight = s, CropWidth = s },
            ImageGridPinpoints = config.ImageGridPinpoints,
        };
    }

    /// <summary>Visual tokens an image of this size becomes (HF LlavaNextProcessor's &lt;image&gt; count in <see cref="AnyresPackingMode.Unpad"/>).</summary>
    public int ImageTokens(int height, int width) => Layout(height, width).Count;

    public AnyresLayout Layout(int height, int width)
    {
        var (_, rows, cols) = ImageProcessor.Grid(height, width);
        return AnyresLayout.Plan(height, width, rows, cols, Config.Llava.Vision.PatchesPerSide, Packing);
    }

    /// <summary>Chat template + tokenizer with one image placeholder (expanded to the packed count by the prefill).</summary>
    public TokenizedPrompt Tokenize(string question) =>
        LlavaModel.TokenizeWith(Tokenizer, Config.Llava.ImageTokenIndex, ChatTemplate.Format(question, Config.Llava.Text.ModelType), 1);

    /// <summary>The prompt ids as HF's processor writes them: the image placeholder repeated once per packed token.</summary>
    public int[] ExpandedIds(TokenizedPrompt prompt, int imageTokens)
    {
        int at = prompt.ImagePositions[0];
        var ids = new int[prompt.Ids.Length - 1 + imageTokens];
        prompt.Ids.AsSpan(0, at).CopyTo(ids);
        ids.AsSpan(at, imageTokens).Fill(Config.Llava.ImageTokenIndex);
        prompt.Ids.AsSpan(at + 1).CopyTo(ids.AsSpan(at + imageTokens));
        return ids;
    }

    /// <summary>Preprocessing, the vision tower on every tile (tiles run in parallel), the projector and the packing.</summary>
    public AnyresFeatures EncodeImage(RgbImage image) => EncodeImage(ImageProcessor.Process(image));

    public AnyresFeatures EncodeImage(AnyresImage img)
    {
        var per = new VisionOutput[img.Tiles];
        // Tiles are independent; each tower forward is deterministic, so the result does not depend on the scheduling.
        Parallelism.For(img.Tiles, (per, img, Vision), static (ref readonly (VisionOutput[] per, AnyresImage img, ClipVisionTower vision) s, int t) =>
            s.per[t] = s.vision.Forward(s.img.Tile(t).ToArray()));
        int tokens = per[0].Tokens, dv = Config.Llava.Vision.HiddenSize;
        var selected = new float[img.Tiles * tokens * dv];
        for (int t = 0; t < img.Tiles; t++) per[t].Features.CopyTo(selected, t * tokens * dv);
        var projected = Projector.Forward(selected, img.Tiles * tokens);
        var layout = AnyresLayout.Plan(img.OriginalHeight, img.OriginalWidth, img.GridRows, img.GridCols, Config.Llava.Vision.PatchesPerSide, Packing);
        var packed = layout.Pack(projected, ImageNewline, Config.Llava.Text.HiddenSize);
        return new AnyresFeatures(img, per, projected, layout, packed);
    }

    public void Dispose() => Weights.Dispose();
}
