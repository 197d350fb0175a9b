using System.Diagnostics;
using AutoPrune.Accounting;
using AutoPrune.Loading;
using AutoPrune.Pruning;

namespace AutoPrune.Models;

/// <summary>Decoding settings. Temperature 0 is greedy (argmax).</summary>
public sealed record GenerationOptions
{
    /// <summary>Null: the model's generation_config.json max_new_tokens.</summary>
    public int? MaxNewTokens { get; init; }
    public float Temperature { get; init; }
    public float TopP { get; init; } = 1f;
    public int Seed { get; init; }
    /// <summary>Visual-token pruning (null: none); one instance may serve any number of concurrent answers.</summary>
    public IPruningPolicy? Policy { get; init; }
    /// <summary>Called with each generated token id as soon as it is chosen (streaming).</summary>
    public Action<int>? OnToken { get; init; }
    /// <summary>
    /// When the prompt plus <see cref="MaxNewTokens"/> exceeds the model's max_position_embeddings: false (default)
    /// refuses with an <see cref="InvalidPromptException"/>; true generates only as many tokens as fit. A prompt that
    /// alone fills the context is refused either way.
    /// </summary>
    public bool FitToContext { get; init; }
    public CancellationToken Cancellation { get; init; }
}

/// <summary>One answer with its accounting.</summary>
/// <param name="PromptTokens">Prompt length in tokens, image placeholders included.</param>
/// <param name="VisualTokens">Visual tokens the prompt's images produced (before pruning).</param>
public sealed record Answer(string Text, int[] OutputIds, int PromptTokens, int VisualTokens, PrefillTrace Trace)
{
    public double PrefillMs => Trace.PrefillMs;
    public double DecodeMs => Trace.DecodeMs;
}

/// <summary>Prefill once, then decode token by token from the per-layer KV caches (<see cref="InferenceRun.Generate"/>).</summary>
public static class Generator
{
    /// <summary>One question about one image file, with any LLaVA-family model.</summary>
    public static Answer Ask(IVisionLanguageModel model, string imagePath, string question, GenerationOptions? options = null)
    {
        var prompt = model.Tokenize(question);          // validate the question before the image work
        return Generate(model, prompt, ImageLoader.Load(imagePath), imagePath, options);
    }

    /// <summary>A one-image prompt and its decoded image; <paramref name="source"/> names the image in errors.</summary>
    public static Answer Generate(IVisionLanguageModel model, TokenizedPrompt prompt, RgbImage image, string source, GenerationOptions? options = null)
    {
        var sw = Stopwatch.StartNew();
        ImageFeatures features;
        try { features = model.EncodeImage(image); }
        catch (ImageLoadException e) { throw new ImageLoadException($"{source}: {e.Message}", e); }
        return Generate(model, prompt, [features], options, sw.Elapsed.TotalMilliseconds);
    }

    /// <summary>A prompt with one image placeholder and that image's pixels.</summary>
    public static Answer Generate(LlavaModel model, float[] pixels, TokenizedPrompt prompt, GenerationOptions? options = null) =>
        Generate(model, [pixels], prompt, options);

    /// <summary>A prompt with one placeholder per entry of <paramref name="pixels"/>.</summary>
    public static Answer Generate(LlavaModel model, IReadOnlyList<float[]> pixels, TokenizedPrompt prompt, GenerationOptions? options = null)
    {
        options ??= new GenerationOptions();
        int maxNew = MaxNewTokens(model, options, prompt.TextTokens, pixels.Count * model.ImageTokens);
        return Decode(model, model.Prefill(pixels, prompt, options.Policy, maxNew), maxNew, options);
    }

    /// <summary>
    /// A prompt with images already encoded by <see cref="IVisionLanguageModel.EncodeImage"/> (e.g. cached);
    /// <paramref name="visionMs"/> is what encoding them took, for the trace.
    /// </summary>
    public static Answer Generate(IVisionLanguageModel model, TokenizedPrompt prompt, IReadOnlyList<ImageFeatures> images, GenerationOptions? options = null,
        double visionMs = 0)
    {
        options ??= new GenerationOptions();
        int visual = 0;
        foreach (var image in images) visual += image.Tokens;
        int maxNew = MaxNewTokens(model, options, prompt.TextTokens, visual);
        var run = model.StartRun(prompt, images, options.Policy, maxNew);
        run.Trace.VisionMs = visionMs;
        return Decode(model, run, maxNew, options);
    }

    /// <summary>Checks the settings and the context before any work: the number of new tokens to generate.</summary>
    private static int MaxNewTokens(IVisionLanguageModel model, GenerationOptions options, int textTokens, int visualTokens)
    {
        int maxNew = options.MaxNewTokens ?? model.DefaultMaxNewTokens;
        int context = model.LanguageModel.Config.MaxPositionEmbeddings;
        if (maxNew < 1 || maxNew > context)
            throw new GenerationOptionException($"max new tokens {maxNew} is outside 1..{context} (the model's max_position_embeddings)");
        if (!(options.Temperature >= 0) || !float.IsFinite(options.Temperature))
            throw new GenerationOptionException($"temperature {options.Temperature} must be a finite number >= 0");
        if (!(options.TopP > 0 && options.TopP <= 1))
            throw new GenerationOptionException($"top-p {options.TopP} must be in (0, 1]");
        return ContextLimit.NewTokens(textTokens, visualTokens, maxNew, context, options.FitToContext);
    }

    private static Answer Decode(IVisionLanguageModel model, InferenceRun run, int maxNew, GenerationOptions options)
    {
        var rng = new Random(options.Seed);
        var ids = run.Generate(maxNew,
            logits => options.Temperature == 0 ? Sampling.Argmax(logits) : Sampling.Sample(logits, options.Temperature, options.TopP, rng),
            model.Tokenizer.EosId, options.OnToken, options.Cancellation);
        return new Answer(model.Tokenizer.Decode(ids).Trim(), ids, run.Prompt.Ids.Length, run.Trace.VisualTokensIn, run.Trace);
    }
}

/// <summary>Token choice from logits.</summary>
public static class Sampling
{
    public static int Argmax(ReadOnlySpan<float> logits)
    {
        int best = 0;
        for (int i = 1; i < logits.Length; i++) if (logits[i] > logits[best]) best = i;
        return best;
    }

    /// <summary>Temperature softmax, then nucleus (top-p) truncation, then a draw.</summary>
    public static int Sample(ReadOnlySpan<float> logits, float temperature, float topP, Random rng)
    {
        int n = logits.Length;
        var p = new float[n];
        for (int i = 0; i < n; i++) p[i] = logits[i] / temperature;
        Tensors.Ops.Softmax(p);
        var order = new int[n];
        for (int i = 0; i < n; i++) order[i] = i;
        Array.Sort(order, (a, b) => p[b].CompareTo(p[a]));
        double cum = 0; int keep = 0;
        while (keep < n) { cum += p[order[keep]]; keep++; if (cum >= topP) break; }
        double r = rng.NextDouble() * cum, acc = 0;
        for (int i = 0; i < keep; i++) { acc += p[order[i]]; if (r < acc) return order[i]; }
        return order[keep - 1];
    }
}
