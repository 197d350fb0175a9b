using System.Diagnostics;
using AutoPrune.Models;
using AutoPrune.Pruning;

namespace AutoPrune.LlamaCppBench;

/// <summary>This engine on one model (safetensors or GGUF), unpruned or with a pruning policy.</summary>
/// <remarks>The model is the caller's to dispose (several engines share one: unpruned and pruned runs).</remarks>
public sealed class OurEngine(string label, LlavaModel model, BenchInput input, IPruningPolicy? policy = null) : IBenchEngine
{
    private ImageFeatures? _features;

    public string Label => label;
    public bool IsLlamaCpp => false;
    public int PrefillTokens => input.Prompt.TextTokens + model.ImageTokens;
    public LlavaModel Model => model;
    public bool Pruned => policy != null;
    /// <summary>Mean visual tokens per decoder layer of the last prefill (576 unpruned).</summary>
    public double MeanVisualTokens { get; private set; }

    /// <summary>The image's projected features (computed once, reused by every timed prefill).</summary>
    public ImageFeatures Features => _features ??= Encode();

    private ImageFeatures Encode() => model.EncodeImage(model.PreprocessImage(input.Image));

    public double? Vision()
    {
        var sw = Stopwatch.StartNew();
        var f = Encode();
        double ms = sw.Elapsed.TotalMilliseconds;
        _features ??= f;
        return ms;
    }

    public (double PrefillMs, double DecodeMs, float[] PrefillLogits) PrefillAndDecode(int decodeTokens)
    {
        var features = Features;
        var sw = Stopwatch.StartNew();
        var run = model.StartRun(input.Prompt, [features], policy, decodeTokens + 1);
        var logits = (float[])run.Prefill().Clone();
        double prefill = sw.Elapsed.TotalMilliseconds;
        MeanVisualTokens = run.Trace.MeanVisualTokens;
        sw.Restart();
        var last = logits;
        for (int i = 0; i < decodeTokens; i++) last = run.Decode(Greedy.ArgMax(last));
        return (prefill, sw.Elapsed.TotalMilliseconds, logits);
    }

    public (double Ms, bool IncludesVision) EndToEnd(int answerTokens)
    {
        var sw = Stopwatch.StartNew();
        var run = model.StartRun(input.Prompt, [Encode()], policy, answerTokens);
        run.Generate(answerTokens, Greedy.ArgMax, eosId: -1);   // never stops early: both engines produce every token
        return (sw.Elapsed.TotalMilliseconds, true);
    }

    public float[] TextLogits(int[] ids) =>
        (float[])model.StartRun(new TokenizedPrompt(ids, Array.Empty<int>()), [], null, 1).Prefill().Clone();

}

/// <summary>Greedy choice, the same for both engines.</summary>
public static class Greedy
{
    public static int ArgMax(float[] a) => ArgMax((ReadOnlySpan<float>)a);

    public static int ArgMax(ReadOnlySpan<float> a)
    {
        int best = 0;
        for (int i = 1; i < a.Length; i++) if (a[i] > a[best]) best = i;
        return best;
    }
}
