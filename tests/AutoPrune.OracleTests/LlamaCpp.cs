using System.Text;
using LLama;
using LLama.Common;
using LLama.Native;

namespace AutoPrune.OracleTests;

/// <summary>llama.cpp (LLamaSharp 0.30.0, CPU backend) on a GGUF file: tokenization, last-token logits, greedy decoding.</summary>
public sealed class LlamaCpp : IDisposable
{
    private static readonly object s_init = new();
    private static bool s_configured;
    private readonly ModelParams _params;
    public LLamaWeights Weights { get; }

    public LlamaCpp(string gguf, int threads = 1)
    {
        lock (s_init)
        {
            if (!s_configured)
            {
                // Must precede the first native call; llama.cpp otherwise logs every tensor to stderr.
                NativeLibraryConfig.All.WithLogCallback((level, message) => { });
                s_configured = true;
            }
        }
        _params = new ModelParams(gguf) { ContextSize = 1024, BatchSize = 1024, UBatchSize = 1024, Threads = threads, BatchThreads = threads, GpuLayerCount = 0 };
        Weights = LLamaWeights.LoadFromFile(_params);
    }

    /// <summary>Ids for a text, with BOS, control tokens such as &lt;image&gt; parsed as in a prompt.</summary>
    public int[] Tokenize(string text) => Weights.Tokenize(text, true, true, Encoding.UTF8).Select(t => (int)t).ToArray();

    /// <summary>Logits after the last of <paramref name="ids"/>, and the greedy continuation of <paramref name="steps"/> tokens.</summary>
    public (float[] Logits, int[] Greedy) Run(int[] ids, int steps, int stopId)
    {
        using var ctx = Weights.CreateContext(_params);
        var batch = new LLamaBatch();
        for (int i = 0; i < ids.Length; i++) batch.Add(ids[i], i, LLamaSeqId.Zero, i == ids.Length - 1);
        Check(ctx.Decode(batch));
        var first = ctx.NativeHandle.GetLogitsIth(batch.TokenCount - 1).ToArray();
        var logits = first;
        var outIds = new List<int>();
        for (int s = 0; s < steps; s++)
        {
            int next = ArgMax(logits);
            outIds.Add(next);
            if (next == stopId) break;
            batch.Clear();
            batch.Add(next, ids.Length + s, LLamaSeqId.Zero, true);
            Check(ctx.Decode(batch));
            logits = ctx.NativeHandle.GetLogitsIth(0).ToArray();
        }
        return (first, outIds.ToArray());
    }

    private static void Check(DecodeResult r)
    {
        if (r != DecodeResult.Ok) throw new InvalidOperationException($"llama_decode returned {r}");
    }

    public static int ArgMax(float[] a)
    {
        int best = 0;
        for (int i = 1; i < a.Length; i++) if (a[i] > a[best]) best = i;
        return best;
    }

    public void Dispose() => Weights.Dispose();
}
