using System.Diagnostics;
using AutoPrune.Models;
using AutoPrune.Tensors;

namespace AutoPrune.Benchmarking;

/// <summary>
/// Where a decode step's time goes: the whole step, the same step's GEMVs alone (every linear layer and lm_head
/// at M = 1, same weights, same order), and its attention alone (one query against every layer's cache). The rest
/// is norms, RoPE, activations, residual adds and hand-offs. <see cref="ReadGBps"/> is a plain parallel read of as
/// many bytes as one decoder layer's weights, timed once per step between the others (all medians), so the GEMV rate
/// has its ceiling beside it under the same machine load.
/// </summary>
public sealed record DecodeBreakdown(double TokenMs, double GemvMs, double AttentionMs, double WeightBytes, double KvBytes, double ReadGBps)
{
    public double OtherMs => Math.Max(0, TokenMs - GemvMs - AttentionMs);
    public double GemvGBps => WeightBytes / (GemvMs * 1e6);
    public double AttentionGBps => KvBytes / (AttentionMs * 1e6);
    /// <summary>Percent of the token time not spent in GEMVs (attention included).</summary>
    public double OutsideGemvPercent => 100 * (TokenMs - GemvMs) / TokenMs;
}

public static class DecodeBenchmark
{
    /// <summary>
    /// Prefills visual + text tokens, then per step times one decode, the GEMVs alone and the attention alone,
    /// interleaved so all three see the same machine load; medians over <paramref name="steps"/> (one warm-up step).
    /// </summary>
    public static DecodeBreakdown Measure(SyntheticDecoder sd, int visualTokens, int textTokens, int steps, int imageTokenId)
    {
        var c = sd.Config;
        var prompt = sd.Prompt(textTokens, imageTokenId);
        var run = new InferenceRun(sd.LanguageModel, prompt, [sd.Image(visualTokens)], null, steps + 2);
        run.Prefill();

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
        void Attend()
        {
            foreach (var lc in run.Cache.Layers)
                Attention.Forward(q, 1, lc.K, lc.V, lc.Length, c.NumAttentionHeads, c.NumKeyValueHeads, c.HeadDim, causal: true, o);
        }

        using var reader = new GemmBenchmark.ReadTest((long)layerBytes);
        var token = new double[steps];
        var gemv = new double[steps];
        var attn = new double[steps];
        var read = new double[steps];
        run.Decode(prompt.Ids[1]);
        Gemvs();
        Attend();
        reader.Once();
        for (int s = 0; s < steps; s++)
        {
            long t0 = Stopwatch.GetTimestamp();
            run.Decode(prompt.Ids[1 + s % 4]);
            token[s] = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
            t0 = Stopwatch.GetTimestamp();
            Gemvs();
            gemv[s] = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
            t0 = Stopwatch.GetTimestamp();
            Attend();
            attn[s] = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
            read[s] = reader.Bytes / reader.Once() / 1e9;
        }
        double kvBytes = 0;
        foreach (var lc in run.Cache.Layers) kvBytes += 2.0 * lc.Length * lc.KvDim * sizeof(float);
        return new DecodeBreakdown(ModelBenchmark.Median(token), ModelBenchmark.Median(gemv), ModelBenchmark.Median(attn), weightBytes, kvBytes,
            ModelBenchmark.Median(read));
    }
}
