using System.Diagnostics;
using AutoPrune.Tensors;

namespace AutoPrune.Benchmarking;

/// <summary>One dtype's timing in an interleaved comparison: best and median rate, and its best time.</summary>
public sealed record InterleavedResult(DType WeightDType, double Best, double Median, double BestMicroseconds, double ReadGBps);

/// <summary>
/// The same GEMM or GEMV shape in several weight dtypes, each repetition running every dtype in turn, so all see the
/// same machine load (a shared machine's load moves within seconds); GEMV reps also read a plain buffer of each
/// dtype's weight size, giving the bandwidth available at that moment.
/// </summary>
public static class InterleavedBenchmark
{
    /// <summary>Y[M,N] = X·Wᵀ per dtype: GFLOP/s (best, median).</summary>
    public static InterleavedResult[] Gemm(int m, int n, int k, IReadOnlyList<DType> types, int reps, int seed = 1) =>
        Run(m, n, k, types, reps, seed, read: false, copies: 1);

    /// <summary>
    /// M = 1 per dtype: GB/s of weight bytes (best, median) and a plain read of the same bytes (best). With
    /// <paramref name="copies"/> &gt; 1 a repetition runs that many distinct weights of the shape one after the
    /// other, so the bytes read can exceed the last-level cache as a whole model's do.
    /// </summary>
    public static InterleavedResult[] Gemv(int n, int k, IReadOnlyList<DType> types, int reps, int copies = 1, int seed = 1) =>
        Run(1, n, k, types, reps, seed, read: true, copies);

    /// <summary>
    /// Prefill on a block type with its panels decoded straight into the packed layout (AVX-512) and through the F32
    /// row buffer plus the float packer (the previous path), with BF16 alongside (AVX-512 and previous AVX2 packer),
    /// alternating rep by rep: GFLOP/s best.
    /// </summary>
    public static (double Direct, double TwoStep, double Bf16, double Bf16Previous) QuantPanels(int m, int n, int k, DType type, int reps, int seed = 1)
    {
        var owners = new List<IDisposable>();
        bool saved = GemmKernel.PreviousPackers;
        try
        {
            var q = SyntheticWeights.Create("bench.q", type, [n, k], seed, 1f, owners);
            var b = SyntheticWeights.Create("bench.b", DType.BF16, [n, k], seed, 1f, owners);
            var x = new float[(long)m * k];
            var rng = new Random(seed + 1);
            for (long i = 0; i < x.LongLength; i++) x[i] = (float)(rng.NextDouble() * 2 - 1);
            var y = new float[(long)m * n];
            double Time(Weight w, bool previous)
            {
                GemmKernel.PreviousPackers = previous;
                long t0 = Stopwatch.GetTimestamp();
                MatMul.Linear(x, m, w, default, y);
                double s = Stopwatch.GetElapsedTime(t0).TotalSeconds;
                GemmKernel.PreviousPackers = saved;
                return s;
            }
            double td = double.MaxValue, tt = double.MaxValue, tb = double.MaxValue, tbp = double.MaxValue;
            for (int r = 0; r <= reps; r++)   // rep 0 warms up
            {
                double a = Time(q, false), c = Time(q, true), e = Time(b, false), f = Time(b, true);
                if (r > 0) { td = Math.Min(td, a); tt = Math.Min(tt, c); tb = Math.Min(tb, e); tbp = Math.Min(tbp, f); }
            }
            double flop = 2.0 * m * n * k / 1e9;
            return (flop / td, flop / tt, flop / tb, flop / tbp);
        }
        finally
        {
            GemmKernel.PreviousPackers = saved;
            foreach (var o in owners) o.Dispose();
        }
    }

    /// <summary>
    /// The two ways to multiply block-quantized W at small M, alternating rep by rep: the integer kernels on int8
    /// activations (<see cref="Tensors.Quant.QuantMatMul"/>) and the packed GEMM on decoded panels. GFLOP/s, best of reps.
    /// </summary>
    public static (double Int8, double Packed) QuantCrossover(int m, int n, int k, DType type, int reps, int seed = 1)
    {
        var owners = new List<IDisposable>();
        int savedSmallM = Tensors.Gemm.SmallM;
        try
        {
            var q = SyntheticWeights.Create("bench.q", type, [n, k], seed, 1f, owners);
            var x = new float[(long)m * k];
            var rng = new Random(seed + 1);
            for (long i = 0; i < x.LongLength; i++) x[i] = (float)(rng.NextDouble() * 2 - 1);
            var y = new float[(long)m * n];
            double ti = double.MaxValue, tp = double.MaxValue;
            for (int r = 0; r <= reps; r++)
            {
                long t0 = Stopwatch.GetTimestamp();
                Tensors.Quant.QuantMatMul.Linear(x, m, q, default, y);
                double a = Stopwatch.GetElapsedTime(t0).TotalSeconds;
                t0 = Stopwatch.GetTimestamp();
                Tensors.Gemm.SmallM = 1;   // MatMul then sends every M to the packed GEMM
                MatMul.Linear(x, m, q, default, y);
                double c = Stopwatch.GetElapsedTime(t0).TotalSeconds;
                Tensors.Gemm.SmallM = savedSmallM;
                if (r > 0) { ti = Math.Min(ti, a); tp = Math.Min(tp, c); }
            }
            double flop = 2.0 * m * n * k / 1e9;
            return (flop / ti, flop / tp);
        }
        finally
        {
            Tensors.Gemm.SmallM = savedSmallM;
            foreach (var o in owners) o.Dispose();
        }
    }

    /// <summary>
    /// W panel packing alone, on the calling thread: every (256-row chunk, K block) of an N x K weight packed as the GEMM
    /// does, block type directly / in two steps, then BF16, alternating; nanoseconds per weight, best of reps.
    /// </summary>
    public static unsafe (double Direct, double TwoStep, double Bf16, double Bf16Previous) PanelPacking(int n, int k, DType type, int reps, int seed = 1)
    {
        var owners = new List<IDisposable>();
        bool saved = GemmKernel.PreviousPackers;
        float* buf = (float*)System.Runtime.InteropServices.NativeMemory.AlignedAlloc((nuint)(Tensors.Gemm.KC * Tensors.Gemm.NC * sizeof(float)), 64);
        try
        {
            var q = SyntheticWeights.Create("bench.q", type, [n, k], seed, 1f, owners);
            var b = SyntheticWeights.Create("bench.b", DType.BF16, [n, k], seed, 1f, owners);
            double Pack(Weight w, bool twoStep)
            {
                GemmKernel.PreviousPackers = twoStep;
                long t0 = Stopwatch.GetTimestamp();
                for (int n0 = 0; n0 < n; n0 += Tensors.Gemm.NC)
                    for (int k0 = 0; k0 < k; k0 += Tensors.Gemm.KC)
                        GemmKernel.PackB(w, n0, (Math.Min(Tensors.Gemm.NC, n - n0) + GemmKernel.NR - 1) / GemmKernel.NR * GemmKernel.NR, k0, Math.Min(Tensors.Gemm.KC, k - k0), buf, wide: true);
                double s = Stopwatch.GetElapsedTime(t0).TotalSeconds;
                GemmKernel.PreviousPackers = saved;
                return s * 1e9 / ((double)n * k);
            }
            double td = double.MaxValue, tt = double.MaxValue, tb = double.MaxValue, tbp = double.MaxValue;
            for (int r = 0; r <= reps; r++)
            {
                double a = Pack(q, false), c = Pack(q, true), e = Pack(b, false), f = Pack(b, true);
                if (r > 0) { td = Math.Min(td, a); tt = Math.Min(tt, c); tb = Math.Min(tb, e); tbp = Math.Min(tbp, f); }
            }
            return (td, tt, tb, tbp);
        }
        finally
        {
            GemmKernel.PreviousPackers = saved;
            System.Runtime.InteropServices.NativeMemory.AlignedFree(buf);
            foreach (var o in owners) o.Dispose();
        }
    }

    private static InterleavedResult[] Run(int m, int n, int k, IReadOnlyList<DType> types, int reps, int seed, bool read, int copies)
    {
        var owners = new List<IDisposable>();
        var reads = new List<GemmBenchmark.ReadTest>();
        try
        {
            var ws = types.Select(t => Enumerable.Range(0, copies)
                .Select(c => SyntheticWeights.Create("bench." + t.Name(), t, [n, k], seed + c, 1f, owners)).ToArray()).ToArray();
            if (read) reads.AddRange(ws.Select(w => new GemmBenchmark.ReadTest(w[0].ByteLength * copies)));
            var x = new float[(long)m * k];
            var rng = new Random(seed + 1);
            for (long i = 0; i < x.LongLength; i++) x[i] = (float)(rng.NextDouble() * 2 - 1);
            var y = new float[(long)m * n];
            var t = new double[types.Count, reps];
            var tr = new double[types.Count, reps];
            for (int i = 0; i < ws.Length; i++)
            {
                foreach (var w in ws[i]) MatMul.Linear(x, m, w, default, y); // warm-up: JIT, buffers, page faults
                if (read) reads[i].Once();
            }
            for (int r = 0; r < reps; r++)
                for (int i = 0; i < ws.Length; i++)
                {
                    if (read) tr[i, r] = reads[i].Once();
                    long t0 = Stopwatch.GetTimestamp();
                    foreach (var w in ws[i]) MatMul.Linear(x, m, w, default, y);
                    t[i, r] = Stopwatch.GetElapsedTime(t0).TotalSeconds;
                }
            var result = new InterleavedResult[ws.Length];
            for (int i = 0; i < ws.Length; i++)
            {
                var ti = Row(t, i);
                double work = read ? ws[i][0].ByteLength * (double)copies : 2.0 * m * n * k;
                double readGBps = read ? reads[i].Bytes / Row(tr, i).Min() / 1e9 : 0;
                result[i] = new InterleavedResult(types[i], work / ti.Min() / 1e9, work / Median(ti) / 1e9, ti.Min() * 1e6, readGBps);
            }
            return result;
        }
        finally
        {
            foreach (var r in reads) r.Dispose();
            foreach (var o in owners) o.Dispose();
        }
    }

    private static double[] Row(double[,] a, int i)
    {
        var r = new double[a.GetLength(1)];
        for (int j = 0; j < r.Length; j++) r[j] = a[i, j];
        return r;
    }

    private static double Median(double[] a)
    {
        var c = (double[])a.Clone();
        Array.Sort(c);
        return c.Length % 2 == 1 ? c[c.Length / 2] : 0.5 * (c[c.Length / 2 - 1] + c[c.Length / 2]);
    }
}
