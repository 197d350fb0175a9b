using AutoPrune.Tensors;

namespace AutoPrune.Tests.Tensors;

/// <summary>
/// Every instruction-set path this machine can run (<see cref="Simd.Supported"/>), forced with <see cref="Simd.Use"/>:
/// GEMM/GEMV against the double-precision reference, attention against its reference, and the AVX-512 GEMM tiles
/// bitwise equal to the AVX2 ones (both are one FMA chain per output over k in order).
/// </summary>
public sealed class SimdPathTests
{
    public static TheoryData<SimdLevel> Levels()
    {
        var d = new TheoryData<SimdLevel>();
        foreach (var l in Simd.Supported) d.Add(l);
        return d;
    }

    private static float[] Random(int n, int seed) => MatMulTests.Random(n, seed);

    private static float[] Run(SimdLevel level, int m, Weight w, float[] x, float[]? bias)
    {
        var y = new float[m * w.Rows];
        using (Simd.Use(level)) MatMul.Linear(x, m, w, bias, y);
        return y;
    }

    [Theory, MemberData(nameof(Levels))]
    public void Linear_MatchesReference(SimdLevel level)
    {
        // M below and above Gemm.SmallM (GEMV and packed), 12x32 tiles with M and N tails, K tails of 16 and 8 lanes.
        (int m, int n, int k)[] shapes = [(1, 7, 17), (1, 577, 33), (1, 40, 4099), (3, 33, 65), (2, 17, 7), (9, 65, 300),
            (17, 65, 577), (24, 64, 64), (37, 97, 260), (100, 300, 520), (577, 33, 65)];
        var owners = new List<IDisposable>();
        try
        {
            foreach (var (m, n, k) in shapes)
                foreach (var dt in new[] { DType.F32, DType.BF16, DType.F16 })
                {
                    var w = SyntheticWeights.Create("w", dt, [n, k], n * 31 + k, 1f, owners);
                    var x = Random(m * k, m * 7 + k);
                    var bias = (m + n) % 2 == 0 ? Random(n, n + 3) : null;
                    var expected = new float[m * n];
                    MatMul.LinearReference(x, m, w.ToFloat32(), n, k, bias, expected);
                    var y = Run(level, m, w, x, bias);
                    double tol = 1e-4 * Math.Max(1.0, k / 600.0);
                    for (int i = 0; i < m * n; i++)
                        Assert.True(Math.Abs(y[i] - expected[i]) <= tol,
                            $"{level.Name()} {dt} m={m} n={n} k={k}: y[{i / n},{i % n}]={y[i]} expected {expected[i]}");
                }
        }
        finally { foreach (var o in owners) o.Dispose(); }
    }

    [Fact]
    public void Avx512PackedGemm_IsBitwiseTheAvx2One()
    {
        if (Simd.Best < SimdLevel.Avx512) return; // nothing to compare on this CPU; the AVX2 path is tested above
        var owners = new List<IDisposable>();
        try
        {
            foreach (var (m, n, k) in new[] { (24, 64, 300), (37, 97, 520), (130, 260, 33), (124, 96, 300) })
                foreach (var dt in new[] { DType.F32, DType.BF16, DType.F16 })
                {
                    var w = SyntheticWeights.Create("w", dt, [n, k], 5, 1f, owners);
                    var x = Random(m * k, 9);
                    var bias = Random(n, 4);
                    var wide = Run(SimdLevel.Avx512, m, w, x, bias);
                    var narrow = Run(SimdLevel.Avx2, m, w, x, bias);
                    for (int i = 0; i < wide.Length; i++)
                        Assert.True(BitConverter.SingleToInt32Bits(wide[i]) == BitConverter.SingleToInt32Bits(narrow[i]),
                            $"{dt} m={m} n={n} k={k} [{i}]: AVX-512 {wide[i]:R} vs AVX2 {narrow[i]:R}");
                }
        }
        finally { foreach (var o in owners) o.Dispose(); }
    }

    [Theory, MemberData(nameof(Levels))]
    public void Attention_MatchesReference(SimdLevel level)
    {
        // The last shape is the vision tower's dense path (non-causal, 192+ rows: per-head GEMMs and the scaled softmax).
        foreach (var (nq, nk, heads, kv, hd, causal) in new[] { (1, 700, 4, 2, 64, true), (33, 33, 4, 4, 32, true), (7, 65, 8, 1, 128, true), (300, 300, 4, 2, 48, false) })
        {
            var rng = new Random(nq + nk);
            float[] R(int n) { var a = new float[n]; for (int i = 0; i < n; i++) a[i] = (float)(rng.NextDouble() * 2 - 1); return a; }
            var q = R(nq * heads * hd); var k = R(nk * kv * hd); var v = R(nk * kv * hd);
            var expected = new float[q.Length]; var actual = new float[q.Length];
            Attention.ForwardReference(q, nq, k, v, nk, heads, kv, hd, causal, expected);
            using (Simd.Use(level)) Attention.Forward(q, nq, k, v, nk, heads, kv, hd, causal, actual);
            for (int i = 0; i < q.Length; i++) Assert.True(Math.Abs(actual[i] - expected[i]) <= 3e-5, $"{level.Name()} [{i}]");
        }
    }

    [Fact]
    public void LevelIsClampedToTheCpu_AndScopesNest()
    {
        var before = Simd.Level;
        using (Simd.Use(SimdLevel.Scalar))
        {
            Assert.Equal(SimdLevel.Scalar, Simd.Level);
            using (Simd.Use((SimdLevel)99)) Assert.Equal(Simd.Best, Simd.Level);
            Assert.Equal(SimdLevel.Scalar, Simd.Level);
        }
        Assert.Equal(before, Simd.Level);
        Assert.False(string.IsNullOrWhiteSpace(Simd.CpuModel()));
    }
}
