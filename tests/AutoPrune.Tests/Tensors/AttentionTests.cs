using AutoPrune.Tensors;

namespace AutoPrune.Tests.Tensors;

/// <summary>
/// The streaming-softmax <see cref="Attention.Forward"/> against the double-precision scalar
/// <see cref="Attention.ForwardReference"/> on odd sizes (tile, 4-row group and 16-row block edges, key
/// splits), GQA groups, causal with positive and negative offsets. Inputs are uniform in [-1,1] (times
/// <c>peak</c> for q, to make softmax rows peaky and exercise the running-max rescale); outputs are convex
/// combinations of V rows, so |out| ≤ 1 and float32 error is a few 1e-7: we allow 3e-5 absolute.
/// </summary>
[Collection(ThreadCountCollection.Name)]
public sealed class AttentionTests
{
    private const double Tol = 3e-5;

    public static TheoryData<int, int, int, int, int, bool, float> Cases()
    {
        var d = new TheoryData<int, int, int, int, int, bool, float>();
        int[] sizes = [1, 2, 7, 33, 65, 577];
        int[] hds = [32, 64, 128];
        (int, int)[] headPairs = [(1, 1), (4, 4), (4, 2), (8, 8), (8, 2), (8, 1)];
        int n = 0;
        foreach (var nq in sizes)
            foreach (var nk in sizes)
            {
                int hd = hds[n % 3];
                var (heads, kv) = headPairs[n / 3 % headPairs.Length];
                // The reference is O(nq·nk·heads·hd) in scalar double: keep the biggest shapes to few heads.
                if (nq * nk > 100_000 && heads > 4) (heads, kv) = (4, 2);
                d.Add(nq, nk, heads, kv, hd, n % 2 == 0, n % 5 == 0 ? 6f : 1f);
                d.Add(nq, nk, heads, kv, hd, n % 2 != 0, 1f);
                n++;
            }
        d.Add(1, 2000, 1, 1, 128, true, 4f);   // decode with key splits
        d.Add(3, 1500, 2, 1, 64, true, 1f);    // a few queries with key splits and a causal tail
        d.Add(20, 20, 2, 2, 40, true, 1f);     // head_dim not a multiple of 8 or 16
        d.Add(5, 70, 1, 1, 12, false, 1f);
        return d;
    }

    [Theory, MemberData(nameof(Cases))]
    public void StreamingMatchesReference(int nq, int nk, int heads, int kvHeads, int hd, bool causal, float peak)
    {
        var rng = new Random(nq * 7919 + nk * 31 + hd + heads);
        var q = Rand(rng, nq * heads * hd, peak);
        var k = Rand(rng, nk * kvHeads * hd, 1f);
        var v = Rand(rng, nk * kvHeads * hd, 1f);
        var expected = new float[nq * heads * hd];
        var actual = new float[nq * heads * hd];
        Array.Fill(actual, float.NaN);
        Attention.ForwardReference(q, nq, k, v, nk, heads, kvHeads, hd, causal, expected);
        Attention.Forward(q, nq, k, v, nk, heads, kvHeads, hd, causal, actual);
        double worst = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            double e = Math.Abs(actual[i] - (double)expected[i]);
            Assert.False(double.IsNaN(e), $"NaN at {i}");
            worst = Math.Max(worst, e);
        }
        Assert.True(worst <= Tol, $"max |diff| {worst:E2} > {Tol:E0}");
    }

    [Fact]
    public void CausalRowsWithoutVisibleKeysAreZero()
    {
        // nk < nq: query i sees keys j ≤ i − 3, so the first three rows see nothing.
        int nq = 6, nk = 3, hd = 32;
        var rng = new Random(5);
        var q = Rand(rng, nq * hd, 1f); var k = Rand(rng, nk * hd, 1f); var v = Rand(rng, nk * hd, 1f);
        var o = new float[nq * hd];
        Array.Fill(o, float.NaN);
        Attention.Forward(q, nq, k, v, nk, 1, 1, hd, true, o);
        for (int i = 0; i < 3 * hd; i++) Assert.Equal(0f, o[i]);
        Assert.Equal(v[0], o[3 * hd]); // row 3 sees only key 0
    }

    [Theory]
    [InlineData(1, 2000, 1, 1, 128)]
    [InlineData(1, 700, 8, 2, 64)]
    [InlineData(40, 300, 4, 2, 64)]
    [InlineData(640, 640, 2, 2, 128)]
    public void ResultDoesNotDependOnThreadCount(int nq, int nk, int heads, int kvHeads, int hd)
    {
        var rng = new Random(11);
        var q = Rand(rng, nq * heads * hd, 3f);
        var k = Rand(rng, nk * kvHeads * hd, 1f);
        var v = Rand(rng, nk * kvHeads * hd, 1f);
        var one = new float[q.Length];
        var two = new float[q.Length];
        int saved = Parallelism.MaxThreads;
        try
        {
            Parallelism.MaxThreads = 1;
            Attention.Forward(q, nq, k, v, nk, heads, kvHeads, hd, true, one);
            Parallelism.MaxThreads = 2;
            Attention.Forward(q, nq, k, v, nk, heads, kvHeads, hd, true, two);
        }
        finally { Parallelism.MaxThreads = saved; }
        for (int i = 0; i < one.Length; i++)
            Assert.Equal(BitConverter.SingleToInt32Bits(one[i]), BitConverter.SingleToInt32Bits(two[i]));
    }

    [Theory]
    [InlineData(300, 4, 2, 48)]
    [InlineData(197, 3, 3, 12)]   // head_dim not a multiple of 8: Vᵀ gathered without the 8x8 blocks
    public void DenseNonCausalDoesNotDependOnThreadCount(int n, int heads, int kvHeads, int hd)
    {
        // 192+ rows non-causal: the per-head GEMM path (S = QKᵀ, softmax, PV), heads in parallel, GQA groups.
        var rng = new Random(12);
        var q = Rand(rng, n * heads * hd, 3f); var k = Rand(rng, n * kvHeads * hd, 1f); var v = Rand(rng, n * kvHeads * hd, 1f);
        var one = new float[q.Length];
        var two = new float[q.Length];
        var expected = new float[q.Length];
        Threads.With(1, () => Attention.Forward(q, n, k, v, n, heads, kvHeads, hd, false, one));
        Threads.With(2, () => Attention.Forward(q, n, k, v, n, heads, kvHeads, hd, false, two));
        Attention.ForwardReference(q, n, k, v, n, heads, kvHeads, hd, false, expected);
        for (int i = 0; i < one.Length; i++)
        {
            Assert.Equal(BitConverter.SingleToInt32Bits(one[i]), BitConverter.SingleToInt32Bits(two[i]));
            Assert.True(Math.Abs(one[i] - expected[i]) <= Tol, $"[{i}] {one[i]} vs {expected[i]}");
        }
    }

    [Theory]
    [InlineData(33, 33, 4, 4, 32, true)]
    [InlineData(65, 65, 8, 2, 64, true)]
    [InlineData(577, 577, 4, 4, 32, false)]
    [InlineData(7, 12, 2, 1, 40, true)]
    public void ProbabilitiesMatchRowwiseSoftmax(int nq, int nk, int heads, int kvHeads, int hd, bool causal)
    {
        var rng = new Random(nq + nk);
        var q = Rand(rng, nq * heads * hd, 4f);
        var k = Rand(rng, nk * kvHeads * hd, 1f);
        int[] rows = [nq - 1, 0, nq / 2, nq - 1, Math.Min(3, nq - 1), nq / 3];
        int[] cols = [0, nk - 1, nk / 2, 1, nk / 3];
        var got = Attention.Probabilities(q, k, nq, nk, heads, kvHeads, hd, causal, rows, cols);

        int qDim = heads * hd, kvDim = kvHeads * hd, group = heads / kvHeads, offset = nk - nq;
        for (int h = 0; h < heads; h++)
            for (int r = 0; r < rows.Length; r++)
            {
                int i = rows[r], len = causal ? Math.Clamp(i + offset + 1, 0, nk) : nk;
                var s = new double[len];
                double max = double.NegativeInfinity, sum = 0;
                for (int j = 0; j < len; j++)
                {
                    double d = 0;
                    for (int c = 0; c < hd; c++) d += (double)q[i * qDim + h * hd + c] * k[j * kvDim + h / group * hd + c];
                    s[j] = d / Math.Sqrt(hd);
                    max = Math.Max(max, s[j]);
                }
                for (int j = 0; j < len; j++) sum += Math.Exp(s[j] - max);
                for (int c = 0; c < cols.Length; c++)
                {
                    double want = cols[c] < len ? Math.Exp(s[cols[c]] - max) / sum : 0;
                    float have = got[(h * rows.Length + r) * cols.Length + c];
                    if (cols[c] >= len) Assert.Equal(0f, have);
                    Assert.True(Math.Abs(have - want) <= 1e-6 + 1e-5 * want, $"h{h} row {i} col {cols[c]}: {have} vs {want}");
                }
            }
    }

    internal static float[] Rand(Random rng, int n, float scale)
    {
        var a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float)(rng.NextDouble() * 2 - 1) * scale;
        return a;
    }
}
