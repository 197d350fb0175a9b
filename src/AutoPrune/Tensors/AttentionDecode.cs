using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace AutoPrune.Tensors;

/// <summary>
/// Single-query attention (decode) over the row-major KV cache. The cache keeps each token's K (and V) for all
/// heads in one row, so a per-head kernel reads hd floats then jumps kvDim floats: at the 7B shape 512 B out of
/// every 16 KB, a new 4 KB page per key that the hardware prefetcher never gets ahead of. Here work items are
/// ranges of keys instead of heads: each item streams whole K rows (all heads' dots), then whole V rows (all
/// heads' weighted sums), front to back, and leaves per-head (max, sum, acc) partials that are merged in key
/// order. The ranges depend only on nk, so results are independent of the thread count.
/// </summary>
public static unsafe partial class Attention
{
    // Keys per work item: 640 keys (a LLaVA-1.5 prompt) give 10 items for the pool; the score tile is
    // heads x 64 floats (8 KB at 32 heads) and the item's acc heads x hd (16 KB) stay in L1 while rows stream.
    private const int DecodeChunk = 64;

    [ThreadStatic] private static float[]? t_decodeScores;

    /// <summary>Bench switch: false sends one query through the per-head streaming kernel as before.</summary>
    internal static bool DecodeByKeyRanges { get; set; } = true;

    /// <summary>q [heads·hd] against keys [0, nk) of k/v [nk, kvHeads·hd]; out [heads·hd]. AVX2 path.</summary>
    private static void ForwardDecode(float[] q, float[] k, float[] v, int nk, int heads, int kvHeads, int hd, float[] output)
    {
        int chunks = (nk + DecodeChunk - 1) / DecodeChunk, partStride = heads * (hd + 2);
        float[] partials = ArrayPool<float>.Shared.Rent(chunks * partStride);
        try
        {
            fixed (float* pq = q, pk = k, pv = v, po = output, pp = partials)
            {
                var job = new DecodeJob
                {
                    Q = pq, K = pk, V = pv, Partials = pp, Nk = nk, Heads = heads, Group = heads / kvHeads, Hd = hd,
                    KvDim = kvHeads * hd, Scale = 1f / MathF.Sqrt(hd),
                };
                bool serial = Parallelism.MaxThreads == 1 || chunks == 1 || (long)nk * heads * hd < 1 << 16;
                if (serial)
                    for (int c = 0; c < chunks; c++) DecodeItem(job, c);
                else
                    Parallelism.For(chunks, job, static (ref readonly DecodeJob j, int c) => DecodeItem(j, c));
                DecodeMerge(pp, chunks, heads, hd, job.Scale, po);
            }
        }
        finally { ArrayPool<float>.Shared.Return(partials); }
    }

    private struct DecodeJob
    {
        public float* Q, K, V, Partials;
        public int Nk, Heads, Group, Hd, KvDim;
        public float Scale;
    }

    /// <summary>Keys [c·64, ..): partial [h] = (max raw dot, Σ p, Σ p·v) with p = exp((dot − max)·scale).</summary>
    private static void DecodeItem(in DecodeJob j, int c)
    {
        int t0 = c * DecodeChunk, cnt = Math.Min(DecodeChunk, j.Nk - t0), heads = j.Heads, hd = j.Hd;
        var scores = t_decodeScores;
        if (scores == null || scores.Length < heads * DecodeChunk) t_decodeScores = scores = new float[heads * DecodeChunk];
        float* part = j.Partials + (long)c * heads * (hd + 2);
        fixed (float* S = scores)
        {
            float* krow = j.K + (long)t0 * j.KvDim;
            for (int t = 0; t < cnt; t++, krow += j.KvDim)
                for (int h = 0; h < heads; h++)
                {
                    Ahead(krow + h / j.Group * hd, hd);
                    S[h * DecodeChunk + t] = Dot(j.Q + h * hd, krow + h / j.Group * hd, hd);
                }

            for (int h = 0; h < heads; h++)
            {
                float* sr = S + h * DecodeChunk, ph = part + h * (hd + 2);
                float mx = RowMax(sr, cnt);
                ph[0] = mx;
                ph[1] = ExpRow(sr, cnt, cnt, mx, j.Scale);
                new Span<float>(ph + 2, hd).Clear();
            }

            float* vrow = j.V + (long)t0 * j.KvDim;
            for (int t = 0; t < cnt; t++, vrow += j.KvDim)
                for (int h = 0; h < heads; h++)
                {
                    Ahead(vrow + h / j.Group * hd, hd);
                    AddScaled(part + h * (hd + 2) + 2, vrow + h / j.Group * hd, S[h * DecodeChunk + t], hd);
                }
        }
    }

    /// <summary>out[h] = Σ_c acc_c·e^{(m_c−M)·scale} / Σ_c l_c·e^{(m_c−M)·scale}, chunks in key order.</summary>
    private static void DecodeMerge(float* partials, int chunks, int heads, int hd, float scale, float* output)
    {
        int stride = heads * (hd + 2);
        for (int h = 0; h < heads; h++)
        {
            float* o = output + h * hd;
            float* p0 = partials + h * (hd + 2);
            if (chunks == 1)
            {
                Scale(p0 + 2, p0[1] > 0 ? 1f / p0[1] : 0f, o, hd);
                continue;
            }
            float mx = float.NegativeInfinity;
            for (int c = 0; c < chunks; c++) mx = MathF.Max(mx, p0[(long)c * stride]);
            new Span<float>(o, hd).Clear();
            float sum = 0;
            for (int c = 0; c < chunks; c++)
            {
                float* pc = p0 + (long)c * stride;
                float w = MathF.Exp((pc[0] - mx) * scale);
                sum += pc[1] * w;
                AddScaled(o, pc + 2, w, hd);
            }
            Scale(o, sum > 0 ? 1f / sum : 0f, o, hd);
        }
    }

    /// <summary>
    /// Prefetches the lines 2 KB past the n floats about to be read: one sequential stream per core keeps too few
    /// lines in flight on its own (measured 6-15% faster with it, 1 and 2 threads, 7B shape, 640 keys).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Ahead(float* p, int n)
    {
        byte* b = (byte*)p + 2048;
        for (int i = 0; i < n * sizeof(float); i += 64) Sse.Prefetch0(b + i);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Dot(float* a, float* b, int n)
    {
        var s0 = Vector256<float>.Zero; var s1 = s0;
        int i = 0;
        for (; i + 16 <= n; i += 16)
        {
            s0 = Fma.MultiplyAdd(Avx.LoadVector256(a + i), Avx.LoadVector256(b + i), s0);
            s1 = Fma.MultiplyAdd(Avx.LoadVector256(a + i + 8), Avx.LoadVector256(b + i + 8), s1);
        }
        if (i + 8 <= n) { s0 = Fma.MultiplyAdd(Avx.LoadVector256(a + i), Avx.LoadVector256(b + i), s0); i += 8; }
        float s = Vector256.Sum(s0 + s1);
        for (; i < n; i++) s = MathF.FusedMultiplyAdd(a[i], b[i], s);
        return s;
    }

    /// <summary>acc += w·x over n floats.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void AddScaled(float* acc, float* x, float w, int n)
    {
        var b = Vector256.Create(w);
        int i = 0;
        for (; i + 8 <= n; i += 8) Avx.Store(acc + i, Fma.MultiplyAdd(b, Avx.LoadVector256(x + i), Avx.LoadVector256(acc + i)));
        for (; i < n; i++) acc[i] = MathF.FusedMultiplyAdd(w, x[i], acc[i]);
    }
}
