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
    public int Threads { get; }

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
        Threads = threads;
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
        return Continue(ctx, ctx.NativeHandle.GetLogitsIth(batch.TokenCount - 1).ToArray(), ids.Length, steps, stopId);
    }

    /// <summary>
    /// As <see cref="Run(int[], int, int)"/> for a prompt with images, its chunks decoded by libmtmd: images encoded by
    /// libmtmd, or, when given, decoded from <paramref name="imageFeatures"/> (one array per image chunk).
    /// </summary>
    public (float[] Logits, int[] Greedy) Run(Mtmd mtmd, MtmdChunks chunks, int steps, int stopId, IReadOnlyList<float[]>? imageFeatures = null)
    {
        using var ctx = Weights.CreateContext(_params);
        int batch = (int)_params.BatchSize, past = 0;
        if (imageFeatures == null) past = mtmd.Evaluate(chunks, ctx.NativeHandle, 0, batch);
        else
        {
            int image = 0;
            for (int i = 0; i < chunks.Count; i++)
                past = mtmd.EvaluateChunk(chunks, i, ctx.NativeHandle, past, batch, logitsLast: i == chunks.Count - 1,
                    chunks.Type(i) == Mtmd.ChunkImage ? imageFeatures[image++] : null);
        }
        return Continue(ctx, ctx.NativeHandle.GetLogitsIth(-1).ToArray(), past, steps, stopId);
    }

    /// <summary>Greedy decoding from the prompt's last logits <paramref name="first"/>, the next token at position <paramref name="pos"/>.</summary>
    private static (float[] Logits, int[] Greedy) Continue(LLamaContext ctx, float[] first, int pos, int steps, int stopId)
    {
        var batch = new LLamaBatch();
        var logits = first;
        var outIds = new List<int>();
        for (int s = 0; s < steps; s++)
        {
            int next = ArgMax(logits);
            outIds.Add(next);
            if (next == stopId) break;
            batch.Clear();
            batch.Add(next, pos + s, LLamaSeqId.Zero, true);
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
