using AutoPrune.Tensors;
using Convert = AutoPrune.Tensors.Convert;

namespace AutoPrune.Tests.Tensors;

/// <summary>
/// Attention over BF16 keys and values (the BF16 KV cache). Widening BF16 is exact, so at every instruction-set level
/// the BF16 overload must equal the F32 one on the widened rows bit for bit (the decode kernel loads and widens
/// in place; prefill and the scalar level widen into buffers first), and both match the double-precision reference
/// within the F32 kernels' 3e-5. Shapes cover one query (decode: 64-key items, AVX-512 and AVX2 dot products, head
/// sizes with 16-, 8- and 1-lane tails) and several (prefill, causal with a cache prefix).
/// </summary>
[Collection(ThreadCountCollection.Name)]
public sealed class Bf16KvAttentionTests
{
    public static TheoryData<SimdLevel> Levels()
    {
        var d = new TheoryData<SimdLevel>();
        foreach (var l in Simd.Supported) d.Add(l);
        return d;
    }

    private static (float[] Q, ushort[] K, ushort[] V, float[] Kf, float[] Vf) Inputs(int nq, int nk, int heads, int kvHeads, int hd, int seed)
    {
        var rng = new Random(seed);
        var q = AttentionTests.Rand(rng, nq * heads * hd, 3f);
        var kf = AttentionTests.Rand(rng, nk * kvHeads * hd, 1f);
        var vf = AttentionTests.Rand(rng, nk * kvHeads * hd, 1f);
        var k = new ushort[kf.Length]; var v = new ushort[vf.Length];
        Convert.F32ToBF16(kf, k); Convert.F32ToBF16(vf, v);
        Convert.BF16ToF32(k, kf); Convert.BF16ToF32(v, vf);    // the F32 inputs are the widened rows
        return (q, k, v, kf, vf);
    }

    [Theory, MemberData(nameof(Levels))]
    public void Bf16IsTheF32KernelOnWidenedRows(SimdLevel level)
    {
        (int nq, int nk, int heads, int kv, int hd)[] shapes =
        [
            (1, 1, 1, 1, 128), (1, 63, 4, 4, 128), (1, 700, 8, 2, 128), (1, 130, 2, 1, 40), (1, 65, 3, 3, 12), (1, 300, 4, 4, 48),
            (5, 70, 4, 2, 64), (40, 40, 2, 2, 32), (3, 600, 2, 1, 128),
        ];
        foreach (var (nq, nk, heads, kv, hd) in shapes)
        {
            var (q, k, v, kf, vf) = Inputs(nq, nk, heads, kv, hd, nq * 31 + nk + hd);
            var fromBf16 = new float[q.Length]; var fromF32 = new float[q.Length]; var expected = new float[q.Length];
            using (Simd.Use(level))
            {
                Attention.Forward(q, nq, k, v, nk, heads, kv, hd, true, fromBf16);
                Attention.Forward(q, nq, kf, vf, nk, heads, kv, hd, true, fromF32);
            }
            Attention.ForwardReference(q, nq, kf, vf, nk, heads, kv, hd, true, expected);
            for (int i = 0; i < q.Length; i++)
            {
                Assert.True(BitConverter.SingleToInt32Bits(fromBf16[i]) == BitConverter.SingleToInt32Bits(fromF32[i]),
                    $"{level.Name()} nq={nq} nk={nk} hd={hd} [{i}]: bf16 {fromBf16[i]:R} vs f32 {fromF32[i]:R}");
                Assert.True(Math.Abs(fromF32[i] - expected[i]) <= 3e-5, $"{level.Name()} nq={nq} nk={nk} hd={hd} [{i}]: {fromF32[i]} vs {expected[i]}");
            }
        }
    }

    [Fact]
    public void Bf16DecodeDoesNotDependOnThreadCount()
    {
        var (q, k, v, _, _) = Inputs(1, 2000, 8, 2, 128, 7);
        var one = new float[q.Length]; var two = new float[q.Length];
        Threads.With(1, () => Attention.Forward(q, 1, k, v, 2000, 8, 2, 128, true, one));
        Threads.With(2, () => Attention.Forward(q, 1, k, v, 2000, 8, 2, 128, true, two));
        for (int i = 0; i < one.Length; i++) Assert.Equal(BitConverter.SingleToInt32Bits(one[i]), BitConverter.SingleToInt32Bits(two[i]));
    }

    [Fact]
    public void ShortBf16RowsAreRefused()
    {
        var q = new float[64]; var o = new float[64];
        Assert.Throws<ArgumentException>(() => Attention.Forward(q, 1, new ushort[63], new ushort[64], 1, 1, 1, 64, true, o));
    }
}
