using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace AutoPrune.Tensors;

/// <summary>
/// AVX-512 micro-kernel for <see cref="Gemm"/>: a 12x32 tile of C from two packed 6-row A panels and two packed
/// 16-column B panels (the same packing as the AVX2 kernel). 24 zmm accumulators + 2 for B + 1 broadcast fit the 32
/// registers; per k step 24 FMAs against 2 B loads and 12 broadcasts. Each C element is one FMA chain over k in
/// order, exactly as in <see cref="GemmKernel.Kernel6x16"/>, so both kernels give bitwise identical results.
/// </summary>
internal static unsafe class GemmKernel512
{
    /// <summary>
    /// C[12,32] (row stride ldc) = (load ? C : bias-or-zero) + A·B over kc steps. a0/a1: packed 6-row panels (rows 0-5, 6-11),
    /// b0/b1: packed 16-column panels (columns 0-15, 16-31), 64-byte aligned.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Kernel12x32(int kc, float* a0, float* a1, float* b0, float* b1, float* c, nint ldc, float* bias, bool load)
    {
        Vector512<float> c0l, c0h, c1l, c1h, c2l, c2h, c3l, c3h, c4l, c4h, c5l, c5h, c6l, c6h, c7l, c7h, c8l, c8h, c9l, c9h, c10l, c10h, c11l, c11h;
        if (load)
        {
            c0l = Avx512F.LoadVector512(c + 0 * ldc); c0h = Avx512F.LoadVector512(c + 0 * ldc + 16);
            c1l = Avx512F.LoadVector512(c + 1 * ldc); c1h = Avx512F.LoadVector512(c + 1 * ldc + 16);
            c2l = Avx512F.LoadVector512(c + 2 * ldc); c2h = Avx512F.LoadVector512(c + 2 * ldc + 16);
            c3l = Avx512F.LoadVector512(c + 3 * ldc); c3h = Avx512F.LoadVector512(c + 3 * ldc + 16);
            c4l = Avx512F.LoadVector512(c + 4 * ldc); c4h = Avx512F.LoadVector512(c + 4 * ldc + 16);
            c5l = Avx512F.LoadVector512(c + 5 * ldc); c5h = Avx512F.LoadVector512(c + 5 * ldc + 16);
            c6l = Avx512F.LoadVector512(c + 6 * ldc); c6h = Avx512F.LoadVector512(c + 6 * ldc + 16);
            c7l = Avx512F.LoadVector512(c + 7 * ldc); c7h = Avx512F.LoadVector512(c + 7 * ldc + 16);
            c8l = Avx512F.LoadVector512(c + 8 * ldc); c8h = Avx512F.LoadVector512(c + 8 * ldc + 16);
            c9l = Avx512F.LoadVector512(c + 9 * ldc); c9h = Avx512F.LoadVector512(c + 9 * ldc + 16);
            c10l = Avx512F.LoadVector512(c + 10 * ldc); c10h = Avx512F.LoadVector512(c + 10 * ldc + 16);
            c11l = Avx512F.LoadVector512(c + 11 * ldc); c11h = Avx512F.LoadVector512(c + 11 * ldc + 16);
        }
        else if (bias != null)
        {
            var bl = Avx512F.LoadVector512(bias); var bh = Avx512F.LoadVector512(bias + 16);
            c0l = bl; c0h = bh; c1l = bl; c1h = bh; c2l = bl; c2h = bh; c3l = bl; c3h = bh; c4l = bl; c4h = bh; c5l = bl; c5h = bh; c6l = bl; c6h = bh; c7l = bl; c7h = bh; c8l = bl; c8h = bh; c9l = bl; c9h = bh; c10l = bl; c10h = bh; c11l = bl; c11h = bh;
        }
        else
        {
            c0l = c0h = c1l = c1h = c2l = c2h = c3l = c3h = c4l = c4h = c5l = c5h = c6l = c6h = c7l = c7h = c8l = c8h = c9l = c9h = c10l = c10h = c11l = c11h = Vector512<float>.Zero;
        }

        for (int p = 0; p < kc; p++)
        {
            var bl = Avx512F.LoadAlignedVector512(b0);
            var bh = Avx512F.LoadAlignedVector512(b1);
            var v0 = Vector512.Create(a0[0]); c0l = Avx512F.FusedMultiplyAdd(v0, bl, c0l); c0h = Avx512F.FusedMultiplyAdd(v0, bh, c0h);
            var v1 = Vector512.Create(a0[1]); c1l = Avx512F.FusedMultiplyAdd(v1, bl, c1l); c1h = Avx512F.FusedMultiplyAdd(v1, bh, c1h);
            var v2 = Vector512.Create(a0[2]); c2l = Avx512F.FusedMultiplyAdd(v2, bl, c2l); c2h = Avx512F.FusedMultiplyAdd(v2, bh, c2h);
            var v3 = Vector512.Create(a0[3]); c3l = Avx512F.FusedMultiplyAdd(v3, bl, c3l); c3h = Avx512F.FusedMultiplyAdd(v3, bh, c3h);
            var v4 = Vector512.Create(a0[4]); c4l = Avx512F.FusedMultiplyAdd(v4, bl, c4l); c4h = Avx512F.FusedMultiplyAdd(v4, bh, c4h);
            var v5 = Vector512.Create(a0[5]); c5l = Avx512F.FusedMultiplyAdd(v5, bl, c5l); c5h = Avx512F.FusedMultiplyAdd(v5, bh, c5h);
            var v6 = Vector512.Create(a1[0]); c6l = Avx512F.FusedMultiplyAdd(v6, bl, c6l); c6h = Avx512F.FusedMultiplyAdd(v6, bh, c6h);
            var v7 = Vector512.Create(a1[1]); c7l = Avx512F.FusedMultiplyAdd(v7, bl, c7l); c7h = Avx512F.FusedMultiplyAdd(v7, bh, c7h);
            var v8 = Vector512.Create(a1[2]); c8l = Avx512F.FusedMultiplyAdd(v8, bl, c8l); c8h = Avx512F.FusedMultiplyAdd(v8, bh, c8h);
            var v9 = Vector512.Create(a1[3]); c9l = Avx512F.FusedMultiplyAdd(v9, bl, c9l); c9h = Avx512F.FusedMultiplyAdd(v9, bh, c9h);
            var v10 = Vector512.Create(a1[4]); c10l = Avx512F.FusedMultiplyAdd(v10, bl, c10l); c10h = Avx512F.FusedMultiplyAdd(v10, bh, c10h);
            var v11 = Vector512.Create(a1[5]); c11l = Avx512F.FusedMultiplyAdd(v11, bl, c11l); c11h = Avx512F.FusedMultiplyAdd(v11, bh, c11h);
            a0 += GemmKernel.MR; a1 += GemmKernel.MR; b0 += GemmKernel.NR; b1 += GemmKernel.NR;
        }

        Avx512F.Store(c + 0 * ldc, c0l); Avx512F.Store(c + 0 * ldc + 16, c0h);
        Avx512F.Store(c + 1 * ldc, c1l); Avx512F.Store(c + 1 * ldc + 16, c1h);
        Avx512F.Store(c + 2 * ldc, c2l); Avx512F.Store(c + 2 * ldc + 16, c2h);
        Avx512F.Store(c + 3 * ldc, c3l); Avx512F.Store(c + 3 * ldc + 16, c3h);
        Avx512F.Store(c + 4 * ldc, c4l); Avx512F.Store(c + 4 * ldc + 16, c4h);
        Avx512F.Store(c + 5 * ldc, c5l); Avx512F.Store(c + 5 * ldc + 16, c5h);
        Avx512F.Store(c + 6 * ldc, c6l); Avx512F.Store(c + 6 * ldc + 16, c6h);
        Avx512F.Store(c + 7 * ldc, c7l); Avx512F.Store(c + 7 * ldc + 16, c7h);
        Avx512F.Store(c + 8 * ldc, c8l); Avx512F.Store(c + 8 * ldc + 16, c8h);
        Avx512F.Store(c + 9 * ldc, c9l); Avx512F.Store(c + 9 * ldc + 16, c9h);
        Avx512F.Store(c + 10 * ldc, c10l); Avx512F.Store(c + 10 * ldc + 16, c10h);
        Avx512F.Store(c + 11 * ldc, c11l); Avx512F.Store(c + 11 * ldc + 16, c11h);
    }
    /// <summary>
    /// C[mr,32] for the M tail (mr ≤ 6 rows of one packed A panel) against two B panels: half the FMAs of a 12x32 tile
    /// where fewer than 12 rows are left, and the same per-element FMA chain, so still bitwise equal to the AVX2 kernel.
    /// Rows ≥ mr (zero padding in the panel) are neither loaded from nor stored to C.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Kernel6x32(int kc, int mr, float* a, float* b0, float* b1, float* c, nint ldc, float* bias, bool load)
    {
        Vector512<float> c0l, c0h, c1l, c1h, c2l, c2h, c3l, c3h, c4l, c4h, c5l, c5h;
        c0l = c0h = c1l = c1h = c2l = c2h = c3l = c3h = c4l = c4h = c5l = c5h = Vector512<float>.Zero;
        if (load)
        {
            c0l = Avx512F.LoadVector512(c); c0h = Avx512F.LoadVector512(c + 16);
            if (mr > 1) { c1l = Avx512F.LoadVector512(c + ldc); c1h = Avx512F.LoadVector512(c + ldc + 16); }
            if (mr > 2) { c2l = Avx512F.LoadVector512(c + 2 * ldc); c2h = Avx512F.LoadVector512(c + 2 * ldc + 16); }
            if (mr > 3) { c3l = Avx512F.LoadVector512(c + 3 * ldc); c3h = Avx512F.LoadVector512(c + 3 * ldc + 16); }
            if (mr > 4) { c4l = Avx512F.LoadVector512(c + 4 * ldc); c4h = Avx512F.LoadVector512(c + 4 * ldc + 16); }
            if (mr > 5) { c5l = Avx512F.LoadVector512(c + 5 * ldc); c5h = Avx512F.LoadVector512(c + 5 * ldc + 16); }
        }
        else if (bias != null)
        {
            var bl = Avx512F.LoadVector512(bias); var bh = Avx512F.LoadVector512(bias + 16);
            c0l = c1l = c2l = c3l = c4l = c5l = bl; c0h = c1h = c2h = c3h = c4h = c5h = bh;
        }

        for (int p = 0; p < kc; p++)
        {
            var bl = Avx512F.LoadAlignedVector512(b0);
            var bh = Avx512F.LoadAlignedVector512(b1);
            var v = Vector512.Create(a[0]); c0l = Avx512F.FusedMultiplyAdd(v, bl, c0l); c0h = Avx512F.FusedMultiplyAdd(v, bh, c0h);
            v = Vector512.Create(a[1]); c1l = Avx512F.FusedMultiplyAdd(v, bl, c1l); c1h = Avx512F.FusedMultiplyAdd(v, bh, c1h);
            v = Vector512.Create(a[2]); c2l = Avx512F.FusedMultiplyAdd(v, bl, c2l); c2h = Avx512F.FusedMultiplyAdd(v, bh, c2h);
            v = Vector512.Create(a[3]); c3l = Avx512F.FusedMultiplyAdd(v, bl, c3l); c3h = Avx512F.FusedMultiplyAdd(v, bh, c3h);
            v = Vector512.Create(a[4]); c4l = Avx512F.FusedMultiplyAdd(v, bl, c4l); c4h = Avx512F.FusedMultiplyAdd(v, bh, c4h);
            v = Vector512.Create(a[5]); c5l = Avx512F.FusedMultiplyAdd(v, bl, c5l); c5h = Avx512F.FusedMultiplyAdd(v, bh, c5h);
            a += GemmKernel.MR; b0 += GemmKernel.NR; b1 += GemmKernel.NR;
        }

        Avx512F.Store(c, c0l); Avx512F.Store(c + 16, c0h);
        if (mr > 1) { Avx512F.Store(c + ldc, c1l); Avx512F.Store(c + ldc + 16, c1h); }
        if (mr > 2) { Avx512F.Store(c + 2 * ldc, c2l); Avx512F.Store(c + 2 * ldc + 16, c2h); }
        if (mr > 3) { Avx512F.Store(c + 3 * ldc, c3l); Avx512F.Store(c + 3 * ldc + 16, c3h); }
        if (mr > 4) { Avx512F.Store(c + 4 * ldc, c4l); Avx512F.Store(c + 4 * ldc + 16, c4h); }
        if (mr > 5) { Avx512F.Store(c + 5 * ldc, c5l); Avx512F.Store(c + 5 * ldc + 16, c5h); }
    }
}
