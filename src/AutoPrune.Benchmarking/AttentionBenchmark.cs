using System.Diagnostics;
using AutoPrune.Tensors;

namespace AutoPrune.Benchmarking;

/// <summary>One attention timing: the streaming kernel vs the previous row-at-a-time kernel in the same run.</summary>
public sealed record AttentionResult(int Nq, int Nk, int Heads, int KvHeads, int HeadDim, bool Causal,
    double NewMs, double OldMs, double NewMedianMs, double OldMedianMs, long BytesPerCall)
{
    /// <summary>Old / new median time (&gt; 1: the new kernel is faster).</summary>
    public double Speedup => OldMedianMs / NewMedianMs;
}

/// <summary>
/// Times <see cref="Attention.Forward"/> against <see cref="Attention.ForwardRowwise"/> on random inputs.
/// The two alternate rep by rep so both see the same machine noise; quote the ratio, not the milliseconds.
/// </summary>
public static class AttentionBenchmark
{
    public static AttentionResult Measure(int nq, int nk, int heads, int kvHeads, int hd, bool causal, int reps = 10, int seed = 1)
    {
        var rng = new Random(seed);
        float[] Rand(int n) { var a = new float[n]; for (int i = 0; i < n; i++) a[i] = (float)(rng.NextDouble() * 2 - 1); return a; }
        var q = Rand(nq * heads * hd);
        var k = Rand(nk * kvHeads * hd);
        var v = Rand(nk * kvHeads * hd);
        var o = new float[q.Length];
        for (int i = 0; i < 2; i++)
        {
            Attention.Forward(q, nq, k, v, nk, heads, kvHeads, hd, causal, o);
            Attention.ForwardRowwise(q, nq, k, v, nk, heads, kvHeads, hd, causal, o);
        }
        long a0 = GC.GetAllocatedBytesForCurrentThread();
        Attention.Forward(q, nq, k, v, nk, heads, kvHeads, hd, causal, o);
        long bytes = GC.GetAllocatedBytesForCurrentThread() - a0;
        var tNew = new double[reps];
        var tOld = new double[reps];
        for (int r = 0; r < reps; r++)
        {
            long t0 = Stopwatch.GetTimestamp();
            Attention.Forward(q, nq, k, v, nk, heads, kvHeads, hd, causal, o);
            tNew[r] = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
            t0 = Stopwatch.GetTimestamp();
            Attention.ForwardRowwise(q, nq, k, v, nk, heads, kvHeads, hd, causal, o);
            tOld[r] = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
        }
        return new AttentionResult(nq, nk, heads, kvHeads, hd, causal, tNew.Min(), tOld.Min(), Median(tNew), Median(tOld), bytes);
    }

    private static double Median(double[] t)
    {
        var s = (double[])t.Clone();
        Array.Sort(s);
        return s.Length % 2 == 1 ? s[s.Length / 2] : (s[s.Length / 2 - 1] + s[s.Length / 2]) / 2;
    }
}
