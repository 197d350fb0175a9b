using System.Diagnostics;
using AutoPrune.Models;
using AutoPrune.Tensors;

namespace AutoPrune.Benchmarking;

/// <summary>
/// Where a decode step's time goes: the whole step, the same step's GEMVs alone (every linear layer and lm_head
/// at M = 1, same weights, same order), and its attention alone (one query against every layer's cache, of the
/// step's KV cache type). The rest is norms, RoPE, activations, residual adds, the cache writes and hand-offs.
/// <see cref="ReadGBps"/> is a plain parallel read of as many bytes as one decoder layer's weights, timed once per
/// step between the others (all medians), so the GEMV rate has its ceiling beside it under the same machine load.
/// </summary>
public sealed record DecodeBreakdown(KvCacheType KvCache, double TokenMs, double GemvMs, double AttentionMs, double WeightBytes, double KvBytes,
    double ReadGBps)
{
    public double OtherMs => Math.Max(0, TokenMs - GemvMs - AttentionMs);
    public double GemvGBps => WeightBytes / (GemvMs * 1e6);
    public double AttentionGBps => KvBytes / (AttentionMs * 1e6);
    /// <summary>Percent of the token time not spent in GEMVs (attention included); 0 when noise puts the step's median
    /// below the GEMVs' (as <see cref="OtherMs"/>).</summary>
    public double OutsideGemvPercent => Math.Max(0, 100 * (TokenMs - GemvMs) / TokenMs);
}

public static class DecodeBenchmark
{
    /// <summary>
    /// Prefills visual + text tokens once per KV cache type, then per step times, for each type in turn, one decode
    /// and the attention alone, plus the GEMVs alone once, interleaved so all see the same machine load; medians over
    /// <paramref name="steps"/> (one warm-up step). One breakdown per type, in the order given, sharing the GEMV time.
    /// </summary>
    public static IReadOnlyList<DecodeBreakdown> Measure(SyntheticDecoder sd, int visualTokens, int textTokens, int steps, int imageTokenId,
        IReadOnlyList<KvCacheType> kvCacheTypes)
    {
        if (kvCacheTypes.Count == 0) throw new ArgumentException("no KV cache type to time", nameof(kvCacheTypes));
        var c = sd.Config;
        var prompt = sd.Prompt(textTokens, imageTokenId);
        var runs = new InferenceRun[kvCacheTypes.Count];
        var saved = sd.LanguageModel.KvCacheType;
        try
        {
            for (int i = 0; i < runs.Length; i++)
            {
                sd.LanguageModel.KvCacheType = kvCacheTypes[i];
                runs[i] = new InferenceRun(sd.LanguageModel, prompt, [sd.Image(visualTokens)], null, steps + 2);
                runs[i].Prefill();
            }
        }
        finally { sd.LanguageModel.KvCacheType = saved; }

        var linears = sd.DecodeLinears;
        int maxRows = 0, maxCols = 0;
        double weightBytes = 0, layerBytes = 0;
        for (int i = 0; i < linears.Count; i++)
        {
            maxRows = Math.Max(maxRows, linears[i].Rows);
            maxCols = Math.Max(maxCols, linears[i].Cols);
            weightBytes += linears[i].ByteLength;
            if (i < 7) layerBytes += linears[i].ByteLength;
        }
        var rng = new Random(3);
        var x = new float[maxCols];
        for (int i = 0; i < x.Length; i++) x[i] = (float)(rng.NextDouble() * 2 - 1);
        var y = new float[maxRows];
        int qd = c.NumAttentionHeads * c.HeadDim;
        var q = new float[qd];
        for (int i = 0; i < q.Length; i++) q[i] = (float)(rng.NextDouble() * 2 - 1);
        var o = new float[qd];

        void Gemvs()
        {
            foreach (var w in linears) MatMul.Linear(x.AsSpan(0, w.Cols), 1, w, default, y.AsSpan(0, w.Rows));
        }
        void Attend(InferenceRun run)
        {
            foreach (var lc in run.Cache.Layers) lc.Attend(q, 1, c.NumAttentionHeads, c.HeadDim, o);
        }

        using var reader = new GemmBenchmark.ReadTest((long)layerBytes);
        int types = runs.Length;
        var token = new double[types, steps];
        var attn = new double[types, steps];
        var gemv = new double[steps];
        var read = new double[steps];
        foreach (var run in runs)
        {
            run.Decode(prompt.Ids[1]);
            Attend(run);
        }
        Gemvs();
        reader.Once();
        for (int s = 0; s < steps; s++)
        {
            for (int i = 0; i < types; i++)
            {
                long t0 = Stopwatch.GetTimestamp();
                runs[i].Decode(prompt.Ids[1 + s % 4]);
                token[i, s] = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
            }
            long g0 = Stopwatch.GetTimestamp();
            Gemvs();
            gemv[s] = Stopwatch.GetElapsedTime(g0).TotalMilliseconds;
            for (int i = 0; i < types; i++)
            {
                long t0 = Stopwatch.GetTimestamp();
                Attend(runs[i]);
                attn[i, s] = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
            }
            read[s] = reader.Bytes / reader.Once() / 1e9;
        }
        var result = new DecodeBreakdown[types];
        for (int i = 0; i < types; i++)
        {
            double kvBytes = 0;
            foreach (var lc in runs[i].Cache.Layers) kvBytes += 2.0 * lc.Length * lc.KvDim * lc.ElementBytes;
            result[i] = new DecodeBreakdown(kvCacheTypes[i], ModelBenchmark.Median(Row(token, i)), ModelBenchmark.Median(gemv),
                ModelBenchmark.Median(Row(attn, i)), weightBytes, kvBytes, ModelBenchmark.Median(read));
        }
        return result;
    }

    private static double[] Row(double[,] a, int i)
    {
        var r = new double[a.GetLength(1)];
        for (int j = 0; j < r.Length; j++) r[j] = a[i, j];
        return r;
    }
}
