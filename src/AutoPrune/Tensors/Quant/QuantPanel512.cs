using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace AutoPrune.Tensors.Quant;

/// <summary>
/// AVX-512 <see cref="QuantPanel.PackB"/> for Q8_0, Q4_K and Q6_K: decodes 16 W rows straight into the packed B
/// layout (one 16-lane vector per k, lane = W row), with no F32 row buffer and no second transposing copy. Each row's
/// integer codes are first unpacked to one byte per value (64 values per instruction), then 16 rows x 32 bytes are
/// transposed as 16 x 8 dwords, so a vector holds 4 consecutive k of all 16 rows; a shift (and mask) isolates one k,
/// and per-row scales are per-lane vectors. Every value is the same float operations as <see cref="Dequantize"/>
/// (convert, multiply, subtract; no FMA), so the panels are bitwise the reference decoding.
/// </summary>
internal static unsafe class QuantPanel512
{
    private const int NR = GemmKernel.NR, KC = Gemm.KC, PrefetchRows = 2 * NR;

    public static bool Handles(DType t) => t is DType.Q8_0 or DType.Q4_K or DType.Q6_K;

    /// <summary>Same contract as <see cref="QuantPanel.PackB"/> (whole blocks, kc ≤ KC; nc a multiple of 16).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void PackB(Weight w, int n0, int nc, int k0, int kc, float* dst)
    {
        var t = w.DType;
        int be = t.BlockElements(), bb = t.BlockBytes(), n = w.Rows, blocks = kc / be;
        // Codes, one byte per value, row r at r*KC; scale (and Q4_K's min) per group of 16 or 32 values, 16 lanes each.
        byte* codes = stackalloc byte[NR * KC];
        float* scale = stackalloc float[KC / 16 * NR];
        float* min = stackalloc float[KC / 32 * NR];
        long rowBytes = w.RowBytes;
        int segBytes = blocks * bb;
        for (int q = 0; q < nc; q += NR)
        {
            for (int r = 0; r < NR; r++)
            {
                int row = n0 + q + r;
                byte* src = w.Data + row * rowBytes + (long)(k0 / be) * bb;
                byte* c = codes + r * KC;
                // The segments are a few lines each, rows apart: too scattered for the hardware prefetcher, and
                // decoding is fast enough to wait on memory, so fetch the same row of the panel after next.
                if (row + PrefetchRows < n)
                    for (int o = 0; o < segBytes; o += 64) Sse.Prefetch0(src + PrefetchRows * rowBytes + o);
                if (row >= n)
                {
                    // Zero codes and zero scales: 0·0 (− 0) = +0, as the reference packs rows past N.
                    new Span<byte>(c, kc).Clear();
                    for (int g = 0; g < kc / 16; g++) scale[g * NR + r] = 0f;
                    for (int g = 0; g < kc / 32; g++) min[g * NR + r] = 0f;
                    continue;
                }
                switch (t)
                {
                    case DType.Q8_0: for (int b = 0; b < blocks; b++) RowQ8_0(src + b * bb, c + b * 32, scale + b * NR + r); break;
                    case DType.Q4_K: for (int b = 0; b < blocks; b++) RowQ4_K(src + b * bb, c + b * 256, scale + b * 8 * NR + r, min + b * 8 * NR + r); break;
                    default: for (int b = 0; b < blocks; b++) RowQ6_K(src + b * bb, c + b * 256, scale + b * 16 * NR + r); break;
                }
            }
            float* panel = dst + (long)q * kc;
            switch (t)
            {
                case DType.Q8_0: Emit(codes, kc, scale, min, panel, signed: true, withMin: false, groupShift: 5); break;
                case DType.Q4_K: Emit(codes, kc, scale, min, panel, signed: false, withMin: true, groupShift: 5); break;
                default: Emit(codes, kc, scale, min, panel, signed: true, withMin: false, groupShift: 4); break;
            }
        }
    }

    // ---------------------------------------------------------------- rows → one byte per value

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void RowQ8_0(byte* b, byte* c, float* scale)
    {
        *scale = HalfTable.Get(b);
        Vector256.Store(Vector256.Load(b + 2), c);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void RowQ4_K(byte* b, byte* c, float* scale, float* min)
    {
        float d = HalfTable.Get(b), dmin = HalfTable.Get(b + 2);
        for (int s = 0; s < 8; s++)
        {
            var (sc, mn) = Dequantize.ScaleMinK4(s, b + 4);
            scale[s * NR] = d * sc;
            min[s * NR] = dmin * mn;
        }
        var m4 = Vector512.Create((byte)0xF);
        byte* qs = b + 16;
        for (int j = 0; j < 4; j++)
        {
            // 32 bytes → sub-block 2j (low nibbles), then 2j+1 (high nibbles).
            var v = Vector256.Load(qs + 32 * j);
            var both = Vector512.Create(v, Vector256.ShiftRightLogical(v.AsUInt16(), 4).AsByte());
            Vector512.Store(both & m4, c + 64 * j);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void RowQ6_K(byte* b, byte* c, float* scale)
    {
        float d = HalfTable.Get(b + 208);
        sbyte* sc = (sbyte*)(b + 192);
        for (int g = 0; g < 16; g++) scale[g * NR] = d * sc[g];
        var m4 = Vector512.Create((byte)0xF);
        var m30 = Vector512.Create((byte)0x30);
        var c32 = Vector512.Create((byte)32);
        for (int h = 0; h < 2; h++)
        {
            // Values 128h + [0,64): ql & 15 with qh bits 0-1 (first 32) or 2-3 (next 32) as bits 4-5;
            // values 128h + [64,128): ql >> 4 with qh bits 4-5 or 6-7. hh = qh | qh >> 2 lines the pairs up.
            var ql = Vector512.Load(b + 64 * h);
            var qh = Vector256.Load(b + 128 + 32 * h);
            var hh = Vector512.Create(qh, Vector256.ShiftRightLogical(qh.AsUInt16(), 2).AsByte());
            var lo = (ql & m4) | (Vector512.ShiftLeft(hh.AsUInt16(), 4).AsByte() & m30);
            var hi = (Vector512.ShiftRightLogical(ql.AsUInt16(), 4).AsByte() & m4) | (hh & m30);
            Vector512.Store(lo - c32, c + 128 * h);
            Vector512.Store(hi - c32, c + 128 * h + 64);
        }
    }

    // ---------------------------------------------------------------- 16 rows of bytes → packed F32 panel

    /// <summary>
    /// panel[p·16 + r] = value p of row r: (float)code · scale[group] (− min[group]), groups of 1 &lt;&lt; groupShift values.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Emit(byte* codes, int kc, float* scale, float* min, float* panel, bool signed, bool withMin, int groupShift)
    {
        for (int p0 = 0; p0 < kc; p0 += 32)
        {
            Transpose16x8(codes + p0, out var d0, out var d1, out var d2, out var d3, out var d4, out var d5, out var d6, out var d7);
            Four(d0, p0, scale, min, panel, signed, withMin, groupShift);
            Four(d1, p0 + 4, scale, min, panel, signed, withMin, groupShift);
            Four(d2, p0 + 8, scale, min, panel, signed, withMin, groupShift);
            Four(d3, p0 + 12, scale, min, panel, signed, withMin, groupShift);
            Four(d4, p0 + 16, scale, min, panel, signed, withMin, groupShift);
            Four(d5, p0 + 20, scale, min, panel, signed, withMin, groupShift);
            Four(d6, p0 + 24, scale, min, panel, signed, withMin, groupShift);
            Four(d7, p0 + 28, scale, min, panel, signed, withMin, groupShift);
        }
    }

    /// <summary>Lane r of <paramref name="v"/> holds codes p..p+3 of row r: writes the four packed k steps.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Four(Vector512<int> v, int p, float* scale, float* min, float* panel, bool signed, bool withMin, int groupShift)
    {
        var s = Vector512.Load(scale + (p >> groupShift) * NR);
        var m = withMin ? Vector512.Load(min + (p >> groupShift) * NR) : default;
        Vector512<int> c0, c1, c2, c3;
        if (signed)
        {
            c0 = Avx512F.ShiftRightArithmetic(Avx512F.ShiftLeftLogical(v, 24), 24);
            c1 = Avx512F.ShiftRightArithmetic(Avx512F.ShiftLeftLogical(v, 16), 24);
            c2 = Avx512F.ShiftRightArithmetic(Avx512F.ShiftLeftLogical(v, 8), 24);
            c3 = Avx512F.ShiftRightArithmetic(v, 24);
        }
        else
        {
            var ff = Vector512.Create(0xFF);
            c0 = v & ff;
            c1 = Avx512F.ShiftRightLogical(v, 8) & ff;
            c2 = Avx512F.ShiftRightLogical(v, 16) & ff;
            c3 = Avx512F.ShiftRightLogical(v, 24);
        }
        float* o = panel + p * NR;
        Value(c0, s, m, o, withMin);
        Value(c1, s, m, o + NR, withMin);
        Value(c2, s, m, o + 2 * NR, withMin);
        Value(c3, s, m, o + 3 * NR, withMin);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Value(Vector512<int> c, Vector512<float> s, Vector512<float> m, float* o, bool withMin)
    {
        var f = Avx512F.ConvertToVector512Single(c) * s;   // scale · code, then − min: the reference's two roundings
        if (withMin) f -= m;
        Avx512F.StoreAligned(o, f);
    }

    /// <summary>
    /// 16 rows (KC bytes apart) x 32 bytes → 8 vectors, vector j lane r = bytes 4j..4j+3 of row r. Rows i and i+4
    /// share a register (i+8 and i+12 the other half) so that the last 128-bit shuffle leaves lanes in row order.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Transpose16x8(byte* rows, out Vector512<int> d0, out Vector512<int> d1, out Vector512<int> d2, out Vector512<int> d3,
        out Vector512<int> d4, out Vector512<int> d5, out Vector512<int> d6, out Vector512<int> d7)
    {
        var z0 = Vector512.Create(Vector256.Load((int*)(rows + 0 * KC)), Vector256.Load((int*)(rows + 4 * KC)));
        var z1 = Vector512.Create(Vector256.Load((int*)(rows + 1 * KC)), Vector256.Load((int*)(rows + 5 * KC)));
        var z2 = Vector512.Create(Vector256.Load((int*)(rows + 2 * KC)), Vector256.Load((int*)(rows + 6 * KC)));
        var z3 = Vector512.Create(Vector256.Load((int*)(rows + 3 * KC)), Vector256.Load((int*)(rows + 7 * KC)));
        var z4 = Vector512.Create(Vector256.Load((int*)(rows + 8 * KC)), Vector256.Load((int*)(rows + 12 * KC)));
        var z5 = Vector512.Create(Vector256.Load((int*)(rows + 9 * KC)), Vector256.Load((int*)(rows + 13 * KC)));
        var z6 = Vector512.Create(Vector256.Load((int*)(rows + 10 * KC)), Vector256.Load((int*)(rows + 14 * KC)));
        var z7 = Vector512.Create(Vector256.Load((int*)(rows + 11 * KC)), Vector256.Load((int*)(rows + 15 * KC)));
        // Per 128-bit lane: a 4x4 dword transpose of rows (0,1,2,3) [lanes 0-1] and (4,5,6,7) [lanes 2-3].
        var t0 = Avx512F.UnpackLow(z0, z1).AsInt64(); var t1 = Avx512F.UnpackHigh(z0, z1).AsInt64();
        var t2 = Avx512F.UnpackLow(z2, z3).AsInt64(); var t3 = Avx512F.UnpackHigh(z2, z3).AsInt64();
        var t4 = Avx512F.UnpackLow(z4, z5).AsInt64(); var t5 = Avx512F.UnpackHigh(z4, z5).AsInt64();
        var t6 = Avx512F.UnpackLow(z6, z7).AsInt64(); var t7 = Avx512F.UnpackHigh(z6, z7).AsInt64();
        var u0 = Avx512F.UnpackLow(t0, t2).AsInt32(); var u1 = Avx512F.UnpackHigh(t0, t2).AsInt32();
        var u2 = Avx512F.UnpackLow(t1, t3).AsInt32(); var u3 = Avx512F.UnpackHigh(t1, t3).AsInt32();
        var u4 = Avx512F.UnpackLow(t4, t6).AsInt32(); var u5 = Avx512F.UnpackHigh(t4, t6).AsInt32();
        var u6 = Avx512F.UnpackLow(t5, t7).AsInt32(); var u7 = Avx512F.UnpackHigh(t5, t7).AsInt32();
        // u_j lanes: rows 0-3 dword j, rows 0-3 dword j+4, rows 4-7 dword j, rows 4-7 dword j+4 (u4.. rows 8-15).
        d0 = Avx512F.Shuffle4x128(u0, u4, 0x88); d4 = Avx512F.Shuffle4x128(u0, u4, 0xDD);
        d1 = Avx512F.Shuffle4x128(u1, u5, 0x88); d5 = Avx512F.Shuffle4x128(u1, u5, 0xDD);
        d2 = Avx512F.Shuffle4x128(u2, u6, 0x88); d6 = Avx512F.Shuffle4x128(u2, u6, 0xDD);
        d3 = Avx512F.Shuffle4x128(u3, u7, 0x88); d7 = Avx512F.Shuffle4x128(u3, u7, 0xDD);
    }
}
