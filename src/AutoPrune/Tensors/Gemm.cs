using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using static AutoPrune.Tensors.GemmKernel;

namespace AutoPrune.Tensors;

/// <summary>
/// Y[M,N] = X[M,K]·W[N,K]ᵀ (+bias) on the CPU. Two paths:
/// <list type="bullet">
/// <item>M &gt;= <see cref="SmallM"/> (prefill): Goto-style packed GEMM. X is packed once per call into 6-row
/// panels (shared, read-only), W is packed per (N chunk, K block) into 16-column panels converted to
/// F32, and each thread owns whole N chunks so W is read and converted exactly once.</item>
/// <item>M &lt; <see cref="SmallM"/> (decode, small batches): memory-bound GEMV that streams each W row once,
/// widening BF16/F16 in registers, 4 W rows at a time.</item>
/// </list>
/// </summary>
public static unsafe class Gemm
{
    /// <summary>
    /// Below this many rows of X the packed path cannot amortise packing (converting + transposing)
    /// W, so stream W instead. Measured at N=K=4096 BF16, 2 threads: streaming wins up to M=16
    /// (63 vs 55 GFLOP/s), the two meet around M=24, packing wins from M=32 (71 vs 67).
    /// Settable for tuning/benchmarks; results are correct for any value.
    /// </summary>
    public static int SmallM { get; set; } = 16;

    // KC: C is reloaded once per K block, so a longer block means less C traffic; 512 (a 32-column B panel pair of
    //     64 KB, streamed from L2 rather than held in L1) measured 4-6% faster than 256 at M = 120-577 and equal at
    //     M = 40; 1024 was slower at small M.
    // MC: an MCxKC block of packed A (288 KB) stays in L2 across all B micro-panels of a chunk.
    // NC: a KCxNC block of packed B (512 KB) also fits L2 next to A; 256 also gives N=4096
    //     16 chunks, enough to balance two threads.
    public const int KC = 512, MC = 144, NC = 256;

    [ThreadStatic] private static float* t_packB;   // per worker: KC*NC floats, 64-byte aligned

    // Packed-X buffers, rented per call from a small pool (one per concurrent caller) rather than
    // per thread, so prefill run from many pool threads does not leave one large buffer on each.
    private static readonly Stack<(nint Ptr, long Cap)> s_aPool = new();

    /// <summary>Alias of <see cref="Parallelism.MaxThreads"/> (kept for existing callers).</summary>
    public static int MaxThreads
    {
        get => Parallelism.MaxThreads;
        set => Parallelism.MaxThreads = value;
    }

    /// <summary>
    /// Frees the pooled packed-X buffers (each grows to the largest M x K it served, e.g. 26 MB for
    /// 600 x 11008). Worker-side W panels are a fixed 256 KB per thread and are kept.
    /// </summary>
    public static void ReleaseBuffers()
    {
        lock (s_aPool)
            while (s_aPool.Count > 0) NativeMemory.AlignedFree((void*)s_aPool.Pop().Ptr);
    }

    private static (nint Ptr, long Cap) RentA(long floats)
    {
        (nint Ptr, long Cap) b = default;
        lock (s_aPool)
            if (s_aPool.Count > 0) b = s_aPool.Pop();
        if (b.Cap < floats)
        {
            if (b.Ptr != 0) NativeMemory.AlignedFree((void*)b.Ptr);
            b = ((nint)NativeMemory.AlignedAlloc((nuint)(floats * sizeof(float)), 64), floats);
        }
        return b;
    }

    private static void ReturnA((nint Ptr, long Cap) b)
    {
        lock (s_aPool) s_aPool.Push(b);
    }

    /// <summary>True when the CPU can run these kernels (AVX2 + FMA; AVX-512 tiles are used on top when <see cref="Simd.Level"/> allows).</summary>
    public static bool IsSupported => Fma.IsSupported && Avx2.IsSupported;

    /// <summary>The instruction set the packed GEMM (prefill) and the GEMV (decode) run with now.</summary>
    public static string Isa => Simd.Level >= SimdLevel.Avx2 ? Simd.Level.Name() : "scalar (portable)";

    public static void Run(float* x, int m, Weight w, float* bias, float* y) => Run(x, m, w, bias, y, default);

    /// <summary>Y = X·Wᵀ + bias, then the epilogue on Y (on each finished block of the packed path, while it is in cache).</summary>
    internal static void Run(float* x, int m, Weight w, float* bias, float* y, in Epilogue ep)
    {
        int n = w.Rows, k = w.Cols;
        if (m == 0 || n == 0) return;
        if (k == 0)
        {
            for (int i = 0; i < m; i++)
                for (int j = 0; j < n; j++) y[(long)i * n + j] = bias != null ? bias[j] : 0f;
            if (!ep.IsNone) ep.ApplyBlock(y, n, 0, m, 0, n);
            return;
        }
        // The level is read here, on the calling thread (a scope from Simd.Use applies to it), and handed to the workers.
        bool wide = Simd.Level == SimdLevel.Avx512;
        if (m < SmallM && w.DType.IsQuantized())
        {
            // The float GEMV cannot read blocks: the integer block kernels, as MatMul.Linear sends them.
            Quant.QuantMatMul.Linear(new ReadOnlySpan<float>(x, checked(m * k)), m, w,
                bias == null ? default : new ReadOnlySpan<float>(bias, n), new Span<float>(y, checked(m * n)));
            if (!ep.IsNone) ep.ApplyBlock(y, n, 0, m, 0, n);
            return;
        }
        if (m < SmallM)
        {
            Gemv(x, m, w, bias, y, wide);
            if (!ep.IsNone) ep.ApplyBlock(y, n, 0, m, 0, n);   // a few rows: not worth a pass per chunk
        }
        else Packed(x, m, w, bias, y, wide, ep);
    }

    // ---------------------------------------------------------------- packed GEMM

    private static void Packed(float* x, int m, Weight w, float* bias, float* y, bool wide, in Epilogue ep)
    {
        int mPad = (m + MR - 1) / MR * MR;
        // Pack all of X once: block pb (K columns [pb*KC, ..)) holds mPad x kc in MR panels.
        var buf = RentA((long)mPad * w.Cols);
        try { PackedWith((float*)buf.Ptr, x, m, w, bias, y, wide, ep); }
        finally { ReturnA(buf); }
    }

    private static void PackedWith(float* pa, float* x, int m, Weight w, float* bias, float* y, bool wide, in Epilogue ep)
    {
        int n = w.Rows, k = w.Cols;
        int mPad = (m + MR - 1) / MR * MR;
        int kBlocks = (k + KC - 1) / KC;
        int threads = Math.Max(1, MaxThreads);
        var job = new PackedJob { X = x, Pa = pa, M = m, MPad = mPad, W = w, Bias = bias, Y = y, Wide = wide, Ep = ep };
        if (threads > 1 && kBlocks > 1 && (long)m * k >= 1 << 16)
            Parallelism.For(kBlocks, job, static (ref readonly PackedJob j, int pb) => PackABlock(j.X, j.M, j.W.Cols, j.MPad, pb, j.Pa));
        else
            for (int pb = 0; pb < kBlocks; pb++) PackABlock(x, m, k, mPad, pb, pa);

        // Work items: N chunks of width nc (multiple of NR); if N alone gives too few for the
        // threads, also split M into groups of whole MR panels (W is then packed once per group).
        int nc = NC;
        int nChunks = (n + nc - 1) / nc;
        if (nChunks < 2 * threads)
        {
            // Whole 32-column tile pairs on AVX-512: a 16-wide chunk would run on the 6x16 AVX2 tiles (attention's P·V, N = 64).
            int unit = wide ? 2 * NR : NR;
            nc = Math.Max(unit, (n + 2 * threads - 1) / (2 * threads) + unit - 1) / unit * unit;
            nChunks = (n + nc - 1) / nc;
        }
        int mPanels = mPad / MR;
        int mGroups = 1;
        if (nChunks < 2 * threads) mGroups = Math.Min(mPanels, (2 * threads + nChunks - 1) / nChunks);
        int panelsPerGroup = (mPanels + mGroups - 1) / mGroups;
        int items = nChunks * mGroups;

        job.NChunks = nChunks; job.Nc = nc; job.PanelsPerGroup = panelsPerGroup;
        Parallelism.For(items, job, static (ref readonly PackedJob j, int it) =>
            PackedItem(it, j.NChunks, j.Nc, j.PanelsPerGroup, j.M, j.MPad, j.W, j.Pa, j.Bias, j.Y, j.Wide, j.Ep));
    }

    private struct PackedJob
    {
        public float* X, Pa, Bias, Y;
        public int M, MPad, NChunks, Nc, PanelsPerGroup;
        public Weight W;
        public bool Wide;
        public Epilogue Ep;
    }

    private static void PackABlock(float* x, int m, int k, int mPad, int pb, float* pa)
    {
        int k0 = pb * KC, kc = Math.Min(KC, k - k0);
        PackA(x, m, k, 0, mPad, k0, kc, pa + (long)mPad * k0);
    }

    private static void PackedItem(int it, int nChunks, int nc, int panelsPerGroup, int m, int mPad,
        Weight w, float* pa, float* bias, float* y, bool wide, in Epilogue ep)
    {
        int n = w.Rows, k = w.Cols;
        int jc = it % nChunks, mg = it / nChunks;
        int n0 = jc * nc, ncb = Math.Min(nc, n - n0);
        int ncPad = (ncb + NR - 1) / NR * NR;
        int mStart = mg * panelsPerGroup * MR;
        int mEnd = Math.Min(mPad, mStart + panelsPerGroup * MR);
        if (mStart >= mEnd) return;

        float* pb = t_packB;
        if (pb == null) t_packB = pb = (float*)NativeMemory.AlignedAlloc((nuint)(KC * NC * sizeof(float)), 64);

        for (int k0 = 0; k0 < k; k0 += KC)
        {
            int kc = Math.Min(KC, k - k0);
            bool load = k0 > 0, last = k0 + KC >= k;
            PackB(w, n0, ncPad, k0, kc, pb, wide);
            float* aBlock = pa + (long)mPad * k0;
            for (int ic = mStart; ic < mEnd; ic += MC)
            {
                int icEnd = Math.Min(mEnd, ic + MC);
                for (int jr = 0; jr < ncb;)
                {
                    float* bPanel = pb + (long)jr * kc;
                    float* bi = bias == null ? null : bias + n0 + jr;
                    if (wide && ncb - jr >= 2 * NR)
                    {
                        // Two B panels at once: 12x32 tiles, then the M tail in 6x32 tiles.
                        int ir = ic;
                        for (; ir + 2 * MR <= icEnd && ir + 2 * MR <= m; ir += 2 * MR)
                            GemmKernel512.Kernel12x32(kc, aBlock + (long)ir * kc, aBlock + (long)(ir + MR) * kc, bPanel, bPanel + NR * kc,
                                y + (long)ir * n + n0 + jr, n, bi, load);
                        // Fewer than 12 rows left: 6-row tiles still 32 wide (half the FMAs of a 12x32 tile).
                        for (; ir < icEnd && ir < m; ir += MR)
                            GemmKernel512.Kernel6x32(kc, Math.Min(MR, m - ir), aBlock + (long)ir * kc, bPanel, bPanel + NR * kc,
                                y + (long)ir * n + n0 + jr, n, bi, load);
                        jr += 2 * NR;
                    }
                    else
                    {
                        int nr = Math.Min(NR, ncb - jr);
                        Tiles(kc, aBlock, bPanel, y + n0 + jr, n, m, ic, icEnd, nr, bi, load);
                        jr += NR;
                    }
                }
                // This block of Y is final: run the epilogue while it is still in L2.
                if (last && !ep.IsNone) ep.ApplyBlock(y, n, ic, Math.Min(icEnd, m), n0, ncb);
            }
        }
    }

    /// <summary>6x16 tiles of one B panel for A panels [ir0, ir1) (rows past m skipped); c points at row 0 of the panel's columns.</summary>
    private static void Tiles(int kc, float* aBlock, float* bPanel, float* c, int n, int m, int ir0, int ir1, int nr, float* bias, bool load)
    {
        for (int ir = ir0; ir < ir1; ir += MR)
        {
            int mr = Math.Min(MR, m - ir);
            if (mr <= 0) break;
            float* aPanel = aBlock + (long)ir * kc;
            float* ct = c + (long)ir * n;
            if (mr == MR && nr == NR) Kernel6x16(kc, aPanel, bPanel, ct, n, bias, load);
            else KernelEdge(kc, aPanel, bPanel, ct, n, mr, nr, bias, load);
        }
    }

    // ---------------------------------------------------------------- small M (GEMV)

    private static void Gemv(float* x, int m, Weight w, float* bias, float* y, bool wide)
    {
        int n = w.Rows;
        int threads = Math.Max(1, MaxThreads);
        // Big chunks (multiples of 8 rows): ~4 per thread so a slow core does not hold everyone back,
        // but each chunk still streams >= 64 rows of W.
        int chunks = Math.Min(threads * 4, Math.Max(1, n / 64));
        if (threads == 1 || (long)n * w.Cols < 1 << 15) chunks = 1;
        // Chunk starts on multiples of 8 rows: a row then takes the same 8-row/4-row/1-row dot kernel (and
        // so the same summation order) whatever the chunk count, keeping results independent of MaxThreads.
        int rowsPer = ((n + chunks - 1) / chunks + 7) & ~7;
        chunks = (n + rowsPer - 1) / rowsPer;
        if (chunks == 1) { GemvRange(x, m, w, bias, y, 0, n, wide); return; }
        var job = new GemvJob { X = x, Y = y, Bias = bias, M = m, RowsPer = rowsPer, W = w, Wide = wide };
        Parallelism.For(chunks, job, static (ref readonly GemvJob j, int c) =>
            GemvRange(j.X, j.M, j.W, j.Bias, j.Y, c * j.RowsPer, Math.Min(j.W.Rows, (c + 1) * j.RowsPer), j.Wide));
    }

    private struct GemvJob
    {
        public float* X, Y, Bias;
        public int M, RowsPer;
        public Weight W;
        public bool Wide;
    }

    private static void GemvRange(float* x, int m, Weight w, float* bias, float* y, int r0, int r1, bool wide)
    {
        switch (w.DType)
        {
            case DType.F32: GemvRange<F32Rows>(x, m, w, bias, y, r0, r1, wide); break;
            case DType.BF16: GemvRange<BF16Rows>(x, m, w, bias, y, r0, r1, wide); break;
            default: GemvRange<F16Rows>(x, m, w, bias, y, r0, r1, wide); break;
        }
    }

    // Several W rows at a time so each X vector load feeds several FMAs: measured (M=1, BF16
    // 4096x11008, in-process A/B) 1 row < 2 rows < 4 rows < 8 rows; 1 row at a time re-reads X
    // (44 KB) from L2 per W row and was ~1/3 slower than 4. Software prefetch 512 B ahead in each
    // row stream gave ~10% more bandwidth than the hardware prefetcher alone.
    // M=1 (decode) uses 8 rows; M>=2 uses 4 W rows x 2 X rows so each widened W vector feeds 2 FMAs.
    private const int PrefetchBytes = 512;

    private static void GemvRange<T>(float* x, int m, Weight w, float* bias, float* y, int r0, int r1, bool wide) where T : struct, IRowLoader
    {
        int n = w.Rows, k = w.Cols;
        byte* d = w.Data;
        int r = r0;
        if (wide) r = GemvKernel512.Range<T>(x, m, d, n, k, bias, y, r0, r1);
        if (m == 1)
            for (; r + 8 <= r1; r += 8) Dot8x1<T>(d, (long)r * k, k, x, y + r, bias == null ? null : bias + r);
        for (; r + 4 <= r1; r += 4)
        {
            float* b = bias == null ? null : bias + r;
            int i = 0;
            for (; i + 2 <= m; i += 2) Dot4x2<T>(d, (long)r * k, k, x + (long)i * k, y + (long)i * n + r, n, b);
            if (i < m) Dot4x1<T>(d, (long)r * k, k, x + (long)i * k, y + (long)i * n + r, b);
        }
        for (; r < r1; r++)
            for (int i = 0; i < m; i++)
            {
                float* xr = x + (long)i * k;
                long e = (long)r * k;
                var acc = Vector256<float>.Zero;
                int p = 0;
                for (; p + 8 <= k; p += 8) acc = Fma.MultiplyAdd(T.Load8(d, e + p), Avx.LoadVector256(xr + p), acc);
                float s = Vector256.Sum(acc);
                for (; p < k; p++) s += T.Load1(d, e + p) * xr[p];
                y[(long)i * n + r] = s + (bias == null ? 0f : bias[r]);
            }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Prefetch4<T>(byte* d, long e, long e1, long e2, long e3, int p) where T : struct, IRowLoader
    {
        int size = typeof(T) == typeof(F32Rows) ? 4 : 2;
        Sse.Prefetch0(d + (e + p) * size + PrefetchBytes); Sse.Prefetch0(d + (e1 + p) * size + PrefetchBytes);
        Sse.Prefetch0(d + (e2 + p) * size + PrefetchBytes); Sse.Prefetch0(d + (e3 + p) * size + PrefetchBytes);
    }

    /// <summary>4 W rows · 1 x row, 16 elements per step: 8 independent FMA chains.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Dot4x1<T>(byte* d, long e, int k, float* x, float* y, float* bias) where T : struct, IRowLoader
    {
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
        Vector256<float> b0 = default, b1 = default, b2 = default, b3 = default;
        long e1 = e + k, e2 = e + 2L * k, e3 = e + 3L * k;
        int p = 0;
        for (; p + 16 <= k; p += 16)
        {
            // one prefetch per row per 64-byte line of BF16/F16 (every other step)
            if ((p & 31) == 0) Prefetch4<T>(d, e, e1, e2, e3, p);
            var xv = Avx.LoadVector256(x + p);
            var xw = Avx.LoadVector256(x + p + 8);
            a0 = Fma.MultiplyAdd(T.Load8(d, e + p), xv, a0); b0 = Fma.MultiplyAdd(T.Load8(d, e + p + 8), xw, b0);
            a1 = Fma.MultiplyAdd(T.Load8(d, e1 + p), xv, a1); b1 = Fma.MultiplyAdd(T.Load8(d, e1 + p + 8), xw, b1);
            a2 = Fma.MultiplyAdd(T.Load8(d, e2 + p), xv, a2); b2 = Fma.MultiplyAdd(T.Load8(d, e2 + p + 8), xw, b2);
            a3 = Fma.MultiplyAdd(T.Load8(d, e3 + p), xv, a3); b3 = Fma.MultiplyAdd(T.Load8(d, e3 + p + 8), xw, b3);
        }
        a0 += b0; a1 += b1; a2 += b2; a3 += b3;
        for (; p + 8 <= k; p += 8)
        {
            var xv = Avx.LoadVector256(x + p);
            a0 = Fma.MultiplyAdd(T.Load8(d, e + p), xv, a0);
            a1 = Fma.MultiplyAdd(T.Load8(d, e1 + p), xv, a1);
            a2 = Fma.MultiplyAdd(T.Load8(d, e2 + p), xv, a2);
            a3 = Fma.MultiplyAdd(T.Load8(d, e3 + p), xv, a3);
        }
        float s0 = Vector256.Sum(a0), s1 = Vector256.Sum(a1), s2 = Vector256.Sum(a2), s3 = Vector256.Sum(a3);
        for (; p < k; p++)
        {
            float xv = x[p];
            s0 += T.Load1(d, e + p) * xv; s1 += T.Load1(d, e1 + p) * xv;
            s2 += T.Load1(d, e2 + p) * xv; s3 += T.Load1(d, e3 + p) * xv;
        }
        if (bias != null) { s0 += bias[0]; s1 += bias[1]; s2 += bias[2]; s3 += bias[3]; }
        y[0] = s0; y[1] = s1; y[2] = s2; y[3] = s3;
    }

    /// <summary>4 W rows · 2 x rows: each widened W vector feeds two FMAs (8 accumulators).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Dot4x2<T>(byte* d, long e, int k, float* x, float* y, int ldy, float* bias) where T : struct, IRowLoader
    {
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
        Vector256<float> b0 = default, b1 = default, b2 = default, b3 = default;
        long e1 = e + k, e2 = e + 2L * k, e3 = e + 3L * k;
        float* x2 = x + k;
        int p = 0;
        for (; p + 8 <= k; p += 8)
        {
            if ((p & 31) == 0) Prefetch4<T>(d, e, e1, e2, e3, p);
            var xv = Avx.LoadVector256(x + p);
            var xw = Avx.LoadVector256(x2 + p);
            var w0 = T.Load8(d, e + p); a0 = Fma.MultiplyAdd(w0, xv, a0); b0 = Fma.MultiplyAdd(w0, xw, b0);
            var w1 = T.Load8(d, e1 + p); a1 = Fma.MultiplyAdd(w1, xv, a1); b1 = Fma.MultiplyAdd(w1, xw, b1);
            var w2 = T.Load8(d, e2 + p); a2 = Fma.MultiplyAdd(w2, xv, a2); b2 = Fma.MultiplyAdd(w2, xw, b2);
            var w3 = T.Load8(d, e3 + p); a3 = Fma.MultiplyAdd(w3, xv, a3); b3 = Fma.MultiplyAdd(w3, xw, b3);
        }
        float s0 = Vector256.Sum(a0), s1 = Vector256.Sum(a1), s2 = Vector256.Sum(a2), s3 = Vector256.Sum(a3);
        float t0 = Vector256.Sum(b0), t1 = Vector256.Sum(b1), t2 = Vector256.Sum(b2), t3 = Vector256.Sum(b3);
        for (; p < k; p++)
        {
            float xv = x[p], xw = x2[p];
            float w0 = T.Load1(d, e + p), w1 = T.Load1(d, e1 + p), w2 = T.Load1(d, e2 + p), w3 = T.Load1(d, e3 + p);
            s0 += w0 * xv; s1 += w1 * xv; s2 += w2 * xv; s3 += w3 * xv;
            t0 += w0 * xw; t1 += w1 * xw; t2 += w2 * xw; t3 += w3 * xw;
        }
        if (bias != null)
        {
            s0 += bias[0]; s1 += bias[1]; s2 += bias[2]; s3 += bias[3];
            t0 += bias[0]; t1 += bias[1]; t2 += bias[2]; t3 += bias[3];
        }
        y[0] = s0; y[1] = s1; y[2] = s2; y[3] = s3;
        y[ldy] = t0; y[ldy + 1] = t1; y[ldy + 2] = t2; y[ldy + 3] = t3;
    }

    /// <summary>8 W rows · 1 x row (decode): 8 FMA chains, one X load per 8 FMAs.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Dot8x1<T>(byte* d, long e, int k, float* x, float* y, float* bias) where T : struct, IRowLoader
    {
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
        Vector256<float> a4 = default, a5 = default, a6 = default, a7 = default;
        int size = typeof(T) == typeof(F32Rows) ? 4 : 2;
        byte* r0 = d + e * size;
        long rs = (long)k * size;
        long e1 = e + k, e2 = e + 2L * k, e3 = e + 3L * k, e4 = e + 4L * k, e5 = e + 5L * k, e6 = e + 6L * k, e7 = e + 7L * k;
        int p = 0;
        for (; p + 8 <= k; p += 8)
        {
            if ((p & 31) == 0) // one prefetch per row per 64-byte line of BF16/F16
            {
                byte* q = r0 + (long)p * size + PrefetchBytes;
                Sse.Prefetch0(q); Sse.Prefetch0(q + rs); Sse.Prefetch0(q + 2 * rs); Sse.Prefetch0(q + 3 * rs);
                Sse.Prefetch0(q + 4 * rs); Sse.Prefetch0(q + 5 * rs); Sse.Prefetch0(q + 6 * rs); Sse.Prefetch0(q + 7 * rs);
            }
            var xv = Avx.LoadVector256(x + p);
            a0 = Fma.MultiplyAdd(T.Load8(d, e + p), xv, a0);
            a1 = Fma.MultiplyAdd(T.Load8(d, e1 + p), xv, a1);
            a2 = Fma.MultiplyAdd(T.Load8(d, e2 + p), xv, a2);
            a3 = Fma.MultiplyAdd(T.Load8(d, e3 + p), xv, a3);
            a4 = Fma.MultiplyAdd(T.Load8(d, e4 + p), xv, a4);
            a5 = Fma.MultiplyAdd(T.Load8(d, e5 + p), xv, a5);
            a6 = Fma.MultiplyAdd(T.Load8(d, e6 + p), xv, a6);
            a7 = Fma.MultiplyAdd(T.Load8(d, e7 + p), xv, a7);
        }
        float* s = stackalloc float[8];
        s[0] = Vector256.Sum(a0); s[1] = Vector256.Sum(a1); s[2] = Vector256.Sum(a2); s[3] = Vector256.Sum(a3);
        s[4] = Vector256.Sum(a4); s[5] = Vector256.Sum(a5); s[6] = Vector256.Sum(a6); s[7] = Vector256.Sum(a7);
        for (; p < k; p++)
        {
            float xv = x[p];
            for (int r = 0; r < 8; r++) s[r] += T.Load1(d, e + r * (long)k + p) * xv;
        }
        for (int r = 0; r < 8; r++) y[r] = s[r] + (bias == null ? 0f : bias[r]);
    }
}
