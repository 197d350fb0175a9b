using AutoPrune.Benchmarking;
using AutoPrune.Tensors;

namespace AutoPrune.Tests.Tensors;

/// <summary>
/// Every GEMM path (streaming GEMV for M &lt; Gemm.SmallM, packed 6x16 kernel with edge tiles, several K/N/M blocks)
/// against <see cref="MatMul.LinearReference"/> (double accumulation) on odd sizes.
/// Values are uniform in [-1,1]; F32 summation error grows ~ k·eps·|x||w|, so the tolerance is
/// max-abs 1e-4 up to k=600, scaled by k/600 beyond.
/// </summary>
[Collection(ThreadCountCollection.Name)]
public class MatMulTests
{
    public static TheoryData<int, int, int> Shapes()
    {
        var d = new TheoryData<int, int, int>();
        int[][] s =
        {
            new[] { 1, 1, 1 }, new[] { 1, 7, 17 }, new[] { 1, 65, 577 }, new[] { 1, 577, 33 },
            new[] { 2, 17, 7 }, new[] { 2, 33, 65 }, new[] { 7, 16, 577 }, new[] { 7, 65, 33 },
            new[] { 16, 16, 16 }, new[] { 16, 17, 65 }, new[] { 17, 33, 7 }, new[] { 17, 65, 577 },
            new[] { 33, 577, 65 }, new[] { 65, 7, 33 }, new[] { 65, 33, 2 }, new[] { 577, 17, 65 },
            new[] { 577, 65, 33 }, new[] { 8, 577, 300 }, new[] { 100, 300, 520 }, new[] { 12, 1, 1 },
        };
        foreach (var x in s) d.Add(x[0], x[1], x[2]);
        return d;
    }

    /// <summary>n values uniform in [-1, 1), deterministic in seed (shared with the per-instruction-set tests).</summary>
    internal static float[] Random(int n, int seed)
    {
        var r = new Random(seed);
        var a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float)(r.NextDouble() * 2 - 1);
        return a;
    }

    internal static void Check(int m, int n, int k, DType dtype, bool withBias, Action<float[], int, Weight, float[]?, float[]>? run = null)
    {
        var owners = new List<IDisposable>();
        try
        {
            var w = SyntheticWeights.Create("w", dtype, new[] { n, k }, seed: n * 31 + k, scale: 1f, owners);
            var x = Random(m * k, m * 7 + k);
            var bias = withBias ? Random(n, n + 3) : null;
            var expected = new float[m * n];
            MatMul.LinearReference(x, m, w.ToFloat32(), n, k, bias, expected);
            var y = new float[m * n + 4];
            for (int i = 0; i < y.Length; i++) y[i] = float.NaN; // every output must be written
            y[m * n] = 1234f;
            if (run == null) MatMul.Linear(x, m, w, bias, y);
            else run(x, m, w, bias, y);
            double tol = 1e-4 * Math.Max(1.0, k / 600.0);
            for (int i = 0; i < m * n; i++)
                Assert.True(Math.Abs(y[i] - expected[i]) <= tol,
                    $"{dtype} m={m} n={n} k={k} bias={withBias}: y[{i / n},{i % n}]={y[i]} expected {expected[i]}");
            Assert.Equal(1234f, y[m * n]); // nothing written past Y
        }
        finally
        {
            foreach (var o in owners) o.Dispose();
        }
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Linear_F32_MatchesReference(int m, int n, int k)
    {
        Check(m, n, k, DType.F32, withBias: false);
        Check(m, n, k, DType.F32, withBias: true);
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Linear_BF16_MatchesReference(int m, int n, int k)
    {
        Check(m, n, k, DType.BF16, withBias: false);
        Check(m, n, k, DType.BF16, withBias: true);
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Linear_F16_MatchesReference(int m, int n, int k)
    {
        Check(m, n, k, DType.F16, withBias: false);
        Check(m, n, k, DType.F16, withBias: true);
    }

    [Fact]
    public void Linear_EveryMFrom1To16_MatchesReference()
    {
        for (int m = 1; m <= 16; m++)
            foreach (var dt in new[] { DType.F32, DType.BF16, DType.F16 })
                Check(m, 37, 77, dt, withBias: m % 2 == 0);
    }

    [Fact]
    public void Linear_ManyKBlocksAndNChunks_MatchesReference()
    {
        // K spans 3 KC blocks (accumulation into Y), N spans several NC chunks, M several MC blocks.
        Check(300, 530, 700, DType.BF16, withBias: true);
    }

    [Fact]
    public void Gemm_SingleThread_MatchesReference()
    {
        unsafe
        {
            Check(40, 70, 90, DType.F32, withBias: true, (x, m, w, b, y) =>
            {
                fixed (float* px = x, py = y, pb = b)
                {
                    int saved = Gemm.MaxThreads;
                    Gemm.MaxThreads = 1;
                    try { Gemm.Run(px, m, w, pb, py); }
                    finally { Gemm.MaxThreads = saved; }
                }
            });
        }
    }

    [Fact]
    public void Linear_ConcurrentCallers_DoNotShareScratch()
    {
        // Packed-X buffers are pooled per concurrent call; different shapes at once must not collide.
        var shapes = new[] { (40, 50, 300), (65, 33, 77), (20, 270, 260), (33, 17, 520) };
        Parallel.For(0, 8, i =>
        {
            var (m, n, k) = shapes[i % shapes.Length];
            Check(m, n, k, i % 2 == 0 ? DType.BF16 : DType.F32, withBias: i % 3 == 0);
        });
        Gemm.ReleaseBuffers();
        Check(40, 50, 300, DType.F16, withBias: true);
    }

    [Fact]
    public void Portable_MatchesReference()
    {
        Check(5, 33, 65, DType.BF16, withBias: true, (x, m, w, b, y) => MatMul.LinearPortable(x, m, w, b, y));
    }

    [Fact]
    public void Linear_ZeroK_GivesBias()
    {
        var owners = new List<IDisposable>();
        var w = SyntheticWeights.Create("w", DType.F32, new[] { 3, 0 }, 1, 1f, owners);
        var y = new float[6];
        MatMul.Linear(ReadOnlySpan<float>.Empty, 2, w, new float[] { 1, 2, 3 }, y);
        Assert.Equal(new float[] { 1, 2, 3, 1, 2, 3 }, y);
        foreach (var o in owners) o.Dispose();
    }

    [Fact]
    public void Linear_RejectsShortBuffers()
    {
        var owners = new List<IDisposable>();
        var w = SyntheticWeights.Create("w", DType.BF16, new[] { 4, 8 }, 1, 1f, owners);
        Assert.Throws<ArgumentException>(() => MatMul.Linear(new float[15], 2, w, default, new float[8]));
        Assert.Throws<ArgumentException>(() => MatMul.Linear(new float[16], 2, w, default, new float[7]));
        Assert.Throws<ArgumentException>(() => MatMul.Linear(new float[16], 2, w, new float[3], new float[8]));
        foreach (var o in owners) o.Dispose();
    }

    [Fact]
    public void SyntheticWeights_AreDeterministicAndRoundedToDType()
    {
        var owners = new List<IDisposable>();
        var a = SyntheticWeights.Create("a", DType.F32, new[] { 3, 5 }, 7, 0.5f, owners).ToFloat32();
        var b = SyntheticWeights.Create("b", DType.BF16, new[] { 3, 5 }, 7, 0.5f, owners).ToFloat32();
        var h = SyntheticWeights.Create("h", DType.F16, new[] { 15 }, 7, 0.5f, owners).ToFloat32();
        var again = SyntheticWeights.Create("c", DType.F32, new[] { 15 }, 7, 0.5f, owners).ToFloat32();
        Assert.Equal(a, again);
        for (int i = 0; i < a.Length; i++)
        {
            Assert.InRange(a[i], -0.5f, 0.5f);
            Assert.Equal(global::AutoPrune.Tensors.Convert.BF16ToF32(global::AutoPrune.Tensors.Convert.F32ToBF16(a[i])), b[i]);
            Assert.Equal((float)(Half)a[i], h[i]);
        }
        foreach (var o in owners) o.Dispose();
        foreach (var o in owners) o.Dispose(); // idempotent
    }

    [Fact]
    public void OpenBlas_IsOptional_AndAgreesWhenInstalled()
    {
        // CI has no OpenBLAS: TryLoad must just say why. Where it is installed, it must agree with us.
        if (!OpenBlas.TryLoad(out var why))
        {
            Assert.False(string.IsNullOrEmpty(why));
            Assert.Throws<InvalidOperationException>(() => OpenBlas.Sgemm(new float[4], 2, new float[4], 2, 2, new float[4]));
            return;
        }
        Check(17, 33, 65, DType.F32, withBias: false, (x, m, w, b, y) => OpenBlas.Sgemm(x, m, w.AsF32Span(), w.Rows, w.Cols, y));
    }

    [Fact]
    public void GemmBenchmark_ReportsPositiveRates()
    {
        var r = GemmBenchmark.MeasureGemm(20, 40, 24, DType.BF16, reps: 2);
        Assert.True(r.Gflops > 0 && r.MedianGflops > 0);
        Assert.Null(r.BlasGflops);
        var g = GemmBenchmark.MeasureGemv(64, 96, DType.BF16, reps: 2);
        Assert.True(g.GBps > 0);
    }
}
