using System.Diagnostics;
using AutoPrune.Accounting;
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
    public IPruningPolicy? Policy { get; init; }
    /// <summary>Called with each generated token id as soon as it is chosen (streaming).</summary>
    public Action<int>? OnToken { get; init; }
    public CancellationToken Cancellation { get; init; }
}

/// <summary>One answer with its accounting.</summary>
public sealed record Answer(string Text, int[] OutputIds, int PromptTokens, int VisualTokens, PrefillTrace Trace)
{
    public double PrefillMs => Trace.PrefillMs;
    public double DecodeMs => Trace.DecodeMs;
}

/// <summary>Prefill once, then decode token by token from the per-layer KV caches.</summary>
public static class Generator
{
    public static Answer Ask(LlavaModel model, string imagePath, string question, GenerationOptions? options = null)
    {
        var prompt = model.Tokenize(question);          // validate the question before the image work
        var pixels = model.PreprocessImage(imagePath);
        return Generate(model, pixels, prompt, options);
    }

    public static Answer Generate(LlavaModel model, float[] pixels, PromptTokens prompt, GenerationOptions? options = null)
    {
        options ??= new GenerationOptions();
        int maxNew = options.MaxNewTokens ?? model.DefaultMaxNewTokens;
        if (maxNew < 1) throw new ArgumentOutOfRangeException(nameof(options), "max new tokens must be at least 1");
        if (options.Temperature < 0 || options.TopP <= 0 || options.TopP > 1)
            throw new ArgumentOutOfRangeException(nameof(options), "temperature must be >= 0 and top-p in (0, 1]");

        var pre = model.Prefill(pixels, prompt, options.Policy, maxNew);
        var rng = new Random(options.Seed);
        var output = new List<int>(maxNew);
        int eos = model.Tokenizer.EosId;
        var sw = Stopwatch.StartNew();
        var scratch = new LlamaDecoderLayer.Scratch(1, model.Config.Text);
        var logits = pre.Logits;
        for (int step = 0; step < maxNew; step++)
        {
            options.Cancellation.ThrowIfCancellationRequested();
            int next = options.Temperature == 0 ? Sampling.Argmax(logits) : Sampling.Sample(logits, options.Temperature, options.TopP, rng);
            output.Add(next);
            options.OnToken?.Invoke(next);
            if (next == eos || step == maxNew - 1) break;
            logits = model.Decoder.DecodeStep(next, pre.Cache, pre.Positions, scratch);
        }
        pre.Trace.DecodeMs = sw.Elapsed.TotalMilliseconds;
        var ids = output.ToArray();
        return new Answer(model.Tokenizer.Decode(ids).Trim(), ids, prompt.Ids.Length, model.ImageTokens, pre.Trace);
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
