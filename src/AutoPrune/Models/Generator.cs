using System.Diagnostics;
using AutoPrune.Accounting;
using AutoPrune.Loading;
using AutoPrune.Pruning;

namespace AutoPrune.Models;

/// <summary>Decoding settings (see <see cref="Sampling"/>). Temperature 0 is greedy (argmax), the default.</summary>
public sealed record GenerationOptions
{
    /// <summary>Null: the model's generation_config.json max_new_tokens.</summary>
    public int? MaxNewTokens { get; init; }
    public float Temperature { get; init; }
    public float TopP { get; init; } = 1f;
    /// <summary>Sample among the k most likely tokens only; 0: no limit.</summary>
    public int TopK { get; init; }
    /// <summary>Seed of the draw: the same seed, prompt and settings give the same answer.</summary>
    public int Seed { get; init; }
    /// <summary>Hugging Face's penalty on ids already in the prompt or answer (divides positive logits, multiplies
    /// negative ones); 1: none.</summary>
    public float RepetitionPenalty { get; init; } = 1f;
    /// <summary>Added to the logits of these token ids before choosing (OpenAI's logit_bias; -100 all but bans one).</summary>
    public IReadOnlyDictionary<int, float>? LogitBias { get; init; }
    /// <summary>The answer ends before the first occurrence of any of these strings.</summary>
    public IReadOnlyList<string>? Stop { get; init; }
    /// <summary>Visual-token pruning (null: none); one instance may serve any number of concurrent answers.</summary>
    public IPruningPolicy? Policy { get; init; }
    /// <summary>Called with each generated token id as soon as it is chosen (streaming).</summary>
    public Action<int>? OnToken { get; init; }
    /// <summary>Called with each piece of answer text as soon as it is final (streaming); the pieces concatenate to
    /// the answer's text.</summary>
    public Action<string>? OnText { get; init; }
    /// <summary>
    /// When the prompt plus <see cref="MaxNewTokens"/> exceeds the model's max_position_embeddings: false (default)
    /// refuses with an <see cref="InvalidPromptException"/>; true generates only as many tokens as fit. A prompt that
    /// alone fills the context is refused either way.
    /// </summary>
    public bool FitToContext { get; init; }
    public CancellationToken Cancellation { get; init; }
}

/// <summary>Why generation ended: end of sequence or a stop sequence, or the token limit.</summary>
public enum FinishReason { Stop, Length }

/// <summary>One answer with its accounting.</summary>
/// <param name="PromptTokens">Prompt length in tokens, image placeholders included.</param>
/// <param name="VisualTokens">Visual tokens the prompt's images produced (before pruning).</param>
public sealed record Answer(string Text, int[] OutputIds, int PromptTokens, int VisualTokens, PrefillTrace Trace,
    FinishReason FinishReason = FinishReason.Stop)
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

    /// <summary>
    /// Answers the last user turn of a conversation: the whole conversation, with every image of every turn, is
    /// prefilled afresh with the policy (so pruning sees the new question). Images come from <paramref name="cache"/>
    /// when it holds them (no vision-tower work); the trace's vision time is what encoding took.
    /// </summary>
    public static Answer Chat(IVisionLanguageModel model, IReadOnlyList<Turn> turns, GenerationOptions? options = null, ImageFeatureCache? cache = null)
    {
        options ??= new GenerationOptions();
        var prompt = model.TokenizeConversation(turns);           // the template, text and settings are checked before the image work
        Sampling.Validate(options, model.Tokenizer.VocabSize);
        var sw = Stopwatch.StartNew();
        var images = new List<ImageFeatures>(prompt.Images);
        foreach (var t in turns)
            foreach (var im in t.Images)
                images.Add(cache != null ? cache.GetOrEncode(model, im) : model.EncodeImage(im.Decode()));
        return Generate(model, prompt, images, options, sw.Elapsed.TotalMilliseconds);
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
        Sampling.Validate(options with { MaxNewTokens = maxNew }, model.Tokenizer.VocabSize);
        return ContextLimit.NewTokens(textTokens, visualTokens, maxNew, context, options.FitToContext);
    }

    private static Answer Decode(IVisionLanguageModel model, InferenceRun run, int maxNew, GenerationOptions options)
    {
        var sampling = new Sampling(options, model.Tokenizer.VocabSize, run.Prompt.Ids);
        var text = new TextStream(model.Tokenizer, options.Stop);
        int eos = model.Tokenizer.EosId;
        var ids = run.Generate(maxNew, logits => sampling.Next(logits), eos, id =>
        {
            options.OnToken?.Invoke(id);
            var piece = text.Push(id);
            if (piece.Length > 0) options.OnText?.Invoke(piece);
            return text.Stopped;
        }, options.Cancellation);
        var rest = text.Flush();
        if (rest.Length > 0) options.OnText?.Invoke(rest);
        var finish = ids[^1] == eos || text.Stopped ? FinishReason.Stop : FinishReason.Length;
        return new Answer(text.Text, ids, run.Prompt.Ids.Length, run.Trace.VisualTokensIn, run.Trace, finish);
    }
}
