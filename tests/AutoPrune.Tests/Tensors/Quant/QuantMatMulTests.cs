using AutoPrune.Tensors;
using AutoPrune.Tensors.Quant;

namespace AutoPrune.Tests.Tensors.Quant;

/// <summary>The SIMD block kernels against the scalar reference, and both against F32 math on the decoded weights.</summary>
public sealed unsafe class QuantMatMulTests
{
    public static TheoryData<DType> Types => new() { DType.Q8_0, DType.Q4_0, DType.Q4_1, DType.Q5_0, DType.Q5_1, DType.Q4_K, DType.Q5_K, DType.Q6_K };

    internal static float[] Random(int n, int seed, float scale = 1)
    {
        var r = new Random(seed);
        var a = new float[n];
        for (int i = 0; i < n; i++) a[i] = ((float)r.NextDouble() * 2 - 1) * scale;
        return a;
    }

    /// <summary>Random block bytes with valid (finite, modest) f16 scales, so every bit pattern of the integer parts is exercised.</summary>
    private static byte[] RandomBlocks(DType t, int n, int k, int seed)
    {
        if (Quantize.CanEncode(t))
        {
            var b = new byte[t.ByteCount((long)n * k)];
            Quantize.Row(t, Random(n * k, seed), b);
            return b;
        }
        var r = new Random(seed);
        var bytes = new byte[t.ByteCount((long)n * k)];
        r.NextBytes(bytes);
        for (int o = 0; o < bytes.Length; o += t.BlockBytes())
        {
            BitConverter.TryWriteBytes(bytes.AsSpan(o), BitConverter.HalfToUInt16Bits((Half)(0.01f + (float)r.NextDouble() * 0.01f)));
            BitConverter.TryWriteBytes(bytes.AsSpan(o + 2), BitConverter.HalfToUInt16Bits((Half)((float)r.NextDouble() * 0.01f)));
        }
        return bytes;
    }

    [Theory]
    [InlineData(DType.Q8_0)]
    [InlineData(DType.Q4_K)]
    [InlineData(DType.Q6_K)]
    public void GemmRun_OnBlocksBelowSmallM_IsTheBlockKernel(DType t)
    {
        // Gemm.Run is public: called directly with a few rows it must not read blocks as float weights.
        const int n = 21, k = 256, m = 2;
        var wb = RandomBlocks(t, n, k, 11);
        var x = Random(m * k, 12);
        var bias = Random(n, 13);
        var viaGemm = new float[m * n];
        var viaLinear = new float[m * n];
        fixed (byte* p = wb)
        fixed (float* px = x, pb = bias, py = viaGemm)
        {
            var w = new Weight("w", t, [n, k], p);
            Gemm.Run(px, m, w, pb, py);
            MatMul.Linear(x, m, w, bias, viaLinear);
        }
        Assert.Equal(viaLinear, viaGemm);
    }

    [Theory]
    [MemberData(nameof(Types))]
    public void Kernel_MatchesScalarReference_AndF32OnDecodedWeights(DType t)
    {
        const int n = 37, k = 512;
        foreach (int m in new[] { 1, 3, Gemm.SmallM - 1 }) // the int8 decode path; prefill M: QuantKernelPathTests
        {
            var wb = RandomBlocks(t, n, k, 5);
            var x = Random(m * k, 9, 2);
            var bias = Random(n, 4);
            var fast = new float[m * n];
            var reference = new float[m * n];
            var exact = new float[m * n];
            fixed (byte* p = wb)
            {
                var w = new Weight("w", t, [n, k], p);
                MatMul.Linear(x, m, w, bias, fast);
                QuantMatMul.LinearReference(x, m, w, bias, reference);
                MatMul.LinearReference(x, m, w.ToFloat32(), n, k, bias, exact);
            }
            double norm = 0;
            foreach (var v in exact) norm = Math.Max(norm, Math.Abs(v));
            for (int i = 0; i < fast.Length; i++)
            {
                Assert.True(Math.Abs(fast[i] - reference[i]) <= 1e-5 * norm, $"{t} m={m} [{i}]: kernel {fast[i]} vs reference {reference[i]}");
                // int8 activations: ~0.5% of the output scale
                Assert.True(Math.Abs(reference[i] - exact[i]) <= 0.01 * norm, $"{t} m={m} [{i}]: reference {reference[i]} vs f32 {exact[i]}");
            }
        }
    }

    [Fact]
    public void Results_DoNotDependOnTheThreadCount()
    {
        const int n = 300, k = 1024, m = 5;
        var wb = RandomBlocks(DType.Q4_K, n, k, 1);
        var x = Random(m * k, 2);
        var a = new float[m * n];
        var b = new float[m * n];
        int saved = Parallelism.MaxThreads;
        fixed (byte* p = wb)
        {
            var w = new Weight("w", DType.Q4_K, [n, k], p);
            try
            {
                Parallelism.MaxThreads = 1;
                MatMul.Linear(x, m, w, default, a);
                Parallelism.MaxThreads = 4;
                MatMul.Linear(x, m, w, default, b);
            }
            finally { Parallelism.MaxThreads = saved; }
        }
        Assert.Equal(a, b);
    }

    [Fact]
    public void Q8_0_FourRowKernel_GivesEachRowBitwiseItsSingleRowProduct()
    {
        const int n = 19, k = 256, m = 9;
        var wb = RandomBlocks(DType.Q8_0, n, k, 8);
        var x = Random(m * k, 3);
        var all = new float[m * n];
        var one = new float[n];
        fixed (byte* p = wb)
        {
            var w = new Weight("w", DType.Q8_0, [n, k], p);
            MatMul.Linear(x, m, w, default, all);
            for (int i = 0; i < m; i++)
            {
                MatMul.Linear(x.AsSpan(i * k, k), 1, w, default, one);
                Assert.Equal(one, all.AsSpan(i * n, n).ToArray());
            }
        }
    }

    [Fact]
    public void ActivationQuantization_IsPerBlockOf32_ForQ8_0()
    {
        var x = new float[64];
        x[0] = 127; x[1] = -63.5f; x[32] = 0.5f;
        fixed (float* px = x)
        {
            var acts = QuantizedActivations.For(px, 1, 64, DType.Q8_0);
            Assert.Equal(32, acts.Block);
            Assert.Equal(1f, acts.D[0]); Assert.Equal(0.5f / 127, acts.D[1]);
            Assert.Equal(127, acts.Q[0]); Assert.Equal(-64, acts.Q[1]); // −63.5 → −64 (half to even)
            Assert.Equal(127, acts.Q[32]);
            Assert.Equal(63, acts.Sum32[0]); Assert.Equal(-64, acts.Q16[1]);
        }
    }

    [Fact]
    public void ActivationQuantization_IsPerSuperBlockOf256_ForKTypes()
    {
        var x = new float[512];
        x[0] = -2.54f;               // max |x| of the first 256: scale 127/2.54 = 50
        x[1] = 0.01f;                // 0.5 → 0 (half to even)
        x[2] = 0.03f;                // 1.5 → 2
        x[17] = 1f;                  // second group of 16
        x[40] = -0.5f;               // second block of 32
        x[256 + 5] = 4;              // second super-block: scale 127/4
        x[256 + 6] = 1;              // 31.75 → 32
        fixed (float* px = x)
        {
            foreach (var t in new[] { DType.Q4_K, DType.Q5_K, DType.Q6_K })
            {
                var acts = QuantizedActivations.For(px, 1, 512, t);
                Assert.Equal(256, acts.Block);
                Assert.Equal(1 / (127 / 2.54f), acts.D[0]); Assert.Equal(4 / 127f, acts.D[1], 1e-9f);
                Assert.Equal(-127, acts.Q[0]); Assert.Equal(0, acts.Q[1]); Assert.Equal(2, acts.Q[2]);
                Assert.Equal(50, acts.Q[17]); Assert.Equal(-25, acts.Q[40]);
                Assert.Equal(127, acts.Q[256 + 5]); Assert.Equal(32, acts.Q[256 + 6]);
                Assert.Equal(-125, acts.BSum16[0]); Assert.Equal(50, acts.BSum16[1]); Assert.Equal(-25, acts.BSum16[2]);
                Assert.Equal(-75, acts.BSum32[0]); Assert.Equal(-25, acts.BSum32[1]); Assert.Equal(159, acts.BSum32[8]);
            }
        }
    }

    [Fact]
    public void SuperBlockQuantization_SimdIsBitwiseTheScalarDefinition()
    {
        var cases = new List<float[]>();
        for (int seed = 0; seed < 20; seed++) cases.Add(Random(256, seed, seed + 0.5f));
        var ties = new float[256];
        for (int j = 0; j < 256; j++) ties[j] = (j - 128) * 0.5f; // max 127.5·(127/128): many exact .5 products
        ties[0] = -127; cases.Add(ties);
        cases.Add(new float[256]);                                        // all zero: d = 0
        var tiny = Random(256, 99, 1e-38f); cases.Add(tiny);              // 127/max overflows to infinity
        var nan = Random(256, 98); nan[77] = float.NaN; cases.Add(nan);
        var inf = Random(256, 97); inf[3] = float.NegativeInfinity; cases.Add(inf);
        var q1 = new sbyte[256]; var q2 = new sbyte[256];
        var s1 = new short[24]; var s2 = new short[24];
        foreach (var x in cases)
            fixed (float* px = x)
            fixed (sbyte* p1 = q1, p2 = q2)
            fixed (short* b1 = s1, b2 = s2)
            {
                float d1, d2;
                QuantizedActivations.QuantizeSuperBlock(px, p1, &d1, b1, b1 + 16);
                QuantizedActivations.QuantizeSuperBlockSimd(px, p2, &d2, b2, b2 + 16);
                Assert.Equal(BitConverter.SingleToInt32Bits(d1), BitConverter.SingleToInt32Bits(d2));
                Assert.Equal(q1, q2);
                Assert.Equal(s1, s2);
                if (float.IsNaN(x[77]) || float.IsInfinity(x[3])) Assert.False(float.IsFinite(d1)); // never a finite result from a non-finite input
            }
    }

    [Fact]
    public void BlockQuantization_SimdIsBitwiseTheScalarDefinition()
    {
        var cases = new List<float[]>();
        for (int seed = 0; seed < 40; seed++) cases.Add(Random(32, seed, seed + 0.5f));
        var ties = new float[32];
        for (int j = 0; j < 32; j++) ties[j] = (j - 16) * 0.25f + 0.125f; // products on .5 after scaling
        ties[5] = 127f / 64; cases.Add(ties);
        cases.Add(new float[32]);
        var nan = Random(32, 98); nan[7] = float.NaN; cases.Add(nan);
        var inf = Random(32, 97); inf[30] = float.PositiveInfinity; cases.Add(inf);
        var q1 = new sbyte[32]; var q2 = new sbyte[32]; var w2 = new short[32];
        foreach (var x in cases)
            fixed (float* px = x)
            fixed (sbyte* p1 = q1, p2 = q2)
            fixed (short* pw = w2)
            {
                float d1, d2;
                int s1, s2;
                QuantizedActivations.QuantizeBlock(px, p1, &d1, &s1);
                QuantizedActivations.QuantizeBlockSimd(px, p2, pw, &d2, &s2);
                Assert.Equal(BitConverter.SingleToInt32Bits(d1), BitConverter.SingleToInt32Bits(d2));
                Assert.Equal(q1, q2);
                Assert.Equal(s1, s2);
                for (int j = 0; j < 32; j++) Assert.Equal(q1[j], w2[j]);
            }
    }
}
