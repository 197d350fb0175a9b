using AutoPrune.Tensors;
using AutoPrune.Tensors.Quant;

namespace AutoPrune.Tests.Tensors.Quant;

/// <summary>
/// The block kernels at every instruction-set level this machine runs (AVX-512, AVX2, scalar forced with
/// <see cref="Simd.Use"/>): decode (small M, int8 activations) against the scalar reference, prefill (packed GEMM on
/// panels decoded to F32) bitwise against the same GEMM on the decoded weights, on blocks whose integer parts and
/// sub-block scales take every value their format allows.
/// </summary>
public sealed unsafe class QuantKernelPathTests
{
    public static TheoryData<SimdLevel, DType> LevelsAndTypes()
    {
        var d = new TheoryData<SimdLevel, DType>();
        foreach (var l in Simd.Supported)
            foreach (var t in new[] { DType.Q8_0, DType.Q4_0, DType.Q4_K, DType.Q5_K, DType.Q6_K })
                d.Add(l, t);
        return d;
    }

    private static float[] Random(int n, int seed, float scale = 1) => QuantMatMulTests.Random(n, seed, scale);

    /// <summary>Random bytes with the f16 scales (d, and dmin where the type has one) set to modest finite values.</summary>
    internal static byte[] RandomBlocks(DType t, int n, int k, int seed)
    {
        var r = new Random(seed);
        var bytes = new byte[t.ByteCount((long)n * k)];
        r.NextBytes(bytes);
        int[] halves = t switch
        {
            DType.Q6_K => [208],
            DType.Q4_K or DType.Q5_K or DType.Q4_1 or DType.Q5_1 => [0, 2],
            _ => [0],
        };
        for (int o = 0; o < bytes.Length; o += t.BlockBytes())
            foreach (int h in halves)
                BitConverter.TryWriteBytes(bytes.AsSpan(o + h), BitConverter.HalfToUInt16Bits((Half)(0.002f + (float)r.NextDouble() * 0.01f)));
        return bytes;
    }

    private static float[] Linear(SimdLevel level, float[] x, int m, Weight w, float[]? bias)
    {
        var y = new float[m * w.Rows];
        using (Simd.Use(level)) MatMul.Linear(x, m, w, bias, y);
        return y;
    }

    [Theory, MemberData(nameof(LevelsAndTypes))]
    public void Decode_MatchesScalarReference(SimdLevel level, DType t)
    {
        // n: 4-row groups with a tail, several 16-row chunks, a lone row; k: one and several blocks/super-blocks.
        foreach (var (m, n, k) in new[] { (1, 37, 256), (1, 5, 768), (3, 70, 512), (2, 1, 1024), (15, 19, 256) })
        {
            var wb = RandomBlocks(t, n, k, n * 7 + k);
            var x = Random(m * k, m + k, 3);
            for (int j = 0; j < 32; j++) x[j] = 0; // an all-zero block: d = 0
            var bias = n % 2 == 1 ? Random(n, 4) : null;
            var expected = new float[m * n];
            fixed (byte* p = wb)
            {
                var w = new Weight("w", t, [n, k], p);
                QuantMatMul.LinearReference(x, m, w, bias, expected);
                var y = Linear(level, x, m, w, bias);
                double norm = 1e-3;
                foreach (var v in expected) norm = Math.Max(norm, Math.Abs(v));
                for (int i = 0; i < y.Length; i++)
                    Assert.True(Math.Abs(y[i] - expected[i]) <= 2e-5 * norm,
                        $"{level.Name()} {t} m={m} n={n} k={k} [{i / n},{i % n}]: {y[i]} vs reference {expected[i]}");
            }
        }
    }

    [Theory, MemberData(nameof(LevelsAndTypes))]
    public void Prefill_IsTheF32GemmOnTheDecodedWeights(SimdLevel level, DType t)
    {
        // M from Gemm.SmallM up, N with a panel tail, K with a partial last K block (k0 = 256, kc = 256 or 512-256).
        foreach (var (m, n, k) in new[] { (Gemm.SmallM, 37, 512), (40, 70, 768) })
        {
            var wb = RandomBlocks(t, n, k, n + k);
            var x = Random(m * k, m * 3 + k);
            var bias = Random(n, 2);
            fixed (byte* p = wb)
            {
                var w = new Weight("w", t, [n, k], p);
                var decoded = w.ToFloat32();
                fixed (float* pd = decoded)
                {
                    var f32 = new Weight("w32", DType.F32, [n, k], (byte*)pd);
                    var y = Linear(level, x, m, w, bias);
                    var expected = Linear(level, x, m, f32, bias);
                    if (level >= SimdLevel.Avx2)
                        Assert.Equal(expected, y); // the panels hold exactly the decoded values
                    else
                        for (int i = 0; i < y.Length; i++) Assert.True(Math.Abs(y[i] - expected[i]) <= 1e-4, $"{t} [{i}]: {y[i]} vs {expected[i]}");
                }
            }
        }
    }

    [Fact]
    public void Avx512_FourRowAndOneRowKernels_AgreeBitwise()
    {
        if (Simd.Best < SimdLevel.Avx512) return; // no AVX-512 here; the paths this CPU runs are tested above
        const int n = 8, k = 512;
        foreach (var t in new[] { DType.Q8_0, DType.Q4_K, DType.Q6_K })
        {
            var wb = RandomBlocks(t, n, k, 11);
            var x = Random(k, 12, 2);
            fixed (byte* p = wb)
            fixed (float* px = x)
            {
                var a = ActRow.Of(QuantizedActivations.For(px, 1, k, t), 0);
                long rb = t.ByteCount(k);
                float* four = stackalloc float[4];
                QuantDot512.Dot4(t, p + rb, rb, a, k, four, p);
                for (int r = 0; r < 4; r++)
                    Assert.Equal(QuantDot512.Dot1(t, p + (r + 1) * rb, a, k), four[r]);
            }
        }
    }

    [Fact]
    public void Avx512Decode_DoesNotDependOnTheThreadCount()
    {
        const int n = 300, k = 1024;
        foreach (var t in new[] { DType.Q8_0, DType.Q6_K })
        {
            var wb = RandomBlocks(t, n, k, 3);
            var x = Random(2 * k, 4);
            int saved = Parallelism.MaxThreads;
            fixed (byte* p = wb)
            {
                var w = new Weight("w", t, [n, k], p);
                try
                {
                    Parallelism.MaxThreads = 1;
                    var a = Linear(Simd.Best, x, 2, w, null);
                    Parallelism.MaxThreads = 3;
                    Assert.Equal(a, Linear(Simd.Best, x, 2, w, null));
                }
                finally { Parallelism.MaxThreads = saved; }
            }
        }
    }

    [Fact]
    public void HalfTable_IsTheReferenceConversion()
    {
        for (int h = 0; h < 65536; h++)
        {
            ushort v = (ushort)h;
            float expected = Dequantize.Half((byte*)&v), actual = HalfTable.Get((byte*)&v);
            Assert.True(BitConverter.SingleToInt32Bits(expected) == BitConverter.SingleToInt32Bits(actual), $"0x{h:X4}: {actual} vs {expected}");
        }
    }

    [Fact]
    public void Avx512HalfConversion_IsTheReferenceConversion()
    {
        if (Simd.Best < SimdLevel.Avx512) return; // no AVX-512 here
        var bits = new uint[16];
        for (int h = 0; h < 65536; h += 16)
        {
            for (int i = 0; i < 16; i++) bits[i] = (uint)(h + i) | 0xABCD0000u; // the high half is ignored
            var f = QuantDot512.HalfToSingle(System.Runtime.Intrinsics.Vector512.Create(bits));
            for (int i = 0; i < 16; i++)
            {
                ushort v = (ushort)(h + i);
                Assert.True(BitConverter.SingleToInt32Bits(Dequantize.Half((byte*)&v)) == BitConverter.SingleToInt32Bits(f[i]), $"0x{v:X4}: {f[i]}");
            }
        }
    }
}
