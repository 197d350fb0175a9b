using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace AutoPrune.Tensors.Quant;

/// <summary>
/// Block-quantized W for the packed GEMM (prefill): each KC-long segment of 16 W rows is decoded into a small F32
/// buffer and packed like F32 weights, so the matrix is never dequantized as a whole and prefill runs at the F32
/// kernel's rate on exact weight values (X stays F32; only decode quantizes activations). Measured against an
/// int8 GEMM on quantized activations: decoding the panel costs a few cycles per weight, amortised over every X row.
/// </summary>
internal static unsafe class QuantPanel
{
    private const int NR = GemmKernel.NR, KC = Gemm.KC;

    [ThreadStatic] private static Weight? t_rows;   // NR x KC F32 rows over a per-thread native buffer

    /// <summary>
    /// <see cref="GemmKernel.PackB(Weight, int, int, int, int, float*, bool)"/> for block types. Column range [k0, k0+kc)
    /// must be whole blocks (KC is a multiple of 256 and rows are whole blocks, so every K block is). With
    /// <paramref name="wide"/> (AVX-512), Q8_0/Q4_K/Q6_K decode straight into the packed layout.
    /// </summary>
    public static void PackB(Weight w, int n0, int nc, int k0, int kc, float* dst, bool wide)
    {
        var t = w.DType;
        int be = t.BlockElements(), bb = t.BlockBytes(), n = w.Rows;
        if (k0 % be != 0 || kc % be != 0 || kc > KC)
            throw new ArgumentException($"{w.Name}: K block [{k0}, {k0 + kc}) is not whole {t.Name()} blocks");
        if (wide && !GemmKernel.PreviousPackers && QuantPanel512.Handles(t))
        {
            QuantPanel512.PackB(w, n0, nc, k0, kc, dst);
            return;
        }
        var rows = t_rows ??= new Weight("panel", DType.F32, [NR, KC], (byte*)NativeMemory.AlignedAlloc(NR * KC * sizeof(float), 64));
        float* buf = (float*)rows.Data;
        long rowBytes = w.RowBytes;
        for (int q = 0; q < nc; q += NR)
        {
            for (int r = 0; r < NR; r++)
            {
                int row = n0 + q + r;
                float* o = buf + r * KC;
                if (row < n) Rows(t, w.Data + row * rowBytes + (long)(k0 / be) * bb, o, kc / be);
                else new Span<float>(o, kc).Clear();
            }
            GemmKernel.PackB(rows, 0, NR, 0, kc, dst + (long)q * kc, wide: false);
        }
    }

    /// <summary>Decodes <paramref name="blocks"/> blocks; bitwise <see cref="Dequantize.Blocks"/> (same operations, 8 lanes at a time).</summary>
    private static void Rows(DType t, byte* src, float* dst, int blocks)
    {
        switch (t)
        {
            case DType.Q8_0: for (int b = 0; b < blocks; b++) Q8_0(src + b * 34, dst + b * 32); break;
            case DType.Q4_K: for (int b = 0; b < blocks; b++) Q4_K(src + b * 144, dst + b * 256); break;
            case DType.Q6_K: for (int b = 0; b < blocks; b++) Q6_K(src + b * 210, dst + b * 256); break;
            default: Dequantize.Blocks(t, src, dst, blocks); break;
        }
    }

    private static void Q8_0(byte* b, float* y)
    {
        var d = Vector256.Create(HalfTable.Get(b));
        sbyte* q = (sbyte*)(b + 2);
        for (int j = 0; j < 32; j += 8) Avx.Store(y + j, Avx.ConvertToVector256Single(Avx2.ConvertToVector256Int32(q + j)) * d);
    }

    private static void Q4_K(byte* b, float* y)
    {
        float d = HalfTable.Get(b), dmin = HalfTable.Get(b + 2);
        byte* q = b + 16;
        var m4 = Vector256.Create(0xF);
        for (int j = 0; j < 4; j++, q += 32, y += 64)
        {
            var (s0, mn0) = Dequantize.ScaleMinK4(2 * j, b + 4);
            var (s1, mn1) = Dequantize.ScaleMinK4(2 * j + 1, b + 4);
            Vector256<float> d0 = Vector256.Create(d * s0), d1 = Vector256.Create(d * s1);
            Vector256<float> n0 = Vector256.Create(dmin * mn0), n1 = Vector256.Create(dmin * mn1);
            for (int l = 0; l < 32; l += 8)
            {
                var v = Avx2.ConvertToVector256Int32(q + l);
                Avx.Store(y + l, d0 * Avx.ConvertToVector256Single(v & m4) - n0);
                Avx.Store(y + l + 32, d1 * Avx.ConvertToVector256Single(Avx2.ShiftRightLogical(v, 4)) - n1);
            }
        }
    }

    private static void Q6_K(byte* b, float* y)
    {
        byte* ql = b, qh = b + 128;
        sbyte* sc = (sbyte*)(b + 192);
        float d = HalfTable.Get(b + 208);
        var m4 = Vector256.Create(0xF);
        var m3 = Vector256.Create(3);
        var c32 = Vector256.Create(32);
        for (int n = 0; n < 2; n++, ql += 64, qh += 32, sc += 8, y += 128)
            for (int l = 0; l < 32; l += 8)
            {
                int isc = l / 16;
                var a = Avx2.ConvertToVector256Int32(ql + l);
                var c = Avx2.ConvertToVector256Int32(ql + l + 32);
                var h = Avx2.ConvertToVector256Int32(qh + l);
                var q1 = ((a & m4) | Avx2.ShiftLeftLogical(h & m3, 4)) - c32;
                var q2 = ((c & m4) | Avx2.ShiftLeftLogical(Avx2.ShiftRightLogical(h, 2) & m3, 4)) - c32;
                var q3 = (Avx2.ShiftRightLogical(a, 4) | Avx2.ShiftLeftLogical(Avx2.ShiftRightLogical(h, 4) & m3, 4)) - c32;
                var q4 = (Avx2.ShiftRightLogical(c, 4) | Avx2.ShiftLeftLogical(Avx2.ShiftRightLogical(h, 6) & m3, 4)) - c32;
                Avx.Store(y + l, Vector256.Create(d * sc[isc]) * Avx.ConvertToVector256Single(q1));
                Avx.Store(y + l + 32, Vector256.Create(d * sc[isc + 2]) * Avx.ConvertToVector256Single(q2));
                Avx.Store(y + l + 64, Vector256.Create(d * sc[isc + 4]) * Avx.ConvertToVector256Single(q3));
                Avx.Store(y + l + 96, Vector256.Create(d * sc[isc + 6]) * Avx.ConvertToVector256Single(q4));
            }
    }
}
