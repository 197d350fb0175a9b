using System.Diagnostics;
using System.Runtime.Intrinsics;
using AutoPrune.Tensors;

namespace AutoPrune.Benchmarking;

/// <summary>One GEMM timing: our GFLOP/s (best of N), median, and OpenBLAS F32 in the same run when asked.</summary>
public sealed record GemmResult(int M, int N, int K, DType WeightDType, double Gflops, double MedianGflops,
    double? BlasGflops, double? Ratio);

/// <summary>Decode GEMV bandwidth: weight bytes streamed per second.</summary>
public sealed record GemvResult(int N, int K, DType WeightDType, double GBps, double MedianGBps, double Microseconds);

/// <summary>
/// Times <see cref="MatMul.Linear"/> on synthetic weights. Machines are shared and noisy, so each
/// shape is warmed up, run <c>reps</c> times, and ours and OpenBLAS alternate rep by rep so both
/// see the same noise; report the ratio from one run.
/// </summary>
public static unsafe class GemmBenchmark
{
    public static GemmResult MeasureGemm(int m, int n, int k, DType dtype, int reps = 5, bool compareBlas = false, int seed = 1)
    {
        var owners = new List<IDisposable>();
        try
        {
            var w = SyntheticWeights.Create("bench.w", dtype, new[] { n, k }, seed, 1f, owners);
            var x = new float[(long)m * k];
            var rng = new Random(seed + 1);
            for (long i = 0; i < x.LongLength; i++) x[i] = (float)(rng.NextDouble() * 2 - 1);
            var y = new float[(long)m * n];
            double flop = 2.0 * m * n * k;

            bool blas = compareBlas && OpenBlas.TryLoad(out _);
            float[]? wf = blas ? w.ToFloat32() : null;
            var ours = new double[reps];
            var theirs = blas ? new double[reps] : null;

            MatMul.Linear(x, m, w, default, y); // warm-up: JIT, packing buffers, page faults
            if (blas) OpenBlas.Sgemm(x, m, wf, n, k, y);
            for (int r = 0; r < reps; r++)
            {
                long t0 = Stopwatch.GetTimestamp();
                MatMul.Linear(x, m, w, default, y);
                ours[r] = Stopwatch.GetElapsedTime(t0).TotalSeconds;
                if (blas)
                {
                    t0 = Stopwatch.GetTimestamp();
                    OpenBlas.Sgemm(x, m, wf, n, k, y);
                    theirs![r] = Stopwatch.GetElapsedTime(t0).TotalSeconds;
                }
            }
            double best = flop / Min(ours) / 1e9, med = flop / Median(ours) / 1e9;
            double? b = blas ? flop / Min(theirs!) / 1e9 : null;
            return new GemmResult(m, n, k, dtype, best, med, b, b.HasValue ? best / b.Value : null);
        }
        finally
        {
            foreach (var o in owners) o.Dispose();
        }
    }

    /// <summary>M=1 product over an N x K weight (default 4096 x 11008 BF16, 90 MB: far larger than L3).</summary>
    public static GemvResult MeasureGemv(int n = 4096, int k = 11008, DType dtype = DType.BF16, int reps = 20, int seed = 1)
    {
        var owners = new List<IDisposable>();
        try
        {
            var w = SyntheticWeights.Create("bench.gemv", dtype, new[] { n, k }, seed, 1f, owners);
            var x = new float[k];
            var rng = new Random(seed + 1);
            for (int i = 0; i < k; i++) x[i] = (float)(rng.NextDouble() * 2 - 1);
            var y = new float[n];
            MatMul.Linear(x, 1, w, default, y);
            MatMul.Linear(x, 1, w, default, y);
            var t = new double[reps];
            for (int r = 0; r < reps; r++)
            {
                long t0 = Stopwatch.GetTimestamp();
                MatMul.Linear(x, 1, w, default, y);
                t[r] = Stopwatch.GetElapsedTime(t0).TotalSeconds;
            }
            double bytes = w.ByteLength;
            return new GemvResult(n, k, dtype, bytes / Min(t) / 1e9, bytes / Median(t) / 1e9, Min(t) * 1e6);
        }
        finally
        {
            foreach (var o in owners) o.Dispose();
        }
    }

    /// <summary>
    /// Plain parallel read of <paramref name="bytes"/> (Vector256 sum, same thread count as the GEMV):
    /// the bandwidth actually available right now, to put GEMV GB/s in context on a shared machine.
    /// </summary>
    public static double MeasureReadBandwidth(long bytes = 4096L * 11008 * 2, int reps = 20)
    {
        using var read = new ReadTest(bytes);
        read.Once();
        var t = new double[reps];
        for (int r = 0; r < reps; r++) t[r] = read.Once();
        return read.Bytes / Min(t) / 1e9;
    }

    /// <summary>A buffer of about <c>bytes</c> read in parallel by <see cref="Once"/> (for interleaving with other timings).</summary>
    public sealed class ReadTest : IDisposable
    {
        private readonly SyntheticWeights.NativeBuffer _mem;
        private readonly ReadJob _job;

        public ReadTest(long bytes)
        {
            long count = bytes / 32 * 8;
            _mem = new SyntheticWeights.NativeBuffer(count * 4);
            float* p = (float*)_mem.Pointer;
            for (long i = 0; i < count; i++) p[i] = 1f;
            int chunks = Math.Max(1, Gemm.MaxThreads) * 4;
            _job = new ReadJob { P = p, Count = count, Per = (count / chunks + 7) & ~7L, Sums = new float[chunks] };
        }

        public long Bytes => _job.Count * 4;

        /// <summary>Reads the buffer once; returns the seconds it took.</summary>
        public double Once()
        {
            long t0 = Stopwatch.GetTimestamp();
            Parallelism.For(_job.Sums.Length, _job, static (ref readonly ReadJob j, int c) =>
            {
                float* q = j.P;
                long a = c * j.Per, e = Math.Min(j.Count, a + j.Per);
                Vector256<float> s0 = default, s1 = default, s2 = default, s3 = default;
                for (; a + 32 <= e; a += 32)
                {
                    s0 += Vector256.Load(q + a); s1 += Vector256.Load(q + a + 8);
                    s2 += Vector256.Load(q + a + 16); s3 += Vector256.Load(q + a + 24);
                }
                j.Sums[c] = Vector256.Sum(s0 + s1 + s2 + s3);
            });
            return Stopwatch.GetElapsedTime(t0).TotalSeconds;
        }

        public void Dispose() => _mem.Dispose();
    }

    private struct ReadJob
    {
        public float* P;
        public long Count, Per;
        public float[] Sums;
    }

    private static double Min(double[] a)
    {
        double v = double.MaxValue;
        foreach (var d in a) v = Math.Min(v, d);
        return v;
    }

    private static double Median(double[] a)
    {
        var c = (double[])a.Clone();
        Array.Sort(c);
        return c.Length % 2 == 1 ? c[c.Length / 2] : 0.5 * (c[c.Length / 2 - 1] + c[c.Length / 2]);
    }
}
