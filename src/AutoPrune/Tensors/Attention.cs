using System.Buffers;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace AutoPrune.Tensors;

/// <summary>
/// Multi-head scaled dot-product attention over row-major buffers:
/// q [nq, heads·hd], k/v [nk, kvHeads·hd], out [nq, heads·hd]. Query i sees keys j ≤ i + (nk − nq)
/// when causal (the cache prefix is visible to every new query); a query that sees no key gets zeros.
/// Heads share K/V in groups of heads/kvHeads (GQA). Softmax is float32.
/// </summary>
public static unsafe partial class Attention
{
    // Streaming ("online") softmax: keys are visited in tiles and each query row keeps a running max m,
    // sum l and unnormalised output acc, rescaled by exp(m_old − m_new) when the max grows. No score row
    // longer than one tile ever exists, so the working set is independent of nk.
    //
    // QB: query rows per work item; every K/V tile is loaded once per item and reused from L1/L2 by all
    //     QB rows (4-row micro-kernels), cutting K/V traffic 16x against a row-at-a-time kernel. At the
    //     llava-7b shape (640 rows, 32 heads) this still gives 1280 work items for two cores.
    // KT: keys per tile: a K or V tile is KT·hd·4 = 32 KB at hd 128 and the score tile QB·KT·4 = 4 KB.
    // MR: query rows per micro-kernel: 4 rows × 2 keys = 8 accumulators for q·k, 4 rows × 16 columns =
    //     8 accumulators for P·V, leaving registers for the operands.
    private const int QB = 16, KT = 64, MR = 4;

    // When (heads × query blocks) is below MinItems (decode with few heads), keys are also split into
    // ranges of at least MinSplitKeys whose (max, sum, acc) partials are merged afterwards. The split is
    // a function of the shape only, never of the thread count, so results are reproducible.
    private const int MinItems = 16, MinSplitKeys = 256;

    [ThreadStatic] private static float[]? t_scratch;

    /// <summary>
    /// The instruction set <see cref="Forward(float[], int, float[], float[], int, int, int, int, bool, float[])"/> runs with
    /// now: the streaming (causal prefill) kernel is AVX2; the one-query (decode) kernel and the vision tower's dense
    /// per-head GEMMs are AVX-512 where the CPU has it, else AVX2; without AVX2, the row-at-a-time kernel.
    /// </summary>
    public static string Isa => Simd.Level switch
    {
        SimdLevel.Avx512 => "AVX2 (decode and vision AVX-512)",
        SimdLevel.Avx2 => "AVX2",
        _ => "scalar (portable)",
    };

    public static void Forward(float[] q, int nq, float[] k, float[] v, int nk, int heads, int kvHeads, int hd,
        bool causal, float[] output)
    {
        Validate(q, nq, k.Length, v.Length, nk, heads, kvHeads, hd, output);
        if (nq == 0) return;
        if (Simd.Level < SimdLevel.Avx2) { ForwardRowwise(q, nq, k, v, nk, heads, kvHeads, hd, causal, output); return; }
        // One query sees every key whether causal or not (the cache is all in its past).
        if (nq == 1 && nk > 0 && DecodeByKeyRanges) { ForwardDecode(q, k, v, nk, heads, kvHeads, hd, output); return; }
        if (!causal && nq == nk && nq >= DenseMinRows && DenseLongSequences) { ForwardDense(q, nq, k, v, heads, kvHeads, hd, output); return; }

        int qBlocks = (nq + QB - 1) / QB, baseItems = heads * qBlocks;
        int nSplit = 1, splitLen = Math.Max(nk, 1);
        if (baseItems < MinItems && nk >= 2 * MinSplitKeys)
        {
            nSplit = Math.Min((MinItems + baseItems - 1) / baseItems, nk / MinSplitKeys);
            splitLen = ((nk + nSplit - 1) / nSplit + KT - 1) / KT * KT;
            nSplit = (nk + splitLen - 1) / splitLen;
        }
        int items = baseItems * nSplit, partStride = QB * (hd + 2);
        float[]? partials = nSplit > 1 ? ArrayPool<float>.Shared.Rent(items * partStride) : null;
        try
        {
            fixed (float* pq = q, pk = k, pv = v, po = output, pp = partials)
            {
                var job = new Job
                {
                    Q = pq, K = pk, V = pv, Out = po, Partials = pp, Nq = nq, Nk = nk, Group = heads / kvHeads, Hd = hd,
                    QDim = heads * hd, KvDim = kvHeads * hd, Offset = nk - nq, Causal = causal, Scale = 1f / MathF.Sqrt(hd),
                    QBlocks = qBlocks, NSplit = nSplit, SplitLen = splitLen,
                };
                // Tiny problems (the test model's decode) are cheaper on the calling thread than scheduling.
                bool serial = Parallelism.MaxThreads == 1 || items == 1 || (long)nq * nk * heads * hd < 1 << 16;
                if (serial)
                    for (int it = 0; it < items; it++) RunItem(job, it);
                else
                    Parallelism.For(items, job, static (ref readonly Job j, int it) => RunItem(j, it));
                if (nSplit > 1) Merge(job, baseItems);
            }
        }
        finally
        {
            if (partials != null) ArrayPool<float>.Shared.Return(partials);
        }
    }

    /// <summary>
    /// The same attention over BF16 keys and values (a BF16 KV cache's rows). One query (decode) runs the decode kernel
    /// on the BF16 rows, widening each element as it is loaded; more queries (prefill), or no AVX2, widen rows [0, nk)
    /// into pooled F32 buffers and run the F32 kernels. Either way the output equals the F32 overload's on the widened
    /// rows, bit for bit.
    /// </summary>
    public static void Forward(float[] q, int nq, ushort[] k, ushort[] v, int nk, int heads, int kvHeads, int hd,
        bool causal, float[] output)
    {
        Validate(q, nq, k.Length, v.Length, nk, heads, kvHeads, hd, output);
        if (nq == 0) return;
        if (nq == 1 && nk > 0 && Simd.Level >= SimdLevel.Avx2 && DecodeByKeyRanges)
        {
            ForwardDecode(q, k, v, nk, heads, kvHeads, hd, output);
            return;
        }
        int n = nk * kvHeads * hd;
        var pool = ArrayPool<float>.Shared;
        float[] kf = pool.Rent(Math.Max(n, 1)), vf = pool.Rent(Math.Max(n, 1));
        try
        {
            Convert.BF16ToF32(k.AsSpan(0, n), kf);
            Convert.BF16ToF32(v.AsSpan(0, n), vf);
            Forward(q, nq, kf, vf, nk, heads, kvHeads, hd, causal, output);
        }
        finally { pool.Return(kf); pool.Return(vf); }
    }

    private static void Validate(float[] q, int nq, long kLength, long vLength, int nk, int heads, int kvHeads, int hd, float[] output)
    {
        if (nq < 0 || nk < 0 || hd <= 0 || heads <= 0 || kvHeads <= 0 || heads % kvHeads != 0)
            throw new ArgumentException($"bad attention shape: nq {nq}, nk {nk}, heads {heads}, kvHeads {kvHeads}, hd {hd}");
        if (q.Length < (long)nq * heads * hd || output.Length < (long)nq * heads * hd)
            throw new ArgumentException($"q/output need {nq}x{heads * hd} floats");
        if (kLength < (long)nk * kvHeads * hd || vLength < (long)nk * kvHeads * hd)
            throw new ArgumentException($"k/v need {nk}x{kvHeads * hd} floats");
    }

    private struct Job
    {
        public float* Q, K, V, Out, Partials;
        public int Nq, Nk, Group, Hd, QDim, KvDim, Offset, QBlocks, NSplit, SplitLen;
        public bool Causal;
        public float Scale;
    }

    /// <summary>Work item → (head, query block, key split): online softmax over that key range.</summary>
    private static void RunItem(in Job j, int item)
    {
        int split = item % j.NSplit, rest = item / j.NSplit;
        int h = rest / j.QBlocks, qb = rest % j.QBlocks;
        int i0 = qb * QB, rows = Math.Min(QB, j.Nq - i0);
        int k0 = split * j.SplitLen, k1 = Math.Min(j.Nk, k0 + j.SplitLen);
        int hd = j.Hd;

        var scratch = t_scratch;
        int need = QB * KT + QB * hd + 3 * QB;
        if (scratch == null || scratch.Length < need) t_scratch = scratch = new float[need];
        fixed (float* sp = scratch)
        {
            float* S = sp, acc = sp + QB * KT, m = acc + QB * hd, l = m + QB, alpha = l + QB;
            Span<int> lim = stackalloc int[QB];
            for (int r = 0; r < rows; r++) lim[r] = j.Causal ? Math.Clamp(i0 + r + j.Offset + 1, k0, k1) : k1;
            Stream(j, h, i0, rows, k0, lim, S, acc, m, l, alpha);

            if (j.NSplit == 1)
            {
                for (int r = 0; r < rows; r++)
                {
                    float* o = j.Out + (long)(i0 + r) * j.QDim + h * hd;
                    float inv = l[r] > 0 ? 1f / l[r] : 0f;
                    Scale(acc + r * hd, inv, o, hd);
                }
            }
            else
            {
                // Partials: per row [m, l, acc[hd]], merged in split order by Merge.
                float* part = j.Partials + (long)item * QB * (hd + 2);
                for (int r = 0; r < rows; r++)
                {
                    float* pr = part + r * (hd + 2);
                    pr[0] = m[r];
                    pr[1] = l[r];
                    new ReadOnlySpan<float>(acc + r * hd, hd).CopyTo(new Span<float>(pr + 2, hd));
                }
            }
        }
    }

    /// <summary>Combines the key-split partials of each row: acc = Σ_s acc_s·e^{(m_s−M)·scale}, likewise l.</summary>
    private static void Merge(in Job j, int baseItems)
    {
        int hd = j.Hd, stride = QB * (hd + 2);
        for (int b = 0; b < baseItems; b++)
        {
            int h = b / j.QBlocks, i0 = b % j.QBlocks * QB, rows = Math.Min(QB, j.Nq - i0);
            float* parts = j.Partials + (long)b * j.NSplit * stride;
            for (int r = 0; r < rows; r++)
            {
                float mx = float.NegativeInfinity;
                for (int s = 0; s < j.NSplit; s++)
                {
                    float* pr = parts + s * stride + r * (hd + 2);
                    if (pr[1] > 0) mx = MathF.Max(mx, pr[0]);
                }
                float* o = j.Out + (long)(i0 + r) * j.QDim + h * hd;
                new Span<float>(o, hd).Clear();
                float sum = 0;
                for (int s = 0; s < j.NSplit; s++)
                {
                    float* pr = parts + s * stride + r * (hd + 2);
                    if (pr[1] <= 0) continue;
                    float w = MathF.Exp((pr[0] - mx) * j.Scale);
                    sum += pr[1] * w;
                    for (int c = 0; c < hd; c++) o[c] = MathF.FusedMultiplyAdd(pr[2 + c], w, o[c]);
                }
                Scale(o, sum > 0 ? 1f / sum : 0f, o, hd);
            }
        }
    }

    /// <summary>
    /// Online softmax of query rows [i0, i0+rows) of head h over keys [k0, lim[r]) (lim non-decreasing in r),
    /// leaving the running max (of raw dots), sum and unnormalised output of each row in m, l, acc.
    /// </summary>
    private static void Stream(in Job j, int h, int i0, int rows, int k0, ReadOnlySpan<int> lim,
        float* S, float* acc, float* m, float* l, float* alpha)
    {
        int hd = j.Hd, kh = h / j.Group;
        float scale = j.Scale;
        for (int r = 0; r < QB; r++) { m[r] = float.NegativeInfinity; l[r] = 0; }
        new Span<float>(acc, QB * hd).Clear();
        float* qBase = j.Q + (long)i0 * j.QDim + h * hd;
        float* kBase = j.K + kh * hd, vBase = j.V + kh * hd;
        int maxLim = lim[rows - 1];

        for (int t0 = k0; t0 < maxLim; t0 += KT)
        {
            int tEnd = Math.Min(t0 + KT, maxLim);
            for (int g = 0; g < rows; g += MR)
            {
                int gr = Math.Min(MR, rows - g);
                int cnt = Math.Min(tEnd, lim[g + gr - 1]) - t0;
                if (cnt <= 0) continue;
                float* Sg = S + g * KT;
                float* kt = kBase + (long)t0 * j.KvDim;
                if (gr == 1)
                {
                    for (int c = 0; c < cnt; c += 8) Dot1x8(qBase + (long)g * j.QDim, kt, c, cnt, j.KvDim, hd, Sg + c);
                }
                else
                {
                    float* q0 = qBase + (long)g * j.QDim;
                    float* q1 = qBase + (long)(g + Math.Min(1, gr - 1)) * j.QDim;
                    float* q2 = qBase + (long)(g + Math.Min(2, gr - 1)) * j.QDim;
                    float* q3 = qBase + (long)(g + Math.Min(3, gr - 1)) * j.QDim;
                    for (int c = 0; c < cnt; c += 2)
                    {
                        float* ka = kt + (long)c * j.KvDim;
                        float* kb = c + 1 < cnt ? ka + j.KvDim : ka;
                        Dot4x2(q0, q1, q2, q3, ka, kb, hd, Sg + c, KT);
                    }
                }

                // Softmax bookkeeping per row; scores beyond a row's own limit become p = 0.
                int rowsHere = gr == 1 ? 1 : MR;
                for (int r = 0; r < rowsHere; r++)
                {
                    float* sr = Sg + r * KT;
                    int rc = r < gr ? Math.Min(cnt, lim[g + r] - t0) : 0;
                    if (rc <= 0)
                    {
                        ZeroTo(sr, cnt);
                        alpha[g + r] = 1f;
                        continue;
                    }
                    float mOld = m[g + r], mNew = MathF.Max(mOld, RowMax(sr, rc));
                    float sum = ExpRow(sr, cnt, rc, mNew, scale);
                    float a = MathF.Exp((mOld - mNew) * scale); // 0 on the first tile (mOld = −∞)
                    alpha[g + r] = a;
                    l[g + r] = l[g + r] * a + sum;
                    m[g + r] = mNew;
                }

                float* vt = vBase + (long)t0 * j.KvDim;
                if (gr == 1) Pv1(Sg, vt, cnt, j.KvDim, hd, alpha[g], acc + g * hd);
                else Pv4(Sg, vt, cnt, j.KvDim, hd, alpha + g, acc + g * hd);
            }
        }
    }

    /// <summary>Sums of 8 vectors at once: result lane i = Σ lanes of a_i (same add tree for every lane).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Reduce8(Vector256<float> a0, Vector256<float> a1, Vector256<float> a2, Vector256<float> a3,
        Vector256<float> a4, Vector256<float> a5, Vector256<float> a6, Vector256<float> a7)
    {
        var u0 = Avx.HorizontalAdd(Avx.HorizontalAdd(a0, a1), Avx.HorizontalAdd(a2, a3));
        var u1 = Avx.HorizontalAdd(Avx.HorizontalAdd(a4, a5), Avx.HorizontalAdd(a6, a7));
        return Avx.Add(Avx.Permute2x128(u0, u1, 0x20), Avx.Permute2x128(u0, u1, 0x31));
    }

    /// <summary>
    /// Raw dots of 4 query rows with 2 keys, written to s[r·ld + 0..1]. One accumulator per dot, summed
    /// by <see cref="Reduce8"/> then the scalar tail: the same order as <see cref="Dot1x8"/>, so a row's
    /// scores do not depend on which micro-kernel computed them.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Dot4x2(float* q0, float* q1, float* q2, float* q3, float* ka, float* kb, int hd, float* s, int ld)
    {
        var a0 = Vector256<float>.Zero; var a1 = a0; var a2 = a0; var a3 = a0;
        var a4 = a0; var a5 = a0; var a6 = a0; var a7 = a0;
        int d = 0;
        for (; d + 8 <= hd; d += 8)
        {
            var x = Avx.LoadVector256(ka + d); var y = Avx.LoadVector256(kb + d);
            var v0 = Avx.LoadVector256(q0 + d); a0 = Fma.MultiplyAdd(v0, x, a0); a1 = Fma.MultiplyAdd(v0, y, a1);
            var v1 = Avx.LoadVector256(q1 + d); a2 = Fma.MultiplyAdd(v1, x, a2); a3 = Fma.MultiplyAdd(v1, y, a3);
            var v2 = Avx.LoadVector256(q2 + d); a4 = Fma.MultiplyAdd(v2, x, a4); a5 = Fma.MultiplyAdd(v2, y, a5);
            var v3 = Avx.LoadVector256(q3 + d); a6 = Fma.MultiplyAdd(v3, x, a6); a7 = Fma.MultiplyAdd(v3, y, a7);
        }
        var r = Reduce8(a0, a1, a2, a3, a4, a5, a6, a7);
        if (d < hd)
        {
            float* t = stackalloc float[8];
            Avx.Store(t, r);
            for (; d < hd; d++)
            {
                t[0] = MathF.FusedMultiplyAdd(q0[d], ka[d], t[0]); t[1] = MathF.FusedMultiplyAdd(q0[d], kb[d], t[1]);
                t[2] = MathF.FusedMultiplyAdd(q1[d], ka[d], t[2]); t[3] = MathF.FusedMultiplyAdd(q1[d], kb[d], t[3]);
                t[4] = MathF.FusedMultiplyAdd(q2[d], ka[d], t[4]); t[5] = MathF.FusedMultiplyAdd(q2[d], kb[d], t[5]);
                t[6] = MathF.FusedMultiplyAdd(q3[d], ka[d], t[6]); t[7] = MathF.FusedMultiplyAdd(q3[d], kb[d], t[7]);
            }
            r = Avx.LoadVector256(t);
        }
        var lo = r.GetLower(); var hi = r.GetUpper();
        Sse.StoreLow(s, lo); Sse.StoreHigh(s + ld, lo);
        Sse.StoreLow(s + 2 * ld, hi); Sse.StoreHigh(s + 3 * ld, hi);
    }

    /// <summary>
    /// Raw dots of one query row with keys c..c+7 of a tile (keys ≥ cnt repeat the last valid one; their
    /// results land in the tile's spare columns and are masked later). Writes 8 floats at s.
    /// </summary>
    private static void Dot1x8(float* q, float* kt, int c, int cnt, int ld, int hd, float* s)
    {
        float* k0 = kt + (long)c * ld;
        float* k1 = kt + (long)Math.Min(c + 1, cnt - 1) * ld, k2 = kt + (long)Math.Min(c + 2, cnt - 1) * ld;
        float* k3 = kt + (long)Math.Min(c + 3, cnt - 1) * ld, k4 = kt + (long)Math.Min(c + 4, cnt - 1) * ld;
        float* k5 = kt + (long)Math.Min(c + 5, cnt - 1) * ld, k6 = kt + (long)Math.Min(c + 6, cnt - 1) * ld;
        float* k7 = kt + (long)Math.Min(c + 7, cnt - 1) * ld;
        var a0 = Vector256<float>.Zero; var a1 = a0; var a2 = a0; var a3 = a0;
        var a4 = a0; var a5 = a0; var a6 = a0; var a7 = a0;
        int d = 0;
        for (; d + 8 <= hd; d += 8)
        {
            var x = Avx.LoadVector256(q + d);
            a0 = Fma.MultiplyAdd(x, Avx.LoadVector256(k0 + d), a0); a1 = Fma.MultiplyAdd(x, Avx.LoadVector256(k1 + d), a1);
            a2 = Fma.MultiplyAdd(x, Avx.LoadVector256(k2 + d), a2); a3 = Fma.MultiplyAdd(x, Avx.LoadVector256(k3 + d), a3);
            a4 = Fma.MultiplyAdd(x, Avx.LoadVector256(k4 + d), a4); a5 = Fma.MultiplyAdd(x, Avx.LoadVector256(k5 + d), a5);
            a6 = Fma.MultiplyAdd(x, Avx.LoadVector256(k6 + d), a6); a7 = Fma.MultiplyAdd(x, Avx.LoadVector256(k7 + d), a7);
        }
        Avx.Store(s, Reduce8(a0, a1, a2, a3, a4, a5, a6, a7));
        for (; d < hd; d++)
        {
            float x = q[d];
            s[0] = MathF.FusedMultiplyAdd(x, k0[d], s[0]); s[1] = MathF.FusedMultiplyAdd(x, k1[d], s[1]);
            s[2] = MathF.FusedMultiplyAdd(x, k2[d], s[2]); s[3] = MathF.FusedMultiplyAdd(x, k3[d], s[3]);
            s[4] = MathF.FusedMultiplyAdd(x, k4[d], s[4]); s[5] = MathF.FusedMultiplyAdd(x, k5[d], s[5]);
            s[6] = MathF.FusedMultiplyAdd(x, k6[d], s[6]); s[7] = MathF.FusedMultiplyAdd(x, k7[d], s[7]);
        }
    }

    private static readonly Vector256<float> s_laneIndex = Vector256.Create(0f, 1, 2, 3, 4, 5, 6, 7);

    private static float RowMax(float* s, int n)
    {
        var mx = Vector256.Create(float.NegativeInfinity);
        int c = 0;
        for (; c + 8 <= n; c += 8) mx = Avx.Max(mx, Avx.LoadVector256(s + c));
        if (c < n)
        {
            var keep = Avx.CompareLessThan(s_laneIndex, Vector256.Create((float)(n - c)));
            mx = Avx.Max(mx, Avx.BlendVariable(Vector256.Create(float.NegativeInfinity), Avx.LoadVector256(s + c), keep));
        }
        var m4 = Sse.Max(mx.GetLower(), mx.GetUpper());
        return MathF.Max(MathF.Max(m4[0], m4[1]), MathF.Max(m4[2], m4[3]));
    }

    /// <summary>s[c] = exp((s[c] − max)·scale) for c &lt; rc, 0 for rc ≤ c &lt; cnt (whole 8-lane chunks). Returns Σ.</summary>
    private static float ExpRow(float* s, int cnt, int rc, float max, float scale)
    {
        var sum = Vector256<float>.Zero;
        var vm = Vector256.Create(max); var vs = Vector256.Create(scale);
        for (int c = 0; c < cnt; c += 8)
        {
            var p = Vector256.Exp(Avx.Multiply(Avx.Subtract(Avx.LoadVector256(s + c), vm), vs));
            if (c + 8 > rc) p = Avx.And(p, Avx.CompareLessThan(s_laneIndex, Vector256.Create((float)(rc - c))));
            Avx.Store(s + c, p);
            sum = Avx.Add(sum, p);
        }
        return Vector256.Sum(sum);
    }

    private static void ZeroTo(float* s, int cnt)
    {
        for (int c = 0; c < cnt; c += 8) Avx.Store(s + c, Vector256<float>.Zero);
    }

    /// <summary>acc[r] = acc[r]·alpha[r] + Σ_j p[r, j]·v_j for 4 rows; 4 rows × 16 columns in registers per pass.</summary>
    private static void Pv4(float* p, float* vt, int cnt, int ld, int hd, float* alpha, float* acc)
    {
        float* p0 = p, p1 = p + KT, p2 = p + 2 * KT, p3 = p + 3 * KT;
        float* c0 = acc, c1 = acc + hd, c2 = acc + 2 * hd, c3 = acc + 3 * hd;
        var al0 = Vector256.Create(alpha[0]); var al1 = Vector256.Create(alpha[1]);
        var al2 = Vector256.Create(alpha[2]); var al3 = Vector256.Create(alpha[3]);
        int c = 0;
        for (; c + 16 <= hd; c += 16)
        {
            var x0 = Avx.Multiply(Avx.LoadVector256(c0 + c), al0); var y0 = Avx.Multiply(Avx.LoadVector256(c0 + c + 8), al0);
            var x1 = Avx.Multiply(Avx.LoadVector256(c1 + c), al1); var y1 = Avx.Multiply(Avx.LoadVector256(c1 + c + 8), al1);
            var x2 = Avx.Multiply(Avx.LoadVector256(c2 + c), al2); var y2 = Avx.Multiply(Avx.LoadVector256(c2 + c + 8), al2);
            var x3 = Avx.Multiply(Avx.LoadVector256(c3 + c), al3); var y3 = Avx.Multiply(Avx.LoadVector256(c3 + c + 8), al3);
            float* vr = vt + c;
            for (int t = 0; t < cnt; t++, vr += ld)
            {
                var va = Avx.LoadVector256(vr); var vb = Avx.LoadVector256(vr + 8);
                var b = Vector256.Create(p0[t]); x0 = Fma.MultiplyAdd(b, va, x0); y0 = Fma.MultiplyAdd(b, vb, y0);
                b = Vector256.Create(p1[t]); x1 = Fma.MultiplyAdd(b, va, x1); y1 = Fma.MultiplyAdd(b, vb, y1);
                b = Vector256.Create(p2[t]); x2 = Fma.MultiplyAdd(b, va, x2); y2 = Fma.MultiplyAdd(b, vb, y2);
                b = Vector256.Create(p3[t]); x3 = Fma.MultiplyAdd(b, va, x3); y3 = Fma.MultiplyAdd(b, vb, y3);
            }
            Avx.Store(c0 + c, x0); Avx.Store(c0 + c + 8, y0); Avx.Store(c1 + c, x1); Avx.Store(c1 + c + 8, y1);
            Avx.Store(c2 + c, x2); Avx.Store(c2 + c + 8, y2); Avx.Store(c3 + c, x3); Avx.Store(c3 + c + 8, y3);
        }
        for (; c + 8 <= hd; c += 8)
        {
            var x0 = Avx.Multiply(Avx.LoadVector256(c0 + c), al0); var x1 = Avx.Multiply(Avx.LoadVector256(c1 + c), al1);
            var x2 = Avx.Multiply(Avx.LoadVector256(c2 + c), al2); var x3 = Avx.Multiply(Avx.LoadVector256(c3 + c), al3);
            float* vr = vt + c;
            for (int t = 0; t < cnt; t++, vr += ld)
            {
                var va = Avx.LoadVector256(vr);
                x0 = Fma.MultiplyAdd(Vector256.Create(p0[t]), va, x0); x1 = Fma.MultiplyAdd(Vector256.Create(p1[t]), va, x1);
                x2 = Fma.MultiplyAdd(Vector256.Create(p2[t]), va, x2); x3 = Fma.MultiplyAdd(Vector256.Create(p3[t]), va, x3);
            }
            Avx.Store(c0 + c, x0); Avx.Store(c1 + c, x1); Avx.Store(c2 + c, x2); Avx.Store(c3 + c, x3);
        }
        for (int r = 0; r < MR; r++) PvTail(p + r * KT, vt, cnt, ld, c, hd, alpha[r], acc + r * hd);
    }

    /// <summary>
    /// One-row P·V (decode, block tails): key-outer with acc in L1, so each V row is read once, front to
    /// back. (Column passes over the tile, as in Pv4, re-touch the rows a few cache lines at a time; for
    /// decode, which streams K/V from DRAM, that measured ~1.5x slower.) Same per-element order as Pv4.
    /// </summary>
    private static void Pv1(float* p, float* vt, int cnt, int ld, int hd, float alpha, float* acc)
    {
        var al = Vector256.Create(alpha);
        int c8 = hd & ~7;
        for (int c = 0; c < c8; c += 8) Avx.Store(acc + c, Avx.Multiply(Avx.LoadVector256(acc + c), al));
        for (int c = c8; c < hd; c++) acc[c] *= alpha;
        float* vr = vt;
        for (int t = 0; t < cnt; t++, vr += ld)
        {
            var b = Vector256.Create(p[t]);
            int c = 0;
            for (; c + 16 <= c8; c += 16)
            {
                Avx.Store(acc + c, Fma.MultiplyAdd(b, Avx.LoadVector256(vr + c), Avx.LoadVector256(acc + c)));
                Avx.Store(acc + c + 8, Fma.MultiplyAdd(b, Avx.LoadVector256(vr + c + 8), Avx.LoadVector256(acc + c + 8)));
            }
            if (c < c8) Avx.Store(acc + c, Fma.MultiplyAdd(b, Avx.LoadVector256(vr + c), Avx.LoadVector256(acc + c)));
            for (c = c8; c < hd; c++) acc[c] = MathF.FusedMultiplyAdd(p[t], vr[c], acc[c]);
        }
    }

    private static void PvTail(float* p, float* vt, int cnt, int ld, int c0, int hd, float alpha, float* acc)
    {
        for (int c = c0; c < hd; c++)
        {
            float x = acc[c] * alpha;
            for (int t = 0; t < cnt; t++) x = MathF.FusedMultiplyAdd(p[t], vt[(long)t * ld + c], x);
            acc[c] = x;
        }
    }

    private static void Scale(float* x, float s, float* y, int n) =>
        TensorPrimitives.Multiply(new ReadOnlySpan<float>(x, n), s, new Span<float>(y, n));

    /// <summary>
    /// The previous kernel, one query row at a time with a full score row per query: the portable
    /// fallback without AVX2/FMA, and the baseline for the attention benchmark.
    /// </summary>
    internal static void ForwardRowwise(float[] q, int nq, float[] k, float[] v, int nk, int heads, int kvHeads, int hd,
        bool causal, float[] output)
    {
        int qDim = heads * hd, kvDim = kvHeads * hd, group = heads / kvHeads, offset = nk - nq;
        float scale = 1f / MathF.Sqrt(hd);
        int qBlocks = (nq + RowwiseQBlock - 1) / RowwiseQBlock;
        var job = new RowwiseJob { Q = q, K = k, V = v, Output = output, Nq = nq, Nk = nk, Hd = hd, QDim = qDim, KvDim = kvDim,
            Group = group, Offset = offset, QBlocks = qBlocks, Causal = causal, Scale = scale };
        Parallelism.For(heads * qBlocks, job, static (ref readonly RowwiseJob j, int item) =>
        {
            int h = item / j.QBlocks, qb = item % j.QBlocks, kh = h / j.Group, hd = j.Hd;
            int i1 = Math.Min(j.Nq, (qb + 1) * RowwiseQBlock);
            var scores = Scores(j.Nk);
            for (int i = qb * RowwiseQBlock; i < i1; i++)
            {
                int len = j.Causal ? Math.Clamp(i + j.Offset + 1, 0, j.Nk) : j.Nk;
                var s = scores.AsSpan(0, len);
                var qi = j.Q.AsSpan(i * j.QDim + h * hd, hd);
                for (int t = 0; t < len; t++) s[t] = TensorPrimitives.Dot(qi, j.K.AsSpan(t * j.KvDim + kh * hd, hd)) * j.Scale;
                Ops.SoftmaxReference(s);
                var o = j.Output.AsSpan(i * j.QDim + h * hd, hd);
                o.Clear();
                for (int t = 0; t < len; t++) TensorPrimitives.MultiplyAdd(j.V.AsSpan(t * j.KvDim + kh * hd, hd), s[t], o, o);
            }
        });
    }

    private const int RowwiseQBlock = 32;

    private struct RowwiseJob
    {
        public float[] Q, K, V, Output;
        public int Nq, Nk, Hd, QDim, KvDim, Group, Offset, QBlocks;
        public bool Causal;
        public float Scale;
    }

    [ThreadStatic] private static float[]? t_scores;

    /// <summary>This thread's score row of at least <paramref name="n"/> floats (reused across calls).</summary>
    private static float[] Scores(int n)
    {
        var s = t_scores;
        if (s == null || s.Length < n) t_scores = s = new float[Math.Max(n, 64)];
        return s;
    }

    /// <summary>Scalar reference for tests: double-precision dots, softmax and weighted sums, one row at a time.</summary>
    public static void ForwardReference(float[] q, int nq, float[] k, float[] v, int nk, int heads, int kvHeads, int hd,
        bool causal, float[] output)
    {
        Validate(q, nq, k.Length, v.Length, nk, heads, kvHeads, hd, output);
        int qDim = heads * hd, kvDim = kvHeads * hd, group = heads / kvHeads, offset = nk - nq;
        double scale = 1.0 / Math.Sqrt(hd);
        var s = new double[nk];
        var o = new double[hd];
        for (int h = 0; h < heads; h++)
        {
            int kh = h / group;
            for (int i = 0; i < nq; i++)
            {
                int len = causal ? Math.Clamp(i + offset + 1, 0, nk) : nk;
                double max = double.NegativeInfinity, sum = 0;
                for (int j = 0; j < len; j++)
                {
                    double d = 0;
                    for (int c = 0; c < hd; c++) d += (double)q[i * qDim + h * hd + c] * k[j * kvDim + kh * hd + c];
                    s[j] = d * scale;
                    max = Math.Max(max, s[j]);
                }
                Array.Clear(o);
                for (int j = 0; j < len; j++)
                {
                    double p = Math.Exp(s[j] - max);
                    sum += p;
                    for (int c = 0; c < hd; c++) o[c] += p * v[j * kvDim + kh * hd + c];
                }
                for (int c = 0; c < hd; c++) output[i * qDim + h * hd + c] = len == 0 ? 0f : (float)(o[c] / sum);
            }
        }
    }

    /// <summary>
    /// Attention probabilities of chosen query rows against chosen key rows, per head:
    /// result[h, r, c] = softmax over all visible keys of query queryRows[r], read at key keyCols[c]
    /// (zero where the key is masked). Only these rows are computed; the L×L map never exists.
    /// </summary>
    public static float[] Probabilities(float[] q, float[] k, int nq, int nk, int heads, int kvHeads, int hd, bool causal,
        ReadOnlySpan<int> queryRows, ReadOnlySpan<int> keyCols)
    {
        int qDim = heads * hd, kvDim = kvHeads * hd, group = heads / kvHeads, offset = nk - nq;
        int nr = queryRows.Length, nc = keyCols.Length;
        float scale = 1f / MathF.Sqrt(hd);
        var result = new float[heads * nr * nc];
        var rows = queryRows.ToArray();
        var cols = keyCols.ToArray();
        foreach (var r in rows) if ((uint)r >= (uint)nq) throw new ArgumentOutOfRangeException(nameof(queryRows));
        if (Simd.Level < SimdLevel.Avx2 || nr == 0)
        {
            ProbabilitiesRowwise(q, k, nk, heads, group, hd, causal, offset, scale, rows, cols, result);
            return result;
        }
        // Work items: (head, group of MR selected rows) scored with the 4-row dot kernel.
        int groups = (nr + MR - 1) / MR;
        fixed (float* pq = q, pk = k)
        {
            var job = new ProbabilitiesJob { Q = pq, K = pk, Rows = rows, Cols = cols, Result = result, Nk = nk, Hd = hd, QDim = qDim,
                KvDim = kvDim, Group = group, Offset = offset, Groups = groups, Causal = causal, Scale = scale };
            Parallelism.For(heads * groups, job, static (ref readonly ProbabilitiesJob j, int item) => ProbabilitiesItem(j, item));
        }
        return result;
    }

    private struct ProbabilitiesJob
    {
        public float* Q, K;
        public int[] Rows, Cols;
        public float[] Result;
        public int Nk, Hd, QDim, KvDim, Group, Offset, Groups;
        public bool Causal;
        public float Scale;
    }

    /// <summary>Work item (head, group of MR selected rows) of <see cref="Probabilities"/>, scored with the 4-row dot kernel.</summary>
    private static void ProbabilitiesItem(in ProbabilitiesJob j, int item)
    {
        int nk = j.Nk, hd = j.Hd, nr = j.Rows.Length, nc = j.Cols.Length;
        int h = item / j.Groups, g0 = item % j.Groups * MR, gr = Math.Min(MR, nr - g0), kh = h / j.Group;
        Span<int> len = stackalloc int[MR];
        int maxLen = 0;
        for (int r = 0; r < gr; r++)
        {
            len[r] = j.Causal ? Math.Clamp(j.Rows[g0 + r] + j.Offset + 1, 0, nk) : nk;
            maxLen = Math.Max(maxLen, len[r]);
        }
        fixed (float* sp = Scores(MR * (nk + 2) + 8))
        {
            float* qb = j.Q + h * hd, kb = j.K + kh * hd;
            float* q0 = qb + (long)j.Rows[g0] * j.QDim;
            float* q1 = qb + (long)j.Rows[g0 + Math.Min(1, gr - 1)] * j.QDim;
            float* q2 = qb + (long)j.Rows[g0 + Math.Min(2, gr - 1)] * j.QDim;
            float* q3 = qb + (long)j.Rows[g0 + Math.Min(3, gr - 1)] * j.QDim;
            for (int t = 0; t < maxLen; t += 2)
            {
                float* ka = kb + (long)t * j.KvDim;
                Dot4x2(q0, q1, q2, q3, ka, t + 1 < maxLen ? ka + j.KvDim : ka, hd, sp + t, nk + 2);
            }
            for (int r = 0; r < gr; r++)
            {
                var s = new Span<float>(sp + r * (nk + 2), len[r]);
                TensorPrimitives.Multiply(s, j.Scale, s);
                Ops.Softmax(s);
                int baseIdx = (h * nr + g0 + r) * nc;
                for (int c = 0; c < nc; c++) j.Result[baseIdx + c] = (uint)j.Cols[c] < (uint)len[r] ? s[j.Cols[c]] : 0f;
            }
        }
    }

    private static void ProbabilitiesRowwise(float[] q, float[] k, int nk, int heads, int group, int hd, bool causal, int offset,
        float scale, int[] rows, int[] cols, float[] result)
    {
        int qDim = heads * hd, kvDim = heads / group * hd, nr = rows.Length, nc = cols.Length;
        var s = new float[nk];
        for (int h = 0; h < heads; h++)
            for (int r = 0; r < nr; r++)
            {
                int i = rows[r], kh = h / group, len = causal ? Math.Clamp(i + offset + 1, 0, nk) : nk;
                var qi = q.AsSpan(i * qDim + h * hd, hd);
                for (int j = 0; j < len; j++) s[j] = TensorPrimitives.Dot(qi, k.AsSpan(j * kvDim + kh * hd, hd)) * scale;
                Ops.Softmax(s.AsSpan(0, len));
                for (int c = 0; c < nc; c++) result[(h * nr + r) * nc + c] = (uint)cols[c] < (uint)len ? s[cols[c]] : 0f;
            }
    }

    /// <summary>Mean over heads of a [heads, rows, cols] probability block.</summary>
    public static float[] MeanOverHeads(float[] perHead, int heads, int rows, int cols)
    {
        int n = rows * cols;
        var mean = new float[n];
        for (int h = 0; h < heads; h++) TensorPrimitives.Add(mean, perHead.AsSpan(h * n, n), mean);
        TensorPrimitives.Multiply(mean, 1f / heads, mean);
        return mean;
    }
}
