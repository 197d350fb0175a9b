using AutoPrune.Tensors;

namespace AutoPrune.Tests.Tensors;

/// <summary>
/// Vectorized elementwise kernels against their scalar references on odd lengths (vector body + tail).
/// RMSNorm and RoPE keep the reference's rounding exactly (bitwise); exp-based maps differ only by the
/// vector exp vs MathF.Exp (each ≤ 1 ulp), so we allow 4 ulp relative; GELU/erf are computed in double
/// and must be within 1 ulp of the double-precision reference.
/// </summary>
public sealed class OpsTests
{
    public static TheoryData<int> Lengths() => [1, 7, 8, 33, 577];

    private static float[] Rand(int n, float scale, int seed)
    {
        var rng = new Random(seed);
        var a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float)(rng.NextDouble() * 2 - 1) * scale;
        return a;
    }

    private static void CloseRel(float[] want, float[] have, double rel)
    {
        for (int i = 0; i < want.Length; i++)
            Assert.True(Math.Abs(have[i] - (double)want[i]) <= rel * Math.Abs(want[i]) + 1e-37,
                $"[{i}] {have[i]:R} vs {want[i]:R}");
    }

    private static int UlpDiff(float a, float b) =>
        Math.Abs(BitConverter.SingleToInt32Bits(a) - BitConverter.SingleToInt32Bits(b));

    [Theory, MemberData(nameof(Lengths))]
    public void RmsNormIsBitwiseTheReference(int d)
    {
        var x = Rand(3 * d, 3f, d);
        var w = Rand(d, 2f, d + 1);
        var a = new float[3 * d]; var b = new float[3 * d];
        Ops.RmsNorm(x, w, 1e-5f, a, 3);
        Ops.RmsNormReference(x, w, 1e-5f, b, 3);
        Assert.Equal(b, a);
    }

    [Theory, MemberData(nameof(Lengths))]
    public void QuickGeluMatchesReference(int n)
    {
        var x = Rand(n, 30f, n);
        var a = (float[])x.Clone(); var b = (float[])x.Clone();
        Ops.QuickGelu(a); Ops.QuickGeluReference(b);
        CloseRel(b, a, 4.8e-7);
    }

    [Theory, MemberData(nameof(Lengths))]
    public void SiluMulMatchesReference(int n)
    {
        var g = Rand(n, 30f, n); var up = Rand(n, 2f, n + 7);
        var a = (float[])g.Clone(); var b = (float[])g.Clone();
        Ops.SiluMul(a, up); Ops.SiluMulReference(b, up);
        CloseRel(b, a, 4.8e-7);
    }

    [Theory, MemberData(nameof(Lengths))]
    public void SoftmaxMatchesReference(int n)
    {
        var x = Rand(n, 20f, n);
        var a = (float[])x.Clone(); var b = (float[])x.Clone();
        Ops.Softmax(a); Ops.SoftmaxReference(b);
        CloseRel(b, a, 1e-6);
        Assert.Equal(1.0, a.Sum(v => (double)v), 5);
    }

    public static TheoryData<SimdLevel, int, float> ScaledSoftmaxCases()
    {
        var d = new TheoryData<SimdLevel, int, float>();
        foreach (var l in Simd.Supported)
            foreach (var n in new[] { 1, 7, 16, 17, 33, 577 })
            {
                d.Add(l, n, 0.125f);
                d.Add(l, n, 1f);   // with inputs up to ±60: arguments far below the float exp's range, which must give 0
            }
        return d;
    }

    [Theory, MemberData(nameof(ScaledSoftmaxCases))]
    public void SoftmaxScaledMatchesTheDoubleReference(SimdLevel level, int n, float scale)
    {
        var x = Rand(n, scale == 1f ? 60f : 40f, n + 3);
        var a = (float[])x.Clone();
        using (Simd.Use(level)) Ops.SoftmaxScaled(a, scale);
        double max = x.Max(v => (double)(v * scale)), sum = x.Sum(v => Math.Exp(v * scale - max));
        var want = x.Select(v => (float)(Math.Exp(v * scale - max) / sum)).ToArray();
        // The float argument x·scale − max carries an error of about an ulp of its size, which exp turns into a relative one.
        for (int i = 0; i < n; i++)
            Assert.True(Math.Abs(a[i] - (double)want[i]) <= (2e-6 + 1.2e-7 * Math.Abs(x[i] * scale - max)) * want[i] + 1e-37,
                $"{level.Name()} [{i}] {a[i]:R} vs {want[i]:R}");
        Assert.Equal(1.0, a.Sum(v => (double)v), 5);
    }

    [Fact]
    public void ExpNonPositiveIsWithinTwoUlp()
    {
        if (Simd.Best < SimdLevel.Avx512) return;   // an AVX-512 kernel; the other levels use the runtime's exp
        var xs = new List<float> { 0f, -0f, -1e-30f, -1e-7f, float.NegativeInfinity, -87.3f, -88f, -103.9f, -104f, -200f, float.MinValue };
        for (int i = 0; i <= 200_000; i++) xs.Add(-104f * i / 200_000);
        var lanes = new float[16];
        for (int i = 0; i < xs.Count; i += 16)
        {
            int c = Math.Min(16, xs.Count - i);
            Array.Clear(lanes);
            xs.CopyTo(i, lanes, 0, c);
            var e = Ops.ExpNonPositive(System.Runtime.Intrinsics.Vector512.Create(lanes));
            for (int j = 0; j < c; j++)
            {
                float want = (float)Math.Exp(lanes[j]), have = e[j];
                bool ok = want < 1.2e-38f ? Math.Abs(have - want) <= 2e-45 : UlpDiff(have, want) <= 2;
                Assert.True(ok, $"exp({lanes[j]:R}) = {have:R}, want {want:R}");
            }
        }
    }

    [Fact]
    public void Avx512GeluIsBitwiseTheAvx2One()
    {
        if (Simd.Best < SimdLevel.Avx512) return;   // nothing to compare on this CPU
        foreach (var n in new[] { 1, 15, 16, 33, 577, 70_000 })   // the last one runs in parallel chunks
        {
            var x = Rand(n, 9f, n + 11);
            var wide = (float[])x.Clone(); var narrow = (float[])x.Clone();
            using (Simd.Use(SimdLevel.Avx512)) Ops.Gelu(wide);
            using (Simd.Use(SimdLevel.Avx2)) Ops.Gelu(narrow);
            for (int i = 0; i < n; i++)
                Assert.True(BitConverter.SingleToInt32Bits(wide[i]) == BitConverter.SingleToInt32Bits(narrow[i]),
                    $"gelu({x[i]:R}): AVX-512 {wide[i]:R}, AVX2 {narrow[i]:R}");
        }
    }

    [Theory, MemberData(nameof(SimdPathTests.Levels), MemberType = typeof(SimdPathTests))]
    public void QuickGeluMatchesReferenceOnEveryLevel(SimdLevel level)
    {
        // Both tails (σ → 0 and 1) and the middle; 70,000 values also run in parallel chunks.
        var x = Rand(70_000, 40f, 17).Concat([0f, -0f, 1e-30f, -1e-30f, 200f, -200f]).ToArray();
        var a = (float[])x.Clone(); var b = (float[])x.Clone();
        using (Simd.Use(level)) Ops.QuickGelu(a);
        Ops.QuickGeluReference(b);
        CloseRel(b, a, 4.8e-7);
    }

    [Theory, MemberData(nameof(SimdPathTests.Levels), MemberType = typeof(SimdPathTests))]
    public void LayerNormMatchesTheDoubleReference(SimdLevel level)
    {
        // Widths with and without a 16-lane tail; 70 x 1030 runs in parallel row blocks. An offset mean and a large
        // spread check that the variance is taken around the mean.
        foreach (var (rows, d) in new[] { (3, 1), (3, 7), (2, 16), (3, 17), (2, 33), (3, 1024), (70, 1030) })
        {
            var x = Rand(rows * d, 50f, rows + d).Select(v => v + 100f).ToArray();
            var w = Rand(d, 2f, d); var b = Rand(d, 1f, d + 1);
            var y = new float[rows * d];
            using (Simd.Use(level)) Ops.LayerNorm(x, w, b, 1e-5f, y, rows);
            for (int r = 0; r < rows; r++)
            {
                double mean = 0, var = 0;
                for (int i = 0; i < d; i++) mean += x[r * d + i];
                mean /= d;
                for (int i = 0; i < d; i++) var += (x[r * d + i] - mean) * (x[r * d + i] - mean);
                double inv = 1 / Math.Sqrt(var / d + 1e-5);
                for (int i = 0; i < d; i++)
                {
                    double want = (x[r * d + i] - mean) * inv * w[i] + b[i];
                    Assert.True(Math.Abs(y[r * d + i] - want) <= 2e-5 * (Math.Abs(w[i]) + 1), $"{level.Name()} {rows}x{d} [{r},{i}] {y[r * d + i]:R} vs {want:R}");
                }
            }
        }
    }

    [Theory, MemberData(nameof(Lengths))]
    public void GeluIsWithinOneUlpOfTheDoubleReference(int n)
    {
        var x = Rand(n, 8f, n);
        var a = (float[])x.Clone(); var b = (float[])x.Clone();
        Ops.Gelu(a); Ops.GeluReference(b);
        for (int i = 0; i < n; i++) Assert.True(UlpDiff(a[i], b[i]) <= 1, $"gelu({x[i]:R}) = {a[i]:R}, reference {b[i]:R}");
    }

    [Fact]
    public void GeluAndErfAreWithinOneUlpOnADenseGrid()
    {
        // Every region of the approximation and both boundaries (|x/√2| = 2 and 6, |x| = 2 and 6 for erf).
        int n = 80_001;
        var x = new float[n];
        for (int i = 0; i < n; i++) x[i] = -10f + 20f * i / (n - 1);
        var g = (float[])x.Clone(); var gr = (float[])x.Clone();
        Ops.Gelu(g); Ops.GeluReference(gr);
        var e = new float[n];
        Ops.Erf(x, e);
        int worstG = 0, worstE = 0;
        for (int i = 0; i < n; i++)
        {
            worstG = Math.Max(worstG, UlpDiff(g[i], gr[i]));
            // Near 0 the reference's own cancellation (1 + erf) dominates: compare with an absolute floor.
            if (Math.Abs(gr[i]) < 1e-12f) Assert.True(Math.Abs(g[i] - gr[i]) < 1e-15, $"gelu({x[i]:R})");
            worstE = Math.Max(worstE, UlpDiff(e[i], (float)Ops.Erf(x[i])));
        }
        Assert.True(worstG <= 1, $"gelu worst {worstG} ulp");
        Assert.True(worstE <= 1, $"erf worst {worstE} ulp");
        Assert.Equal(0f, e[n / 2]);
        Assert.Equal(1f, e[n - 1]);
        Assert.Equal(-1f, e[0]);
    }

    [Theory]
    [InlineData(32, 1)] [InlineData(64, 7)] [InlineData(128, 33)] [InlineData(18, 3)] [InlineData(2, 5)]
    public void RopeWithTablesIsBitwiseTheReference(int hd, int rows)
    {
        int heads = 3, half = hd / 2;
        var invFreq = Ops.RopeInvFreq(hd, 10000f);
        var pos = new int[rows];
        for (int i = 0; i < rows; i++) pos[i] = i * 37 + 5;
        var cos = new float[rows * half]; var sin = new float[rows * half];
        Ops.RopeTables(pos, invFreq, cos, sin);
        var x = Rand(rows * heads * hd, 2f, hd);
        var a = (float[])x.Clone(); var b = (float[])x.Clone();
        for (int r = 0; r < rows; r++)
        {
            Ops.Rope(a.AsSpan(r * heads * hd, heads * hd), heads, hd, cos.AsSpan(r * half, half), sin.AsSpan(r * half, half));
            Ops.RopeReference(b.AsSpan(r * heads * hd, heads * hd), heads, hd, pos[r], invFreq);
        }
        Assert.Equal(b, a);
        Assert.NotEqual(x, a);
    }
}
