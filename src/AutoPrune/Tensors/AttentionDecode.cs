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

    /// <summary>q [heads·hd] against keys [0, nk) of k/v [nk, kvHeads·hd]; out [heads·hd]. AVX2 or AVX-512.</summary>
    private static void ForwardDecode(float[] q, float[] k, float[] v, int nk, int heads, int kvHeads, int hd, float[] output)
    {
        fixed (float* pk = k, pv = v) ForwardDecode<F32Rows>(q, (byte*)pk, (byte*)pv, nk, heads, kvHeads, hd, output);
    }

    /// <summary>The same over a BF16 cache: each element is widened (exactly) as it is loaded, then the F32 arithmetic
    /// is the F32 kernel's, so the result equals <see cref="ForwardDecode(float[], float[], float[], int, int, int, int, float[])"/>
    /// on the widened rows bit for bit.</summary>
    private static void ForwardDecode(float[] q, ushort[] k, ushort[] v, int nk, int heads, int kvHeads, int hd, float[] output)
    {
        fixed (ushort* pk = k, pv = v) ForwardDecode<Bf16Rows>(q, (byte*)pk, (byte*)pv, nk, heads, kvHeads, hd, output);
    }

    private static void ForwardDecode<TRows>(float[] q, byte* k, byte* v, int nk, int heads, int kvHeads, int hd, float[] output)
        where TRows : struct, IKvRows
    {
        int chunks = (nk + DecodeChunk - 1) / DecodeChunk, partStride = heads * (hd + 2);
        float[] partials = ArrayPool<float>.Shared.Rent(chunks * partStride);
        try
        {
            fixed (float* pq = q, po = output, pp = partials)
            {
                var job = new DecodeJob
                {
                    Q = pq, K = k, V = v, Partials = pp, Nk = nk, Heads = heads, Group = heads / kvHeads, Hd = hd,
                    KvDim = kvHeads * hd, Scale = 1f / MathF.Sqrt(hd), Wide = Simd.Level >= SimdLevel.Avx512,
                };
                bool serial = Parallelism.MaxThreads == 1 || chunks == 1 || (long)nk * heads * hd < 1 << 16;
                if (serial)
                    for (int c = 0; c < chunks; c++) DecodeItem<TRows>(job, c);
                else
                    Parallelism.For(chunks, job, static (ref readonly DecodeJob j, int c) => DecodeItem<TRows>(j, c));
                DecodeMerge(pp, chunks, heads, hd, job.Scale, po);
            }
        }
        finally { ArrayPool<float>.Shared.Return(partials); }
    }

    private struct DecodeJob
    {
        public float* Q, Partials;
        public byte* K, V;
        public int Nk, Heads, Group, Hd, KvDim;
        public float Scale;
        /// <summary>AVX-512 (the calling thread's level, handed to the workers).</summary>
        public bool Wide;
    }

    /// <summary>Keys [c·64, ..): partial [h] = (max raw dot, Σ p, Σ p·v) with p = exp((dot − max)·scale).</summary>
    private static void DecodeItem<TRows>(in DecodeJob j, int c) where TRows : struct, IKvRows
    {
        int t0 = c * DecodeChunk, cnt = Math.Min(DecodeChunk, j.Nk - t0), heads = j.Heads, hd = j.Hd;
        var scores = t_decodeScores;
        if (scores == null || scores.Length < heads * DecodeChunk) t_decodeScores = scores = new float[heads * DecodeChunk];
        float* part = j.Partials + (long)c * heads * (hd + 2);
        long rowBytes = (long)j.KvDim * TRows.Bytes, headBytes = (long)hd * TRows.Bytes;
        bool wide = j.Wide;
        fixed (float* S = scores)
        {
            // Rows four at a time: each query head is loaded once for four keys, and each head's accumulator once for
            // four values (the dots, and every element's FMA chain, are the one-row kernel's, in the same order).
            // Measured 11-15% faster for F32 and 8-10% for BF16 than one row at a time (7B shape, 636 keys, 32
            // layers, AVX2 and AVX-512, medians of 40 interleaved repetitions on the loaded 2-vCPU Xeon).
            byte* krow = j.K + t0 * rowBytes;
            int t = 0;
            for (; t + 4 <= cnt; t += 4, krow += 4 * rowBytes)
                for (int h = 0; h < heads; h++)
                {
                    byte* kh = krow + h / j.Group * headBytes;
                    for (int r = 0; r < 4; r++) Ahead(kh + r * rowBytes, headBytes);
                    if (wide) Dot512x4<TRows>(j.Q + h * hd, kh, rowBytes, hd, S + h * DecodeChunk + t);
                    else Dot256x4<TRows>(j.Q + h * hd, kh, rowBytes, hd, S + h * DecodeChunk + t);
                }
            for (; t < cnt; t++, krow += rowBytes)
                for (int h = 0; h < heads; h++)
                {
                    byte* kh = krow + h / j.Group * headBytes;
                    Ahead(kh, headBytes);
                    S[h * DecodeChunk + t] = wide ? Dot512<TRows>(j.Q + h * hd, kh, hd) : Dot256<TRows>(j.Q + h * hd, kh, hd);
                }

            for (int h = 0; h < heads; h++)
            {
                float* sr = S + h * DecodeChunk, ph = part + h * (hd + 2);
                float mx = RowMax(sr, cnt);
                ph[0] = mx;
                ph[1] = ExpRow(sr, cnt, cnt, mx, j.Scale);
                new Span<float>(ph + 2, hd).Clear();
            }

            byte* vrow = j.V + t0 * rowBytes;
            t = 0;
            for (; t + 4 <= cnt; t += 4, vrow += 4 * rowBytes)
                for (int h = 0; h < heads; h++)
                {
                    byte* vh = vrow + h / j.Group * headBytes;
                    for (int r = 0; r < 4; r++) Ahead(vh + r * rowBytes, headBytes);
                    AddScaled4<TRows>(part + h * (hd + 2) + 2, vh, rowBytes, S + h * DecodeChunk + t, hd, wide);
                }
            for (; t < cnt; t++, vrow += rowBytes)
                for (int h = 0; h < heads; h++)
                {
                    byte* vh = vrow + h / j.Group * headBytes;
                    Ahead(vh, headBytes);
                    AddScaled<TRows>(part + h * (hd + 2) + 2, vh, S[h * DecodeChunk + t], hd, wide);
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
    /// Prefetches the lines 2 KB past the bytes about to be read: one sequential stream per core keeps too few
    /// lines in flight on its own (measured 6-15% faster with it, 1 and 2 threads, 7B shape, 640 keys).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Ahead(byte* p, long bytes)
    {
        byte* b = p + 2048;
        for (long i = 0; i < bytes; i += 64) Sse.Prefetch0(b + i);
    }

    /// <summary>How the decode kernel loads cached elements as F32: F32 as is, BF16 widened by a 16-bit shift.</summary>
    private interface IKvRows
    {
        static abstract int Bytes { get; }
        static abstract Vector256<float> Load8(byte* p);
        static abstract Vector512<float> Load16(byte* p);
        static abstract float Load1(byte* p);
    }

    private readonly struct F32Rows : IKvRows
    {
        public static int Bytes => sizeof(float);
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Load8(byte* p) => Avx.LoadVector256((float*)p);
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Load16(byte* p) => Avx512F.LoadVector512((float*)p);
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Load1(byte* p) => *(float*)p;
    }

    private readonly struct Bf16Rows : IKvRows
    {
        public static int Bytes => sizeof(ushort);
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<float> Load8(byte* p) => Avx2.ShiftLeftLogical(Avx2.ConvertToVector256Int32((ushort*)p), 16).AsSingle();
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector512<float> Load16(byte* p) =>
            Avx512F.ShiftLeftLogical(Avx512F.ConvertToVector512Int32(Avx.LoadVector256((ushort*)p)), 16).AsSingle();
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Load1(byte* p) => Convert.BF16ToF32(*(ushort*)p);
    }

    /// <summary>q·k over n elements, 8 lanes, two accumulators (the F32 AVX2 order).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Dot256<TRows>(float* a, byte* b, int n) where TRows : struct, IKvRows
    {
        var s0 = Vector256<float>.Zero; var s1 = s0;
        int i = 0, e = TRows.Bytes;
        for (; i + 16 <= n; i += 16)
        {
            s0 = Fma.MultiplyAdd(Avx.LoadVector256(a + i), TRows.Load8(b + i * e), s0);
            s1 = Fma.MultiplyAdd(Avx.LoadVector256(a + i + 8), TRows.Load8(b + (i + 8) * e), s1);
        }
        if (i + 8 <= n) { s0 = Fma.MultiplyAdd(Avx.LoadVector256(a + i), TRows.Load8(b + i * e), s0); i += 8; }
        float s = Vector256.Sum(s0 + s1);
        for (; i < n; i++) s = MathF.FusedMultiplyAdd(a[i], TRows.Load1(b + i * e), s);
        return s;
    }

    /// <summary>q·k over n elements, 16 lanes, two accumulators.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Dot512<TRows>(float* a, byte* b, int n) where TRows : struct, IKvRows
    {
        var s0 = Vector512<float>.Zero; var s1 = s0;
        int i = 0, e = TRows.Bytes;
        for (; i + 32 <= n; i += 32)
        {
            s0 = Avx512F.FusedMultiplyAdd(Avx512F.LoadVector512(a + i), TRows.Load16(b + i * e), s0);
            s1 = Avx512F.FusedMultiplyAdd(Avx512F.LoadVector512(a + i + 16), TRows.Load16(b + (i + 16) * e), s1);
        }
        if (i + 16 <= n) { s0 = Avx512F.FusedMultiplyAdd(Avx512F.LoadVector512(a + i), TRows.Load16(b + i * e), s0); i += 16; }
        float s = Vector512.Sum(s0 + s1);
        for (; i < n; i++) s = MathF.FusedMultiplyAdd(a[i], TRows.Load1(b + i * e), s);
        return s;
    }

    /// <summary>acc += w·x over n elements (each lane one FMA: the same result at either width).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void AddScaled<TRows>(float* acc, byte* x, float w, int n, bool wide) where TRows : struct, IKvRows
    {
        int i = 0, e = TRows.Bytes;
        if (wide)
        {
            var b16 = Vector512.Create(w);
            for (; i + 16 <= n; i += 16)
                Avx512F.Store(acc + i, Avx512F.FusedMultiplyAdd(b16, TRows.Load16(x + i * e), Avx512F.LoadVector512(acc + i)));
        }
        var b = Vector256.Create(w);
        for (; i + 8 <= n; i += 8) Avx.Store(acc + i, Fma.MultiplyAdd(b, TRows.Load8(x + i * e), Avx.LoadVector256(acc + i)));
        for (; i < n; i++) acc[i] = MathF.FusedMultiplyAdd(w, TRows.Load1(x + i * e), acc[i]);
    }

    /// <summary>Dot512 of one query head with the same head of 4 rows rb bytes apart, into s[0..3].</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Dot512x4<TRows>(float* a, byte* b, long rb, int n, float* s) where TRows : struct, IKvRows
    {
        var a0 = Vector512<float>.Zero; var c0 = a0; var a1 = a0; var c1 = a0; var a2 = a0; var c2 = a0; var a3 = a0; var c3 = a0;
        byte* b1 = b + rb, b2 = b + 2 * rb, b3 = b + 3 * rb;
        int i = 0, e = TRows.Bytes;
        for (; i + 32 <= n; i += 32)
        {
            var x = Avx512F.LoadVector512(a + i); var y = Avx512F.LoadVector512(a + i + 16);
            int o = i * e, p = (i + 16) * e;
            a0 = Avx512F.FusedMultiplyAdd(x, TRows.Load16(b + o), a0); c0 = Avx512F.FusedMultiplyAdd(y, TRows.Load16(b + p), c0);
            a1 = Avx512F.FusedMultiplyAdd(x, TRows.Load16(b1 + o), a1); c1 = Avx512F.FusedMultiplyAdd(y, TRows.Load16(b1 + p), c1);
            a2 = Avx512F.FusedMultiplyAdd(x, TRows.Load16(b2 + o), a2); c2 = Avx512F.FusedMultiplyAdd(y, TRows.Load16(b2 + p), c2);
            a3 = Avx512F.FusedMultiplyAdd(x, TRows.Load16(b3 + o), a3); c3 = Avx512F.FusedMultiplyAdd(y, TRows.Load16(b3 + p), c3);
        }
        if (i + 16 <= n)
        {
            var x = Avx512F.LoadVector512(a + i);
            int o = i * e;
            a0 = Avx512F.FusedMultiplyAdd(x, TRows.Load16(b + o), a0); a1 = Avx512F.FusedMultiplyAdd(x, TRows.Load16(b1 + o), a1);
            a2 = Avx512F.FusedMultiplyAdd(x, TRows.Load16(b2 + o), a2); a3 = Avx512F.FusedMultiplyAdd(x, TRows.Load16(b3 + o), a3);
            i += 16;
        }
        float s0 = Vector512.Sum(a0 + c0), s1 = Vector512.Sum(a1 + c1), s2 = Vector512.Sum(a2 + c2), s3 = Vector512.Sum(a3 + c3);
        for (; i < n; i++)
        {
            float x = a[i];
            int o = i * e;
            s0 = MathF.FusedMultiplyAdd(x, TRows.Load1(b + o), s0); s1 = MathF.FusedMultiplyAdd(x, TRows.Load1(b1 + o), s1);
            s2 = MathF.FusedMultiplyAdd(x, TRows.Load1(b2 + o), s2); s3 = MathF.FusedMultiplyAdd(x, TRows.Load1(b3 + o), s3);
        }
        s[0] = s0; s[1] = s1; s[2] = s2; s[3] = s3;
    }

    /// <summary>Dot256 of one query head with the same head of 4 rows rb bytes apart, into s[0..3].</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Dot256x4<TRows>(float* a, byte* b, long rb, int n, float* s) where TRows : struct, IKvRows
    {
        var a0 = Vector256<float>.Zero; var c0 = a0; var a1 = a0; var c1 = a0; var a2 = a0; var c2 = a0; var a3 = a0; var c3 = a0;
        byte* b1 = b + rb, b2 = b + 2 * rb, b3 = b + 3 * rb;
        int i = 0, e = TRows.Bytes;
        for (; i + 16 <= n; i += 16)
        {
            var x = Avx.LoadVector256(a + i); var y = Avx.LoadVector256(a + i + 8);
            int o = i * e, p = (i + 8) * e;
            a0 = Fma.MultiplyAdd(x, TRows.Load8(b + o), a0); c0 = Fma.MultiplyAdd(y, TRows.Load8(b + p), c0);
            a1 = Fma.MultiplyAdd(x, TRows.Load8(b1 + o), a1); c1 = Fma.MultiplyAdd(y, TRows.Load8(b1 + p), c1);
            a2 = Fma.MultiplyAdd(x, TRows.Load8(b2 + o), a2); c2 = Fma.MultiplyAdd(y, TRows.Load8(b2 + p), c2);
            a3 = Fma.MultiplyAdd(x, TRows.Load8(b3 + o), a3); c3 = Fma.MultiplyAdd(y, TRows.Load8(b3 + p), c3);
        }
        if (i + 8 <= n)
        {
            var x = Avx.LoadVector256(a + i);
            int o = i * e;
            a0 = Fma.MultiplyAdd(x, TRows.Load8(b + o), a0); a1 = Fma.MultiplyAdd(x, TRows.Load8(b1 + o), a1);
            a2 = Fma.MultiplyAdd(x, TRows.Load8(b2 + o), a2); a3 = Fma.MultiplyAdd(x, TRows.Load8(b3 + o), a3);
            i += 8;
        }
        float s0 = Vector256.Sum(a0 + c0), s1 = Vector256.Sum(a1 + c1), s2 = Vector256.Sum(a2 + c2), s3 = Vector256.Sum(a3 + c3);
        for (; i < n; i++)
        {
            float x = a[i];
            int o = i * e;
            s0 = MathF.FusedMultiplyAdd(x, TRows.Load1(b + o), s0); s1 = MathF.FusedMultiplyAdd(x, TRows.Load1(b1 + o), s1);
            s2 = MathF.FusedMultiplyAdd(x, TRows.Load1(b2 + o), s2); s3 = MathF.FusedMultiplyAdd(x, TRows.Load1(b3 + o), s3);
        }
        s[0] = s0; s[1] = s1; s[2] = s2; s[3] = s3;
    }

    /// <summary>acc += w[0]·x0 + w[1]·x1 + w[2]·x2 + w[3]·x3 for 4 rows rb bytes apart, one FMA at a time in row order.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void AddScaled4<TRows>(float* acc, byte* x, long rb, float* w, int n, bool wide) where TRows : struct, IKvRows
    {
        int i = 0, e = TRows.Bytes;
        byte* x1 = x + rb, x2 = x + 2 * rb, x3 = x + 3 * rb;
        if (wide)
        {
            var w0 = Vector512.Create(w[0]); var w1 = Vector512.Create(w[1]); var w2 = Vector512.Create(w[2]); var w3 = Vector512.Create(w[3]);
            for (; i + 16 <= n; i += 16)
            {
                int o = i * e;
                var y = Avx512F.FusedMultiplyAdd(w0, TRows.Load16(x + o), Avx512F.LoadVector512(acc + i));
                y = Avx512F.FusedMultiplyAdd(w1, TRows.Load16(x1 + o), y);
                y = Avx512F.FusedMultiplyAdd(w2, TRows.Load16(x2 + o), y);
                Avx512F.Store(acc + i, Avx512F.FusedMultiplyAdd(w3, TRows.Load16(x3 + o), y));
            }
        }
        var v0 = Vector256.Create(w[0]); var v1 = Vector256.Create(w[1]); var v2 = Vector256.Create(w[2]); var v3 = Vector256.Create(w[3]);
        for (; i + 8 <= n; i += 8)
        {
            int o = i * e;
            var y = Fma.MultiplyAdd(v0, TRows.Load8(x + o), Avx.LoadVector256(acc + i));
            y = Fma.MultiplyAdd(v1, TRows.Load8(x1 + o), y);
            y = Fma.MultiplyAdd(v2, TRows.Load8(x2 + o), y);
            Avx.Store(acc + i, Fma.MultiplyAdd(v3, TRows.Load8(x3 + o), y));
        }
        for (; i < n; i++)
        {
            int o = i * e;
            float y = MathF.FusedMultiplyAdd(w[0], TRows.Load1(x + o), acc[i]);
            y = MathF.FusedMultiplyAdd(w[1], TRows.Load1(x1 + o), y);
            y = MathF.FusedMultiplyAdd(w[2], TRows.Load1(x2 + o), y);
            acc[i] = MathF.FusedMultiplyAdd(w[3], TRows.Load1(x3 + o), y);
        }
    }

    /// <summary>acc += w·x over n floats (the merge of partials).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void AddScaled(float* acc, float* x, float w, int n) => AddScaled<F32Rows>(acc, (byte*)x, w, n, wide: false);
}
