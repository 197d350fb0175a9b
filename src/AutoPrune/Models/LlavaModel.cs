using System.Diagnostics;
using AutoPrune.Accounting;
using AutoPrune.Loading;
using AutoPrune.Loading.Gguf;
using AutoPrune.Pruning;
using AutoPrune.Tensors;

namespace AutoPrune.Models;

/// <summary>A prepared prompt: token ids with exactly one image placeholder.</summary>
public sealed record PromptTokens(int[] Ids, int ImagePosition)
{
    /// <summary>Text tokens without the image placeholder.</summary>
    public int TextTokens => Ids.Length - 1;
}

/// <summary>The result of a prefill: last-position logits, the per-layer caches, and what it processed.</summary>
public sealed record PrefillResult(float[] Logits, KvCache Cache, PrefillTrace Trace, PositionMode Positions);

/// <summary>
/// LLaVA-1.5 (llava-hf LlavaForConditionalGeneration): CLIP vision tower → projector → image features merged at
/// the &lt;image&gt; position → LLaMA decoder. Weights stay memory-mapped in their file dtype.
/// </summary>
public sealed class LlavaModel : IDisposable
{
    public string Directory { get; }
    public LlavaConfig Config { get; }
    public ModelWeights Weights { get; }
    public LlavaTokenizer Tokenizer { get; }
    public ClipImageProcessor ImageProcessor { get; }
    public ClipVisionTower Vision { get; }
    public MultiModalProjector Projector { get; }
    public LlamaDecoder Decoder { get; }
    /// <summary>max_new_tokens of generation_config.json when present.</summary>
    public int DefaultMaxNewTokens { get; }

    private LlavaModel(string dir, LlavaConfig config, ModelWeights weights, LlavaTokenizer tok, ClipImageProcessor proc, int maxNew)
    {
        Directory = dir; Config = config; Weights = weights; Tokenizer = tok; ImageProcessor = proc; DefaultMaxNewTokens = maxNew;
        Vision = new ClipVisionTower(config, weights);
        Projector = new MultiModalProjector(config, weights);
        Decoder = new LlamaDecoder(config.Text, weights);
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

    /// <summary>Chat template + tokenizer; exactly one image placeholder.</summary>
    public PromptTokens Tokenize(string question) =>
        TokenizeWith(Tokenizer, Config.ImageTokenIndex, ChatTemplate.Format(question, Config.Text.ModelType));

    internal static PromptTokens TokenizeWith(LlavaTokenizer tokenizer, int imageTokenIndex, string prompt)
    {
        var ids = tokenizer.EncodePrompt(prompt);
        int pos = -1;
        for (int i = 0; i < ids.Length; i++)
            if (ids[i] == imageTokenIndex)
            {
                if (pos >= 0) throw new InvalidPromptException("the prompt contains more than one <image> token");
                pos = i;
            }
        if (pos < 0) throw new InvalidPromptException("the prompt has no <image> token");
        return new PromptTokens(ids, pos);
    }

    /// <summary>Loads and preprocesses an image file into the vision tower's [C, H, W] input.</summary>
    public float[] PreprocessImage(string path)
    {
        var image = ImageLoader.Load(path);
        try { return ImageProcessor.Process(image); }
        catch (ImageLoadException e) { throw new ImageLoadException($"{path}: {e.Message}", e); }
    }

    /// <summary>
    /// Vision tower + projector + merge + decoder prefill with a pruning policy.
    /// <paramref name="reserveForDecode"/> sizes the KV caches for the tokens that will follow.
    /// </summary>
    public PrefillResult Prefill(float[] pixels, PromptTokens prompt, IPruningPolicy? policy = null, int reserveForDecode = 8,
        Action<int, float[], int>? layerOutputs = null)
    {
        policy ??= new NoPruning();
        var trace = new PrefillTrace { Policy = policy.Name };
        var sw = Stopwatch.StartNew();

        var vis = Vision.Forward(pixels);
        var feats = Projector.Forward(vis.Features, vis.Tokens);
        trace.VisionMs = sw.Elapsed.TotalMilliseconds;
        var result = Decoder.PrefillMultimodal(prompt, vis, feats, Config.Vision.HiddenSize, policy, trace, reserveForDecode, layerOutputs);
        trace.PrefillMs = sw.Elapsed.TotalMilliseconds;
        return result;
    }

    public void Dispose() => Weights.Dispose();
}
