using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace AutoPrune.Tensors;

/// <summary>
/// AVX-512 dot kernels for <see cref="Gemm"/>'s small-M path (decode): the AVX2 kernels' shape with 16-wide vectors.
/// Memory-bound either way; the wider loads halve the instructions per byte, leaving the core more room to keep
/// enough loads in flight. Summation order differs from the AVX2 kernels (16 lanes), so results agree with them
/// within rounding, not bitwise; they still never depend on the thread count.
/// </summary>
internal static unsafe class GemvKernel512
{
    private const int PrefetchBytes = 512;

    /// <summary>Rows [r0, r1) of Y = X·Wᵀ in blocks of 8 (M = 1) or 4 (M ≥ 2) rows; returns the first row not done.</summary>
    public static int Range<T>(float* x, int m, byte* d, int n, int k, float* bias, float* y, int r0, int r1) where T : struct, IRowLoader
    {
        int r = r0;
        if (m == 1)
        {
            for (; r + 8 <= r1; r += 8) Dot8x1<T>(d, (long)r * k, k, x, y + r, bias == null ? null : bias + r);
            return r;
        }
        for (; r + 4 <= r1; r += 4)
        {
            float* b = bias == null ? null : bias + r;
            int i = 0;
            for (; i + 2 <= m; i += 2) Dot4x2<T>(d, (long)r * k, k, x + (long)i * k, y + (long)i * n + r, n, b);
            if (i < m)
            {
                // An odd last X row: the pair kernel with that row twice, writing the duplicate to a scratch row.
                float* dummy = stackalloc float[4];
                Dot4x2Split<T>(d, (long)r * k, k, x + (long)i * k, y + (long)i * n + r, dummy, b);
            }
        }
        return r;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Tail<T>(byte* d, long e, float* x, int p, int k) where T : struct, IRowLoader
    {
        float s = 0;
        for (; p < k; p++) s += T.Load1(d, e + p) * x[p];
        return s;
    }

    /// <summary>8 W rows · 1 x row, 16 elements per step: 8 FMA chains, one X load per 8 FMAs.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Dot8x1<T>(byte* d, long e, int k, float* x, float* y, float* bias) where T : struct, IRowLoader
    {
        Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
        Vector512<float> a4 = default, a5 = default, a6 = default, a7 = default;
        int size = typeof(T) == typeof(F32Rows) ? 4 : 2;
        byte* row0 = d + e * size;
        long rs = (long)k * size;
        long e1 = e + k, e2 = e + 2L * k, e3 = e + 3L * k, e4 = e + 4L * k, e5 = e + 5L * k, e6 = e + 6L * k, e7 = e + 7L * k;
        int p = 0;
        for (; p + 16 <= k; p += 16)
        {
            if (size == 4 || (p & 31) == 0) // one prefetch per row per 64-byte line
            {
                byte* q = row0 + (long)p * size + PrefetchBytes;
                Sse.Prefetch0(q); Sse.Prefetch0(q + rs); Sse.Prefetch0(q + 2 * rs); Sse.Prefetch0(q + 3 * rs);
                Sse.Prefetch0(q + 4 * rs); Sse.Prefetch0(q + 5 * rs); Sse.Prefetch0(q + 6 * rs); Sse.Prefetch0(q + 7 * rs);
            }
            var xv = Avx512F.LoadVector512(x + p);
            a0 = Avx512F.FusedMultiplyAdd(T.Load16(d, e + p), xv, a0);
            a1 = Avx512F.FusedMultiplyAdd(T.Load16(d, e1 + p), xv, a1);
            a2 = Avx512F.FusedMultiplyAdd(T.Load16(d, e2 + p), xv, a2);
            a3 = Avx512F.FusedMultiplyAdd(T.Load16(d, e3 + p), xv, a3);
            a4 = Avx512F.FusedMultiplyAdd(T.Load16(d, e4 + p), xv, a4);
            a5 = Avx512F.FusedMultiplyAdd(T.Load16(d, e5 + p), xv, a5);
            a6 = Avx512F.FusedMultiplyAdd(T.Load16(d, e6 + p), xv, a6);
            a7 = Avx512F.FusedMultiplyAdd(T.Load16(d, e7 + p), xv, a7);
        }
        float bb(int r) => bias == null ? 0f : bias[r];
        y[0] = Vector512.Sum(a0) + Tail<T>(d, e, x, p, k) + bb(0);
        y[1] = Vector512.Sum(a1) + Tail<T>(d, e1, x, p, k) + bb(1);
        y[2] = Vector512.Sum(a2) + Tail<T>(d, e2, x, p, k) + bb(2);
        y[3] = Vector512.Sum(a3) + Tail<T>(d, e3, x, p, k) + bb(3);
        y[4] = Vector512.Sum(a4) + Tail<T>(d, e4, x, p, k) + bb(4);
        y[5] = Vector512.Sum(a5) + Tail<T>(d, e5, x, p, k) + bb(5);
        y[6] = Vector512.Sum(a6) + Tail<T>(d, e6, x, p, k) + bb(6);
        y[7] = Vector512.Sum(a7) + Tail<T>(d, e7, x, p, k) + bb(7);
    }

    /// <summary>4 W rows · 2 x rows: each widened W vector feeds two FMAs (8 accumulators).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Dot4x2<T>(byte* d, long e, int k, float* x, float* y, int ldy, float* bias) where T : struct, IRowLoader
        => Dot4x2Split<T>(d, e, k, x, y, y + ldy, bias, x + k);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Dot4x2Split<T>(byte* d, long e, int k, float* x, float* y, float* y2, float* bias, float* x2 = null) where T : struct, IRowLoader
    {
        if (x2 == null) x2 = x;
        Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
        Vector512<float> b0 = default, b1 = default, b2 = default, b3 = default;
        int size = typeof(T) == typeof(F32Rows) ? 4 : 2;
        long e1 = e + k, e2 = e + 2L * k, e3 = e + 3L * k;
        int p = 0;
        for (; p + 16 <= k; p += 16)
        {
            if (size == 4 || (p & 31) == 0)
            {
                Sse.Prefetch0(d + (e + p) * size + PrefetchBytes); Sse.Prefetch0(d + (e1 + p) * size + PrefetchBytes);
                Sse.Prefetch0(d + (e2 + p) * size + PrefetchBytes); Sse.Prefetch0(d + (e3 + p) * size + PrefetchBytes);
            }
            var xv = Avx512F.LoadVector512(x + p);
            var xw = Avx512F.LoadVector512(x2 + p);
            var w0 = T.Load16(d, e + p); a0 = Avx512F.FusedMultiplyAdd(w0, xv, a0); b0 = Avx512F.FusedMultiplyAdd(w0, xw, b0);
            var w1 = T.Load16(d, e1 + p); a1 = Avx512F.FusedMultiplyAdd(w1, xv, a1); b1 = Avx512F.FusedMultiplyAdd(w1, xw, b1);
            var w2 = T.Load16(d, e2 + p); a2 = Avx512F.FusedMultiplyAdd(w2, xv, a2); b2 = Avx512F.FusedMultiplyAdd(w2, xw, b2);
            var w3 = T.Load16(d, e3 + p); a3 = Avx512F.FusedMultiplyAdd(w3, xv, a3); b3 = Avx512F.FusedMultiplyAdd(w3, xw, b3);
        }
        float b(int r) => bias == null ? 0f : bias[r];
        y[0] = Vector512.Sum(a0) + Tail<T>(d, e, x, p, k) + b(0);
        y[1] = Vector512.Sum(a1) + Tail<T>(d, e1, x, p, k) + b(1);
        y[2] = Vector512.Sum(a2) + Tail<T>(d, e2, x, p, k) + b(2);
        y[3] = Vector512.Sum(a3) + Tail<T>(d, e3, x, p, k) + b(3);
        y2[0] = Vector512.Sum(b0) + Tail<T>(d, e, x2, p, k) + b(0);
        y2[1] = Vector512.Sum(b1) + Tail<T>(d, e1, x2, p, k) + b(1);
        y2[2] = Vector512.Sum(b2) + Tail<T>(d, e2, x2, p, k) + b(2);
        y2[3] = Vector512.Sum(b3) + Tail<T>(d, e3, x2, p, k) + b(3);
    }
}
