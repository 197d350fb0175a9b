using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace AutoPrune.Tensors;

/// <summary>
/// Register-blocked micro-kernel and panel packers for <see cref="Gemm"/>.
/// Micro-tile 6x16: 12 ymm accumulators + 2 ymm for the B row + 1 broadcast of A = 15 of the
/// 16 ymm registers, so nothing spills; per k step it issues 12 FMAs against 8 loads
/// (2 B vectors + 6 broadcasts), which keeps both FMA pipes busy on Zen 3 (2 loads/cycle).
/// </summary>
internal static unsafe class GemmKernel
{
    public const int MR = 6, NR = 16;

    /// <summary>
    /// C[6,16] (row stride ldc) = (load ? C : bias-or-zero) + A·B over kc steps.
    /// a: packed panel, 6 floats per k. b: packed panel, 16 floats per k (64-byte aligned).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Kernel6x16(int kc, float* a, float* b, float* c, nint ldc, float* bias, bool load)
    {
        Vector256<float> c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51;
        if (load)
        {
            c00 = Avx.LoadVector256(c); c01 = Avx.LoadVector256(c + 8);
            c10 = Avx.LoadVector256(c + ldc); c11 = Avx.LoadVector256(c + ldc + 8);
            c20 = Avx.LoadVector256(c + 2 * ldc); c21 = Avx.LoadVector256(c + 2 * ldc + 8);
            c30 = Avx.LoadVector256(c + 3 * ldc); c31 = Avx.LoadVector256(c + 3 * ldc + 8);
            c40 = Avx.LoadVector256(c + 4 * ldc); c41 = Avx.LoadVector256(c + 4 * ldc + 8);
            c50 = Avx.LoadVector256(c + 5 * ldc); c51 = Avx.LoadVector256(c + 5 * ldc + 8);
        }
        else if (bias != null)
        {
            c00 = c10 = c20 = c30 = c40 = c50 = Avx.LoadVector256(bias);
            c01 = c11 = c21 = c31 = c41 = c51 = Avx.LoadVector256(bias + 8);
        }
        else
        {
            c00 = c01 = c10 = c11 = c20 = c21 = c30 = c31 = c40 = c41 = c50 = c51 = Vector256<float>.Zero;
        }

        for (int p = 0; p < kc; p++)
        {
            var b0 = Avx.LoadAlignedVector256(b);
            var b1 = Avx.LoadAlignedVector256(b + 8);
            var av = Avx.BroadcastScalarToVector256(a);
            c00 = Fma.MultiplyAdd(av, b0, c00); c01 = Fma.MultiplyAdd(av, b1, c01);
            av = Avx.BroadcastScalarToVector256(a + 1);
            c10 = Fma.MultiplyAdd(av, b0, c10); c11 = Fma.MultiplyAdd(av, b1, c11);
            av = Avx.BroadcastScalarToVector256(a + 2);
            c20 = Fma.MultiplyAdd(av, b0, c20); c21 = Fma.MultiplyAdd(av, b1, c21);
            av = Avx.BroadcastScalarToVector256(a + 3);
            c30 = Fma.MultiplyAdd(av, b0, c30); c31 = Fma.MultiplyAdd(av, b1, c31);
            av = Avx.BroadcastScalarToVector256(a + 4);
            c40 = Fma.MultiplyAdd(av, b0, c40); c41 = Fma.MultiplyAdd(av, b1, c41);
            av = Avx.BroadcastScalarToVector256(a + 5);
            c50 = Fma.MultiplyAdd(av, b0, c50); c51 = Fma.MultiplyAdd(av, b1, c51);
            a += MR; b += NR;
        }

        Avx.Store(c, c00); Avx.Store(c + 8, c01);
        Avx.Store(c + ldc, c10); Avx.Store(c + ldc + 8, c11);
        Avx.Store(c + 2 * ldc, c20); Avx.Store(c + 2 * ldc + 8, c21);
        Avx.Store(c + 3 * ldc, c30); Avx.Store(c + 3 * ldc + 8, c31);
        Avx.Store(c + 4 * ldc, c40); Avx.Store(c + 4 * ldc + 8, c41);
        Avx.Store(c + 5 * ldc, c50); Avx.Store(c + 5 * ldc + 8, c51);
    }

    /// <summary>
    /// Edge tile (mr &lt; 6 or nr &lt; 16): runs the full kernel on a stack tile (the packed panels are
    /// zero-padded, so the extra lanes are harmless) and copies the valid part. No scalar path.
    /// </summary>
    public static void KernelEdge(int kc, float* a, float* b, float* c, int ldc, int mr, int nr, float* bias, bool load)
    {
        float* tile = stackalloc float[MR * NR + 8];
        float* t = (float*)(((nint)tile + 31) & ~(nint)31);
        float* pb = stackalloc float[NR];
        float* bp = null;
        if (load)
        {
            for (int i = 0; i < mr; i++)
                for (int j = 0; j < nr; j++) t[i * NR + j] = c[i * ldc + j];
        }
        else if (bias != null)
        {
            for (int j = 0; j < NR; j++) pb[j] = j < nr ? bias[j] : 0f;
            bp = pb;
        }
        Kernel6x16(kc, a, b, t, NR, bp, load);
        for (int i = 0; i < mr; i++)
            for (int j = 0; j < nr; j++) c[i * ldc + j] = t[i * NR + j];
    }

    /// <summary>
    /// Benchmarks only: pack W with the AVX2 packers (and block types through an F32 row buffer) at AVX-512 too, to
    /// time them against <see cref="PanelTranspose512"/> and <see cref="Quant.QuantPanel512"/> in one process.
    /// </summary>
    internal static bool PreviousPackers { get; set; }

    /// <summary>
    /// Packs rows [n0, n0+nc) x columns [k0, k0+kc) of W (row-major [N,K], file dtype) into NR-wide
    /// panels: panel q holds kc steps of 16 consecutive W rows, zero rows past N. Converts to F32
    /// on the way and transposes 8x8 blocks in registers so each W element costs a few shuffles.
    /// <paramref name="wide"/>: the caller's level is AVX-512 (block types then decode with <see cref="Quant.QuantPanel512"/>).
    /// </summary>
    public static void PackB(Weight w, int n0, int nc, int k0, int kc, float* dst, bool wide)
    {
        wide &= !PreviousPackers;
        var t = w.DType;
        if (wide && !t.IsQuantized() && kc % 16 == 0)
        {
            // Whole 16-row panels through the AVX-512 transpose; a panel at the N edge through the AVX2 packer below.
            int size = t.Size(), n = w.Rows, k = w.Cols;
            long rowBytes = (long)k * size;
            int q = 0;
            for (; q < nc && n0 + q + NR <= n; q += NR)
            {
                byte* rows = w.Data + ((long)(n0 + q) * k + k0) * size;
                Tensors.PanelTranspose512.PackFloatPanel(t, rows, rowBytes, kc, dst + (long)q * kc,
                    q + NR < nc && n0 + q + 2 * NR <= n ? rows + NR * rowBytes : null);
            }
            if (q == nc) return;
            n0 += q; nc -= q; dst += (long)q * kc;
        }
        switch (t)
        {
            case DType.F32: PackB<F32Rows>(w, n0, nc, k0, kc, dst); break;
            case DType.BF16: PackB<BF16Rows>(w, n0, nc, k0, kc, dst); break;
            case DType.F16: PackB<F16Rows>(w, n0, nc, k0, kc, dst); break;
            default: Quant.QuantPanel.PackB(w, n0, nc, k0, kc, dst, wide); break;   // block types: decoded 16 rows at a time
        }
    }

    private static void PackB<T>(Weight w, int n0, int nc, int k0, int kc, float* dst) where T : struct, IRowLoader
    {
        int n = w.Rows, k = w.Cols;
        byte* d = w.Data;
        int size = typeof(T) == typeof(F32Rows) ? 4 : 2;
        for (int q = 0; q < nc; q += NR)
        {
            float* panel = dst + (long)q * kc;
            for (int h = 0; h < NR; h += 8)
            {
                int r0 = n0 + q + h;               // first W row of this 8-row half
                int rows = Math.Clamp(n - r0, 0, 8); // valid rows
                float* o = panel + h;
                if (rows == 0)
                {
                    for (int p = 0; p < kc; p++) Avx.Store(o + p * NR, Vector256<float>.Zero);
                    continue;
                }
                int p8 = 0;
                if (rows == 8)
                {
                    // W is read in 8 rows x kc segments that are K elements apart, too short and
                    // scattered for the hardware prefetcher, so the packer was DRAM-latency bound:
                    // prefetch the next 8 rows' segments (size lines per step covers them all).
                    bool pfNext = r0 + 16 <= n;
                    byte* next = d + ((long)(r0 + 8) * k + k0) * size;
                    for (int s = 0; p8 + 8 <= kc; p8 += 8, s++)
                    {
                        if (pfNext)
                            for (int t = 0; t < size; t++)
                            {
                                int j = s * size + t;
                                Sse.Prefetch0(next + (long)(j & 7) * k * size + (j >> 3) * 64);
                            }
                        long e = (long)r0 * k + k0 + p8;
                        var v0 = T.Load8(d, e); var v1 = T.Load8(d, e + k);
                        var v2 = T.Load8(d, e + 2L * k); var v3 = T.Load8(d, e + 3L * k);
                        var v4 = T.Load8(d, e + 4L * k); var v5 = T.Load8(d, e + 5L * k);
                        var v6 = T.Load8(d, e + 6L * k); var v7 = T.Load8(d, e + 7L * k);
                        Transpose8x8Store(v0, v1, v2, v3, v4, v5, v6, v7, o + p8 * NR, NR);
                    }
                }
                // K tail of a full half, or a partial half at the N edge: element-wise.
                for (int p = p8; p < kc; p++)
                    for (int r = 0; r < 8; r++)
                        o[p * NR + r] = r < rows ? T.Load1(d, (long)(r0 + r) * k + k0 + p) : 0f;
            }
        }
    }

    /// <summary>Packs rows [m0, m0+mc) x columns [k0,k0+kc) of X into MR-row panels (zero rows past m).</summary>
    public static void PackA(float* x, int m, int k, int m0, int mc, int k0, int kc, float* dst)
    {
        for (int i = 0; i < mc; i += MR)
        {
            float* o = dst + (long)i * kc;
            int rows = Math.Min(MR, m - (m0 + i));
            if (rows == MR)
            {
                float* s0 = x + (long)(m0 + i) * k + k0;
                float* s1 = s0 + k, s2 = s1 + k, s3 = s2 + k, s4 = s3 + k, s5 = s4 + k;
                for (int p = 0; p < kc; p++, o += MR)
                {
                    o[0] = s0[p]; o[1] = s1[p]; o[2] = s2[p]; o[3] = s3[p]; o[4] = s4[p]; o[5] = s5[p];
                }
            }
            else
            {
                for (int p = 0; p < kc; p++, o += MR)
                    for (int r = 0; r < MR; r++)
                        o[r] = r < rows ? x[(long)(m0 + i + r) * k + k0 + p] : 0f;
            }
        }
    }

    /// <summary>Rows r0..r7 (8 consecutive k each) -> 8 vectors of 8 rows at one k, stored stride apart.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Transpose8x8Store(Vector256<float> r0, Vector256<float> r1, Vector256<float> r2, Vector256<float> r3,
        Vector256<float> r4, Vector256<float> r5, Vector256<float> r6, Vector256<float> r7, float* o, int stride)
    {
        var t0 = Avx.UnpackLow(r0, r1); var t1 = Avx.UnpackHigh(r0, r1);
        var t2 = Avx.UnpackLow(r2, r3); var t3 = Avx.UnpackHigh(r2, r3);
        var t4 = Avx.UnpackLow(r4, r5); var t5 = Avx.UnpackHigh(r4, r5);
        var t6 = Avx.UnpackLow(r6, r7); var t7 = Avx.UnpackHigh(r6, r7);
        var u0 = Avx.Shuffle(t0, t2, 0x44); var u1 = Avx.Shuffle(t0, t2, 0xEE);
        var u2 = Avx.Shuffle(t1, t3, 0x44); var u3 = Avx.Shuffle(t1, t3, 0xEE);
        var u4 = Avx.Shuffle(t4, t6, 0x44); var u5 = Avx.Shuffle(t4, t6, 0xEE);
        var u6 = Avx.Shuffle(t5, t7, 0x44); var u7 = Avx.Shuffle(t5, t7, 0xEE);
        Avx.Store(o, Avx.Permute2x128(u0, u4, 0x20));
        Avx.Store(o + stride, Avx.Permute2x128(u1, u5, 0x20));
        Avx.Store(o + 2 * stride, Avx.Permute2x128(u2, u6, 0x20));
        Avx.Store(o + 3 * stride, Avx.Permute2x128(u3, u7, 0x20));
        Avx.Store(o + 4 * stride, Avx.Permute2x128(u0, u4, 0x31));
        Avx.Store(o + 5 * stride, Avx.Permute2x128(u1, u5, 0x31));
        Avx.Store(o + 6 * stride, Avx.Permute2x128(u2, u6, 0x31));
        Avx.Store(o + 7 * stride, Avx.Permute2x128(u3, u7, 0x31));
    }
}

/// <summary>Reads W elements of one file dtype widened to F32; a struct type parameter so the JIT
/// specialises each packer / GEMV loop per dtype with no per-element branch.</summary>
internal unsafe interface IRowLoader
{
    static abstract Vector256<float> Load8(byte* d, long e);
    /// <summary>16 elements widened (AVX-512 paths only).</summary>
    static abstract Vector512<float> Load16(byte* d, long e);
    static abstract float Load1(byte* d, long e);
}

internal unsafe struct F32Rows : IRowLoader
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Load8(byte* d, long e) => Avx.LoadVector256((float*)d + e);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Load16(byte* d, long e) => Avx512F.LoadVector512((float*)d + e);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Load1(byte* d, long e) => ((float*)d)[e];
}

internal unsafe struct BF16Rows : IRowLoader
{
    // vpmovzxwd + vpslld: BF16 is the high half of an F32.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Load8(byte* d, long e) =>
        Avx2.ShiftLeftLogical(Avx2.ConvertToVector256Int32((ushort*)d + e), 16).AsSingle();
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Load16(byte* d, long e) =>
        Avx512F.ShiftLeftLogical(Avx512F.ConvertToVector512Int32(Avx.LoadVector256((ushort*)d + e)), 16).AsSingle();
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Load1(byte* d, long e) => Convert.BF16ToF32(((ushort*)d)[e]);
}

internal unsafe struct F16Rows : IRowLoader
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Load8(byte* d, long e) =>
        Convert.F16BitsToF32(Avx2.ConvertToVector256Int32((ushort*)d + e).AsUInt32());
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Load16(byte* d, long e) =>
        Convert.F16BitsToF32(Avx512F.ConvertToVector512Int32(Avx.LoadVector256((ushort*)d + e)).AsUInt32());
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Load1(byte* d, long e) => Convert.F16ToF32(((ushort*)d)[e]);
}
