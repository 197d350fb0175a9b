using AutoPrune.Loading;
using AutoPrune.Pruning;

namespace AutoPrune.Models;

/// <summary>
/// What the generator, the evaluation runner and the CLI need from a LLaVA-family model: a prompt with image
/// placeholders, images encoded into visual tokens, and a run of the language model over both. LLaVA-1.5
/// (<see cref="LlavaModel"/>) and LLaVA-NeXT (<see cref="LlavaNext.LlavaNextModel"/>) implement it.
/// </summary>
public interface IVisionLanguageModel : IDisposable
{
    string Directory { get; }
    LlavaTokenizer Tokenizer { get; }
    LlamaModel LanguageModel { get; }
    /// <summary>Every weight of the model, with the files that hold them.</summary>
    Tensors.ModelWeights Weights { get; }
    /// <summary>max_new_tokens of generation_config.json when present.</summary>
    int DefaultMaxNewTokens { get; }
    /// <summary>The most visual tokens one image can become (LLaVA-1.5: always that many; NeXT: the largest tiling).</summary>
    int MaxImageTokens { get; }

    /// <summary>The chat template around <paramref name="question"/> with <paramref name="images"/> image slots, tokenized.</summary>
    TokenizedPrompt Tokenize(string question, int images = 1);

    /// <summary>Preprocessing, vision tower and projector: one image's visual tokens, independent of any prompt.</summary>
    ImageFeatures EncodeImage(RgbImage image);

    /// <summary>A run over encoded images (one per placeholder of the prompt); call Prefill or Generate on it.</summary>
    InferenceRun StartRun(TokenizedPrompt prompt, IReadOnlyList<ImageFeatures> images, IPruningPolicy? policy = null, int reserveForDecode = 8);
}

/// <summary>Opens a model folder as the family its config.json names (model_type "llava" or "llava_next").</summary>
public static class VisionLanguageModel
{
    /// <param name="padToSquare">LLaVA-1.5 only: pad to a square with the mean color (original LLaVA) instead of center-cropping.</param>
    /// <param name="mmproj">LLaVA-1.5 GGUF only: the vision projector file beside a language-model .gguf.</param>
    /// <param name="quantize">Quantize the language model's linear weights to this block type when loading.</param>
    public static IVisionLanguageModel Load(string dir, string? weightsFile = null, bool padToSquare = false, string? mmproj = null,
        Tensors.DType? quantize = null)
    {
        if (mmproj != null || Loading.Gguf.LlavaGgufLoader.IsGgufPath(dir) || ModelType(dir) != "llava_next")
            return LlavaModel.Load(dir, weightsFile, padToSquare, mmproj, quantize);
        if (padToSquare)
            throw new ModelLoadException("padding the image to a square is a LLaVA-1.5 option; LLaVA-NeXT tiles the image at its own aspect ratio");
        return LlavaNext.LlavaNextModel.Load(dir, weightsFile, quantize: quantize);
    }

    /// <summary>config.json's model_type ("llava" when absent).</summary>
    public static string ModelType(string dir)
    {
        var path = ModelFolder.ConfigPath(dir);
        using var doc = JsonInput.ReadFile(path, p => new ModelLoadException($"{path}: {p}"));
        var root = doc.RootElement;
        if (root.ValueKind != System.Text.Json.JsonValueKind.Object) throw new ModelLoadException($"{path}: expected a JSON object");
        return root.TryGetProperty("model_type", out var t) && t.ValueKind == System.Text.Json.JsonValueKind.String ? t.GetString()! : "llava";
    }
}
