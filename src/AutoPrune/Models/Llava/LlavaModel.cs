using System.Diagnostics;
using AutoPrune.Loading;
using AutoPrune.Loading.Gguf;
using AutoPrune.Pruning;
using AutoPrune.Tensors;

namespace AutoPrune.Models;

/// <summary>
/// LLaVA-1.5 (llava-hf LlavaForConditionalGeneration): CLIP vision tower → projector → image features merged at
/// the &lt;image&gt; position → LLaMA decoder. Weights stay memory-mapped in their file dtype.
/// Thread safety: after loading, the model holds only read-only weights and tables; every per-answer buffer lives in
/// an <see cref="InferenceRun"/>, so one model can serve concurrent requests (each with its own run).
/// </summary>
public sealed class LlavaModel : IVisionLanguageModel
{
    public string Directory { get; }
    public LlavaConfig Config { get; }
    public ModelWeights Weights { get; }
    public LlavaTokenizer Tokenizer { get; }
    public ClipImageProcessor ImageProcessor { get; }
    public ClipVisionTower Vision { get; }
    public MultiModalProjector Projector { get; }
    public LlamaModel LanguageModel { get; }
    /// <summary>max_new_tokens of generation_config.json when present.</summary>
    public int DefaultMaxNewTokens { get; }

    private LlavaModel(string dir, LlavaConfig config, ModelWeights weights, LlavaTokenizer tok, ClipImageProcessor proc, int maxNew)
    {
        Directory = dir; Config = config; Weights = weights; Tokenizer = tok; ImageProcessor = proc; DefaultMaxNewTokens = maxNew;
        Vision = new ClipVisionTower(config, weights);
        Projector = new MultiModalProjector(config, weights);
        LanguageModel = new LlamaModel(config.Text, weights);
    }

    /// <summary>
    /// Loads a llava-hf model folder. <paramref name="weightsFile"/> picks one .safetensors file inside it
    /// (e.g. model.bf16.safetensors) instead of the default resolution.
    /// </summary>
    /// <remarks><paramref name="quantize"/> (Q8_0 or Q4_K) re-encodes the language model's matrices at load time;
    /// <paramref name="mmproj"/> (or a GGUF path in <paramref name="dir"/>) loads llama.cpp GGUF files instead.</remarks>
    public static LlavaModel Load(string dir, string? weightsFile = null, bool padToSquare = false, string? mmproj = null, DType? quantize = null)
    {
        if (mmproj != null || LlavaGgufLoader.IsGgufPath(dir)) return LoadGguf(dir, mmproj, padToSquare);
        dir = ModelFolder.Resolve(dir);
        var config = LlavaConfig.Load(Path.Combine(dir, ModelFolder.ConfigFileName));
        var tok = LlavaTokenizer.FromFolder(dir);
        tok.CheckAgainst(config);
        var ppPath = Path.Combine(dir, "preprocessor_config.json");
        var proc = File.Exists(ppPath)
            ? ClipImageProcessor.FromFile(ppPath, padToSquare)
            : new ClipImageProcessor { ShortestEdge = config.Vision.ImageSize, CropHeight = config.Vision.ImageSize, CropWidth = config.Vision.ImageSize, PadToSquare = padToSquare };
        proc.CheckAgainst(config.Vision, ppPath);
        var weightsPath = weightsFile == null ? dir : Path.IsPathRooted(weightsFile) ? weightsFile : Path.Combine(dir, weightsFile);
        var weights = CheckpointLoader.Open(weightsPath);
        if (quantize is DType q)
        {
            try { weights = Tensors.Quant.WeightQuantizer.Apply(weights, q); }
            catch { weights.Dispose(); throw; }
        }
        try
        {
            config.CheckLayers(weights);
            return new LlavaModel(dir, config, weights, tok, proc, GenerationConfig.ReadMaxNewTokens(dir, config));
        }
        catch
        {
            weights.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Loads llama.cpp GGUF files: a language-model .gguf plus its <paramref name="mmproj"/> file, or a folder holding both.
    /// </summary>
    public static LlavaModel LoadGguf(string path, string? mmproj = null, bool padToSquare = false)
    {
        var (lm, mm) = LlavaGgufLoader.Resolve(path, mmproj);
        var parts = LlavaGgufLoader.Open(lm, mm);
        try
        {
            var proc = parts.Processor with { PadToSquare = padToSquare };
            return new LlavaModel(Path.GetDirectoryName(Path.GetFullPath(lm))!, parts.Config, parts.Weights, parts.Tokenizer, proc, 32);
        }
        catch
        {
            parts.Weights.Dispose();
            throw;
        }
    }

    /// <summary>Builds a model over weights already in memory (synthetic benchmarks, tests).</summary>
    public static LlavaModel FromWeights(string dir, LlavaConfig config, ModelWeights weights, LlavaTokenizer tok, ClipImageProcessor proc) =>
        new(dir, config, weights, tok, proc, 8);

    /// <summary>Visual tokens one image becomes.</summary>
    public int ImageTokens => Vision.FeatureTokens;

    int IVisionLanguageModel.MaxImageTokens => ImageTokens;

    /// <summary>The chat template around <paramref name="question"/> with <paramref name="images"/> image slots, tokenized.</summary>
    public TokenizedPrompt Tokenize(string question, int images = 1) =>
        TokenizeWith(Tokenizer, Config.ImageTokenIndex, ChatTemplate.Format(question, Config.Text.ModelType, images), images,
            Config.Text.MaxPositionEmbeddings);

    /// <summary>Tokenizes a prompt already in the model's chat format; every &lt;image&gt; token is an image placeholder.</summary>
    public TokenizedPrompt TokenizePrompt(string text) =>
        TokenizeWith(Tokenizer, Config.ImageTokenIndex, text, null, Config.Text.MaxPositionEmbeddings);

    /// <summary>Every <paramref name="imageTokenIndex"/> in the encoded prompt is a placeholder; <paramref name="images"/>, when given, is how many there must be.</summary>
    internal static TokenizedPrompt TokenizeWith(LlavaTokenizer tokenizer, int imageTokenIndex, string prompt, int? images,
        int maxPositions = int.MaxValue)
    {
        ContextLimit.CheckTextLength(prompt, maxPositions, tokenizer.MaxTokenChars);
        var ids = tokenizer.EncodePrompt(prompt);
        var positions = new List<int>();
        for (int i = 0; i < ids.Length; i++)
            if (ids[i] == imageTokenIndex) positions.Add(i);
        if (images is { } n && positions.Count != n)
            throw new InvalidPromptException($"the prompt has {positions.Count} <image> token(s) where {n} were expected");
        return new TokenizedPrompt(ids, positions.ToArray());
    }

    /// <summary>Loads and preprocesses an image file into the vision tower's [C, H, W] input.</summary>
    public float[] PreprocessImage(string path)
    {
        var image = ImageLoader.Load(path);
        try { return PreprocessImage(image); }
        catch (ImageLoadException e) { throw new ImageLoadException($"{path}: {e.Message}", e); }
    }

    /// <summary>The vision tower's [C, H, W] input for a decoded image (resize, crop or pad, normalize).</summary>
    public float[] PreprocessImage(RgbImage image) => ImageProcessor.Process(image);

    /// <summary>Vision tower + projector: one image's features, independent of any prompt (cacheable).</summary>
    public ImageFeatures EncodeImage(float[] pixels)
    {
        Weights.CheckFilesUnchanged();
        var vis = Vision.Forward(pixels);
        var feats = Projector.Forward(vis.Features, vis.Tokens);
        return new ImageFeatures(feats, vis.Tokens, Config.Text.HiddenSize, vis.ClsAttention, vis.Keys, Config.Vision.HiddenSize);
    }

    /// <summary>Preprocessing, vision tower and projector of a decoded image.</summary>
    public ImageFeatures EncodeImage(RgbImage image) => EncodeImage(PreprocessImage(image));

    /// <summary>A run over already encoded images (one per placeholder of the prompt); call Prefill or Generate on it.</summary>
    public InferenceRun StartRun(TokenizedPrompt prompt, IReadOnlyList<ImageFeatures> images, IPruningPolicy? policy = null, int reserveForDecode = 8)
    {
        // A weights file shrunk or rewritten since loading would be read past its end (SIGBUS) or give other answers.
        Weights.CheckFilesUnchanged();
        return new(LanguageModel, prompt, images, policy, reserveForDecode);
    }

    /// <summary>
    /// Vision tower + projector + merge + decoder prefill with a pruning policy, for a prompt with one image.
    /// <paramref name="reserveForDecode"/> sizes the KV caches for the tokens that will follow.
    /// </summary>
    public InferenceRun Prefill(float[] pixels, TokenizedPrompt prompt, IPruningPolicy? policy = null, int reserveForDecode = 8) =>
        Prefill([pixels], prompt, policy, reserveForDecode);

    /// <summary>As <see cref="Prefill(float[], TokenizedPrompt, IPruningPolicy?, int)"/> with one pixel tensor per image placeholder.</summary>
    public InferenceRun Prefill(IReadOnlyList<float[]> pixels, TokenizedPrompt prompt, IPruningPolicy? policy = null, int reserveForDecode = 8)
    {
        if (pixels.Count != prompt.Images)
            throw new InvalidPromptException($"the prompt has {prompt.Images} image placeholder(s) but {pixels.Count} image(s) were given");
        var sw = Stopwatch.StartNew();
        var images = new ImageFeatures[pixels.Count];
        for (int i = 0; i < images.Length; i++) images[i] = EncodeImage(pixels[i]);
        var run = StartRun(prompt, images, policy, reserveForDecode);
        run.Trace.VisionMs = sw.Elapsed.TotalMilliseconds;
        run.Prefill();
        return run;
    }

    public void Dispose() => Weights.Dispose();
}
