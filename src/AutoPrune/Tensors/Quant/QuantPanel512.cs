using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace AutoPrune.Tensors.Quant;

/// <summary>
/// AVX-512 <see cref="QuantPanel.PackB"/> for Q8_0, Q4_K and Q6_K: decodes 16 W rows straight into the packed B
/// layout (one 16-lane vector per k, lane = W row), with no F32 row buffer and no second transposing copy. Each row's
/// integer codes are first unpacked to one byte per value (64 values per instruction), then 16 rows x 32 bytes are
/// transposed as 16 x 8 dwords (<see cref="PanelTranspose512"/>), so a vector holds 4 consecutive k of all 16 rows; a
/// shift (and mask) isolates one k, and per-row scales are per-lane vectors. Every value is the same float operations as <see cref="Dequantize"/>
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
            // Q4_K block headers of 16 whole rows are decoded together, a row per lane (the layout scale and min are kept
            // in): 1.25x faster packing than row by row. At the N edge, row by row below; so are Q6_K's plain int8
            // scales (lanes measured slower) and Q8_0's single one.
            bool lanes = n0 + q + NR <= n && t == DType.Q4_K;
            if (lanes)
            {
                byte* first = w.Data + (n0 + q) * rowBytes + (long)(k0 / be) * bb;
                for (int b = 0; b < blocks; b++) HeadersQ4_K(first + b * bb, rowBytes, scale + b * 8 * NR, min + b * 8 * NR);
            }
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
                    case DType.Q4_K: for (int b = 0; b < blocks; b++) RowQ4_K(src + b * bb, c + b * 256, lanes ? null : scale + b * 8 * NR + r, min + b * 8 * NR + r); break;
                    default: for (int b = 0; b < blocks; b++) RowQ6_K(src + b * bb, c + b * 256, scale + b * 16 * NR + r); break;
                }
            }
            float* panel = dst + (long)q * kc;
            switch (t)
            {
                case DType.Q8_0: Emit<Q8_0Codes>(codes, kc, scale, min, panel); break;
                case DType.Q4_K: Emit<Q4_KCodes>(codes, kc, scale, min, panel); break;
                default: Emit<Q6_KCodes>(codes, kc, scale, min, panel); break;
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

    /// <summary>A Q4_K block's nibbles to bytes; its scales and mins too unless <paramref name="scale"/> is null (decoded in lanes).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void RowQ4_K(byte* b, byte* c, float* scale, float* min)
    {
        if (scale != null)
        {
            float d = HalfTable.Get(b), dmin = HalfTable.Get(b + 2);
            for (int s = 0; s < 8; s++)
            {
                var (sc, mn) = Dequantize.ScaleMinK4(s, b + 4);
                scale[s * NR] = d * sc;
                min[s * NR] = dmin * mn;
            }
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

    // ---------------------------------------------------------------- 16 rows' block headers → per-lane scales

    /// <summary>The first 4 dwords of 16 rows' blocks, one row per lane (a 16-row transpose of 32 bytes per row).</summary>
    private struct HeaderDwords : IDwordColumns
    {
        public Vector512<uint> D0, D1, D2, D3;
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Put(Vector512<int> v, int j)
        {
            switch (j)
            {
                case 0: D0 = v.AsUInt32(); break;
                case 1: D1 = v.AsUInt32(); break;
                case 2: D2 = v.AsUInt32(); break;
                case 3: D3 = v.AsUInt32(); break;
            }
        }
    }

    /// <summary>
    /// <see cref="RowQ4_K"/>'s scales and mins for 16 rows (block of row 0 at <paramref name="b"/>, rows
    /// <paramref name="rowBytes"/> apart): d·scale and dmin·min of the 8 sub-blocks, lane r = row r, with the same
    /// F16 conversion (<see cref="QuantDot512.HalfToSingle"/>) and products, so bitwise the row-by-row values.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void HeadersQ4_K(byte* b, long rowBytes, float* scale, float* min)
    {
        var h = new HeaderDwords();
        PanelTranspose512.Run(b, (nint)rowBytes, ref h);   // dwords: d|dmin, then the 12 bytes of 6-bit scales and mins
        var d = QuantDot512.HalfToSingle(h.D0);
        var dmin = QuantDot512.HalfToSingle(h.D0 >> 16);
        Vector512<uint> u0 = h.D1, u1 = h.D2, u2 = h.D3, m6 = Vector512.Create(63u), m4 = Vector512.Create(15u), m2 = Vector512.Create(3u);
        for (int j = 0; j < 4; j++)
        {
            int s = 8 * j;
            Vector512.Store(d * Avx512F.ConvertToVector512Single((u0 >> s & m6).AsInt32()), scale + j * NR);
            Vector512.Store(dmin * Avx512F.ConvertToVector512Single((u1 >> s & m6).AsInt32()), min + j * NR);
            var sc = (u2 >> s & m4) | ((u0 >> (s + 6) & m2) << 4);
            var mn = (u2 >> (s + 4) & m4) | ((u1 >> (s + 6) & m2) << 4);
            Vector512.Store(d * Avx512F.ConvertToVector512Single(sc.AsInt32()), scale + (j + 4) * NR);
            Vector512.Store(dmin * Avx512F.ConvertToVector512Single(mn.AsInt32()), min + (j + 4) * NR);
        }
    }

    // ---------------------------------------------------------------- 16 rows of bytes → packed F32 panel

    /// <summary>panel[p·16 + r] = value p of row r, 32 values at a time through <see cref="PanelTranspose512"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Emit<TFormat>(byte* codes, int kc, float* scale, float* min, float* panel) where TFormat : struct
    {
        var sink = new CodeColumns<TFormat> { Scale = scale, Min = min, Panel = panel };
        for (sink.P0 = 0; sink.P0 < kc; sink.P0 += 32) PanelTranspose512.Run(codes + sink.P0, KC, ref sink);
    }

    private struct Q8_0Codes;   // signed bytes, a scale per 32 values
    private struct Q4_KCodes;   // unsigned nibbles, a scale and a min per 32 values
    private struct Q6_KCodes;   // signed bytes, a scale per 16 values

    /// <summary>
    /// Lane r of a column holds codes P0+4j..P0+4j+3 of row r: each becomes (float)code · scale (− min), the
    /// reference's operations and roundings (no FMA).
    /// </summary>
    private struct CodeColumns<TFormat> : IDwordColumns where TFormat : struct
    {
        public float* Scale, Min, Panel;
        public int P0;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Put(Vector512<int> v, int j)
        {
            int p = P0 + 4 * j;
            int group = typeof(TFormat) == typeof(Q6_KCodes) ? p >> 4 : p >> 5;
            bool withMin = typeof(TFormat) == typeof(Q4_KCodes);
            var s = Vector512.Load(Scale + group * NR);
            var m = withMin ? Vector512.Load(Min + group * NR) : default;
            Vector512<int> c0, c1, c2, c3;
            if (typeof(TFormat) == typeof(Q4_KCodes))
            {
                var ff = Vector512.Create(0xFF);
                c0 = v & ff;
                c1 = Avx512F.ShiftRightLogical(v, 8) & ff;
                c2 = Avx512F.ShiftRightLogical(v, 16) & ff;
                c3 = Avx512F.ShiftRightLogical(v, 24);
            }
            else
            {
                c0 = Avx512F.ShiftRightArithmetic(Avx512F.ShiftLeftLogical(v, 24), 24);
                c1 = Avx512F.ShiftRightArithmetic(Avx512F.ShiftLeftLogical(v, 16), 24);
                c2 = Avx512F.ShiftRightArithmetic(Avx512F.ShiftLeftLogical(v, 8), 24);
                c3 = Avx512F.ShiftRightArithmetic(v, 24);
            }
            float* o = Panel + p * NR;
            Value(c0, s, m, o, withMin);
            Value(c1, s, m, o + NR, withMin);
            Value(c2, s, m, o + 2 * NR, withMin);
            Value(c3, s, m, o + 3 * NR, withMin);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Value(Vector512<int> c, Vector512<float> s, Vector512<float> m, float* o, bool withMin)
    {
        var f = Avx512F.ConvertToVector512Single(c) * s;   // scale · code, then − min: the reference's two roundings
        if (withMin) f -= m;
        Avx512F.StoreAligned(o, f);
    }
}
