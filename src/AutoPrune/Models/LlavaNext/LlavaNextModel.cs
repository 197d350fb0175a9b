using System.Diagnostics;
using AutoPrune.Loading;
using AutoPrune.Pruning;
using AutoPrune.Tensors;

namespace AutoPrune.Models.LlavaNext;

/// <summary>One image through the vision side of LLaVA-NeXT.</summary>
/// <param name="Image">The preprocessed tiles and how they were cut.</param>
/// <param name="PerTile">Vision tower output of every tile (selected features, [CLS] attention, keys), base tile first.</param>
/// <param name="Projected">Projector output of every tile [tiles · side², Dt], tile-major.</param>
/// <param name="Layout">Which tile and patch every packed token comes from.</param>
/// <param name="Features">The packed visual sequence as the language model receives it: rows [Layout.Count, Dt]; per token
/// the [CLS] attention of its own tile at its patch and that tile's key (image_newline tokens: 0 and a zero key).</param>
public sealed record AnyresFeatures(AnyresImage Image, VisionOutput[] PerTile, float[] Projected, AnyresLayout Layout, ImageFeatures Features)
{
    public int Tokens => Features.Tokens;
    public float[] Packed => Features.Features;
    public float[] ClsAttention => Features.ClsAttention;
}

/// <summary>
/// LLaVA-NeXT / llava-v1.6 (llava-hf LlavaNextForConditionalGeneration): anyres tiles → CLIP vision tower per tile →
/// projector → packing (base first, unpadded grid with image_newline per row) → LLaMA/Mistral decoder. The vision
/// tower, projector and decoder are LLaVA-1.5's; what differs is the image processor and the packing.
/// </summary>
public sealed class LlavaNextModel : IVisionLanguageModel
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
    public static LlavaNextModel Load(string dir, string? weightsFile = null, AnyresPackingMode packing = AnyresPackingMode.Unpad, DType? quantize = null)
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
            if (quantize is DType q) weights = Tensors.Quant.WeightQuantizer.Apply(weights, q);
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

    /// <summary>The largest image-token count over the pinpoints (an image that fills its canvas, no unpadding).</summary>
    public int MaxImageTokens
    {
        get
        {
            int side = Config.Llava.Vision.PatchesPerSide, most = 0;
            foreach (var p in ImageProcessor.ImageGridPinpoints)
                most = Math.Max(most, AnyresLayout.Plan(p.Height, p.Width, p.Height / ImageProcessor.TileSize, p.Width / ImageProcessor.TileSize, side, Packing).Count);
            return most;
        }
    }

    /// <summary>Visual tokens an image of this size becomes (HF LlavaNextProcessor's &lt;image&gt; count in <see cref="AnyresPackingMode.Unpad"/>).</summary>
    public int ImageTokens(int height, int width) => Layout(height, width).Count;

    public AnyresLayout Layout(int height, int width)
    {
        var (_, rows, cols) = ImageProcessor.Grid(height, width);
        return AnyresLayout.Plan(height, width, rows, cols, Config.Llava.Vision.PatchesPerSide, Packing);
    }

    /// <summary>Chat template + tokenizer with one placeholder per image (each replaced by its packed tokens in the run).</summary>
    public TokenizedPrompt Tokenize(string question, int images = 1) =>
        LlavaModel.TokenizeWith(Tokenizer, Config.Llava.ImageTokenIndex, ChatTemplate.Format(question, Config.Llava.Text.ModelType, images), images,
            Config.Llava.Text.MaxPositionEmbeddings);

    public TokenizedPrompt TokenizeConversation(IReadOnlyList<Turn> turns) =>
        LlavaModel.TokenizeWith(Tokenizer, Config.Llava.ImageTokenIndex, ChatTemplate.Format(turns, Config.Llava.Text.ModelType), ChatTemplate.ImageCount(turns));

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

    /// <summary>The packed visual tokens of a decoded image (see <see cref="EncodeAnyres(RgbImage)"/>).</summary>
    public ImageFeatures EncodeImage(RgbImage image) => EncodeAnyres(image).Features;

    /// <summary>Preprocessing, the vision tower on every tile, the projector and the packing.</summary>
    public AnyresFeatures EncodeAnyres(RgbImage image) => EncodeAnyres(ImageProcessor.Process(image));

    public AnyresFeatures EncodeAnyres(AnyresImage img)
    {
        var per = new VisionOutput[img.Tiles];
        // One tile after another, each on every core: the tower's GEMMs and attention heads split evenly over the
        // threads, whereas tiles in parallel leave cores idle whenever the thread count does not divide the tile count
        // (5 tiles on 2 threads ran as 3 rounds of single-threaded towers).
        for (int t = 0; t < img.Tiles; t++) per[t] = Vision.Forward(img.Tile(t).ToArray());
        int tokens = per[0].Tokens, dv = Config.Llava.Vision.HiddenSize;
        var selected = new float[img.Tiles * tokens * dv];
        for (int t = 0; t < img.Tiles; t++) per[t].Features.CopyTo(selected, t * tokens * dv);
        var projected = Projector.Forward(selected, img.Tiles * tokens);
        var layout = AnyresLayout.Plan(img.OriginalHeight, img.OriginalWidth, img.GridRows, img.GridCols, Config.Llava.Vision.PatchesPerSide, Packing);
        var packed = layout.Pack(projected, ImageNewline, Config.Llava.Text.HiddenSize);

        // Pre-decoder policies rank a token by what the vision tower saw in its own tile. image_newline tokens come
        // from no tile: no [CLS] attention and a zero key, so [CLS]-ranked policies drop them before any image token.
        var cls = new float[layout.Count];
        var keys = new float[layout.Count * dv];
        for (int k = 0; k < layout.Count; k++)
        {
            var t = layout.Tokens[k];
            if (t.IsNewline) continue;
            cls[k] = per[t.Tile].ClsAttention[t.Patch];
            per[t.Tile].Keys.AsSpan(t.Patch * dv, dv).CopyTo(keys.AsSpan(k * dv, dv));
        }
        return new AnyresFeatures(img, per, projected, layout,
            new ImageFeatures(packed, layout.Count, Config.Llava.Text.HiddenSize, cls, keys, dv));
    }

    /// <summary>
    /// Refuses a prompt that would not fit the language model: the packed image plus the text plus the tokens to
    /// generate must fit max_position_embeddings, and a Mistral sliding window (which the engine does not apply).
    /// </summary>
    public void CheckContext(TokenizedPrompt prompt, IReadOnlyList<ImageFeatures> images, int maxNewTokens)
    {
        var t = Config.Llava.Text;
        long visual = 0;
        foreach (var f in images) visual += f.Tokens;
        long total = prompt.TextTokens + visual + maxNewTokens;
        if (total > t.MaxPositionEmbeddings)
            throw new InvalidPromptException(
                $"the image{(images.Count > 1 ? "s" : "")} become{(images.Count > 1 ? "" : "s")} {visual} visual tokens; with {prompt.TextTokens} text tokens and {maxNewTokens} to generate that is {total} positions, more than the language model's context of {t.MaxPositionEmbeddings}");
        if (t.SlidingWindow > 0 && total > t.SlidingWindow)
            throw new InvalidPromptException(
                $"the sequence of {total} positions is longer than the language model's sliding attention window of {t.SlidingWindow}, which this engine does not apply");
    }

    /// <summary>A run of the language model over the prompt with each image's packed tokens at its placeholder.</summary>
    public InferenceRun StartRun(TokenizedPrompt prompt, IReadOnlyList<ImageFeatures> images, IPruningPolicy? policy = null, int reserveForDecode = 8)
    {
        CheckContext(prompt, images, reserveForDecode);
        Weights.CheckFilesUnchanged();
        return new InferenceRun(LanguageModel, prompt, images, policy, reserveForDecode);
    }

    /// <summary>Decoder prefill of a one-image prompt, pruned by <paramref name="policy"/>; decode or generate on the returned run.</summary>
    public InferenceRun Prefill(AnyresFeatures image, TokenizedPrompt prompt, IPruningPolicy? policy = null, int reserveForDecode = 8)
    {
        var run = StartRun(prompt, [image.Features], policy, reserveForDecode);
        run.Prefill();
        return run;
    }

    public void Dispose() => Weights.Dispose();
}
