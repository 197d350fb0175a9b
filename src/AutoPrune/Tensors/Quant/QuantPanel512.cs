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
                // decoding is fast enough to wait on memory, so fetch the same row of the panel after next; the last
                // two panels fetch the first two of the next K block, which the GEMM packs next on this thread.
                int ahead = q + r + PrefetchRows;
                byte* pf = ahead < nc ? src + PrefetchRows * rowBytes
                    : k0 + kc < w.Cols ? w.Data + (n0 + ahead - nc) * rowBytes + (long)((k0 + kc) / be) * bb : null;
                if (pf != null && n0 + (ahead < nc ? ahead : ahead - nc) < n)
                    for (int o = 0; o < segBytes; o += 64) Sse.Prefetch0(pf + o);
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
    /// 32 values at a time: 16 rows (KC bytes apart) x 32 bytes transposed as 16 x 8 dwords, so vector j lane r holds
    /// codes 4j..4j+3 of row r. Rows i and i+4 share a register (i+8 and i+12 the other one) so that the last 128-bit
    /// shuffle leaves the lanes in row order. Written out in full (no helper with out parameters) so the JIT keeps
    /// every vector in a register.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Emit(byte* codes, int kc, float* scale, float* min, float* panel, bool signed, bool withMin, int groupShift)
    {
        for (int p0 = 0; p0 < kc; p0 += 32)
        {
            byte* rows = codes + p0;
            var z0 = Pair(rows, 0, 4); var z1 = Pair(rows, 1, 5); var z2 = Pair(rows, 2, 6); var z3 = Pair(rows, 3, 7);
            var z4 = Pair(rows, 8, 12); var z5 = Pair(rows, 9, 13); var z6 = Pair(rows, 10, 14); var z7 = Pair(rows, 11, 15);
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
            Four(Avx512F.Shuffle4x128(u0, u4, 0x88), p0, scale, min, panel, signed, withMin, groupShift);
            Four(Avx512F.Shuffle4x128(u1, u5, 0x88), p0 + 4, scale, min, panel, signed, withMin, groupShift);
            Four(Avx512F.Shuffle4x128(u2, u6, 0x88), p0 + 8, scale, min, panel, signed, withMin, groupShift);
            Four(Avx512F.Shuffle4x128(u3, u7, 0x88), p0 + 12, scale, min, panel, signed, withMin, groupShift);
            Four(Avx512F.Shuffle4x128(u0, u4, 0xDD), p0 + 16, scale, min, panel, signed, withMin, groupShift);
            Four(Avx512F.Shuffle4x128(u1, u5, 0xDD), p0 + 20, scale, min, panel, signed, withMin, groupShift);
            Four(Avx512F.Shuffle4x128(u2, u6, 0xDD), p0 + 24, scale, min, panel, signed, withMin, groupShift);
            Four(Avx512F.Shuffle4x128(u3, u7, 0xDD), p0 + 28, scale, min, panel, signed, withMin, groupShift);
        }
    }

    /// <summary>Rows a and b (32 bytes each) in the low and high halves of one register.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<int> Pair(byte* rows, int a, int b) =>
        Avx512F.InsertVector256(Vector256.Load((int*)(rows + a * KC)).ToVector512Unsafe(), Vector256.Load((int*)(rows + b * KC)), 1);

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
}
