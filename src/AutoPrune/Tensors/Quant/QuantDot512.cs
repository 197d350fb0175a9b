using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace AutoPrune.Tensors.Quant;

/// <summary>
/// AVX-512 (F/BW) block dot products for decode: 4 consecutive weight rows against one activation row, so each
/// activation load (and shuffle) feeds four rows, plus a 1-row form of the same arithmetic for tails. A row's
/// result is bitwise the same in either form. .NET exposes no AVX-512 VNNI, so int8 products are vpmaddubsw
/// (u8·s8 → int16 pairs) + vpmaddwd; for Q8_0, whose weights are signed, the activations are widened to int16
/// once per call and each block is one vpmovsxbw + vpmaddwd (no sign trick). Block scales come from
/// <see cref="HalfTable"/>. Q4_K and Q6_K apply their integer sub-block scales in vpmaddwd and the per-32
/// activation scales as one FMA per 32 values (<see cref="ActRow.D8"/> holds them already repeated per lane).
/// </summary>
internal static unsafe class QuantDot512
{
    private const int Prefetch = 640; // bytes ahead in each row stream: ~10 lines, measured against 0/384/1024

    /// <summary>Rows [r, r+4) of a row-major block matrix (stride <paramref name="rowBytes"/>) · activation row a → y[0..4).</summary>
    public static void Dot4(DType t, byte* w, long rowBytes, ActRow a, int k, float* y)
    {
        switch (t)
        {
            case DType.Q8_0: Q8_0x4(w, rowBytes, a, k, y); break;
            case DType.Q4_K: Q4_Kx4(w, rowBytes, a, k, y); break;
            default: Q6_Kx4(w, rowBytes, a, k, y); break;
        }
    }

    /// <summary>One row; bitwise the result that row gets inside <see cref="Dot4"/>.</summary>
    public static float Dot1(DType t, byte* w, ActRow a, int k) => t switch
    {
        DType.Q8_0 => Q8_0x1(w, a, k),
        DType.Q4_K => Q4_Kx1(w, a, k),
        _ => Q6_Kx1(w, a, k),
    };

    public static bool Handles(DType t) => t is DType.Q8_0 or DType.Q4_K or DType.Q6_K;

    // ---------------------------------------------------------------- Q8_0

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Q8Block(byte* w, Vector512<short> x, float dx, Vector512<float> acc)
    {
        var p = Avx512BW.MultiplyAddAdjacent(Avx512BW.ConvertToVector512Int16(Avx.LoadVector256((sbyte*)(w + 2))), x);
        return Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(p), Vector512.Create(HalfTable.Get(w) * dx), acc);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Q8_0x4(byte* w0, long rs, ActRow a, int k, float* y)
    {
        byte* w1 = w0 + rs, w2 = w1 + rs, w3 = w2 + rs;
        Vector512<float> c0 = default, c1 = default, c2 = default, c3 = default;
        int nb = k / 32;
        for (int b = 0; b < nb; b++, w0 += 34, w1 += 34, w2 += 34, w3 += 34)
        {
            if ((b & 1) == 0)
            {
                Sse.Prefetch0(w0 + Prefetch); Sse.Prefetch0(w1 + Prefetch);
                Sse.Prefetch0(w2 + Prefetch); Sse.Prefetch0(w3 + Prefetch);
            }
            var x = Avx512F.LoadVector512(a.Q16 + 32 * b);
            float dx = a.D[b];
            c0 = Q8Block(w0, x, dx, c0);
            c1 = Q8Block(w1, x, dx, c1);
            c2 = Q8Block(w2, x, dx, c2);
            c3 = Q8Block(w3, x, dx, c3);
        }
        y[0] = Vector512.Sum(c0); y[1] = Vector512.Sum(c1); y[2] = Vector512.Sum(c2); y[3] = Vector512.Sum(c3);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float Q8_0x1(byte* w, ActRow a, int k)
    {
        var c = Vector512<float>.Zero;
        for (int b = 0; b < k / 32; b++, w += 34)
        {
            if ((b & 1) == 0) Sse.Prefetch0(w + Prefetch);
            c = Q8Block(w, Avx512F.LoadVector512(a.Q16 + 32 * b), a.D[b], c);
        }
        return Vector512.Sum(c);
    }

    // ---------------------------------------------------------------- Q4_K

    /// <summary>
    /// One super-block's activations, shuffled to match the nibble layout: a 64-byte run of qs holds sub-blocks
    /// (0, 2) in its low nibbles and (1, 3) in its high nibbles (likewise 4-7), so X02 = [x₀|x₂], X13 = [x₁|x₃], …
    /// and the repeated scales D02 = [d₀×8|d₂×8], ….
    /// </summary>
    private readonly struct Q4KActs
    {
        public readonly Vector512<sbyte> X02, X13, X46, X57;
        public readonly Vector512<float> D02, D13, D46, D57;
        public readonly Vector256<float> DSum;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public Q4KActs(ActRow a, int b)
        {
            sbyte* x = a.Q + 256 * b;
            float* d = a.D8 + 64 * b;
            var x01 = Avx512F.LoadVector512(x).AsInt32(); var x23 = Avx512F.LoadVector512(x + 64).AsInt32();
            var x45 = Avx512F.LoadVector512(x + 128).AsInt32(); var x67 = Avx512F.LoadVector512(x + 192).AsInt32();
            X02 = Avx512F.Shuffle4x128(x01, x23, 0x44).AsSByte(); X13 = Avx512F.Shuffle4x128(x01, x23, 0xEE).AsSByte();
            X46 = Avx512F.Shuffle4x128(x45, x67, 0x44).AsSByte(); X57 = Avx512F.Shuffle4x128(x45, x67, 0xEE).AsSByte();
            var d01 = Avx512F.LoadVector512(d); var d23 = Avx512F.LoadVector512(d + 16);
            var d45 = Avx512F.LoadVector512(d + 32); var d67 = Avx512F.LoadVector512(d + 48);
            D02 = Avx512F.Shuffle4x128(d01, d23, 0x44); D13 = Avx512F.Shuffle4x128(d01, d23, 0xEE);
            D46 = Avx512F.Shuffle4x128(d45, d67, 0x44); D57 = Avx512F.Shuffle4x128(d45, d67, 0xEE);
            DSum = Avx.LoadVector256(a.DSum32 + 8 * b);
        }
    }

    // vpermw indices spreading the 8 sub-block scales over the int16 lanes of [s_i|s_j] products.
    private static readonly Vector512<short> Sc02 = Spread(0, 2), Sc13 = Spread(1, 3), Sc46 = Spread(4, 6), Sc57 = Spread(5, 7);

    private static Vector512<short> Spread(int i, int j)
    {
        var v = new short[32];
        for (int l = 0; l < 32; l++) v[l] = (short)(l < 16 ? i : j);
        return Vector512.Create(v);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Q4KBlock(byte* w, in Q4KActs x, ref Vector512<float> acc, ref Vector256<float> mins)
    {
        // Eight 6-bit scales and mins from the 12 packed bytes, four at a time in 32-bit words.
        uint u0 = *(uint*)(w + 4), u1 = *(uint*)(w + 8), u2 = *(uint*)(w + 12);
        uint scLo = u0 & 0x3F3F3F3F, mLo = u1 & 0x3F3F3F3F;
        uint scHi = (u2 & 0x0F0F0F0F) | (((u0 >> 6) & 0x03030303) << 4);
        uint mHi = ((u2 >> 4) & 0x0F0F0F0F) | (((u1 >> 6) & 0x03030303) << 4);
        var sc = Sse41.ConvertToVector128Int16(Vector128.CreateScalar(scLo | (ulong)scHi << 32).AsByte()).ToVector256Unsafe().ToVector512Unsafe();
        var m = Avx.ConvertToVector256Single(Avx2.ConvertToVector256Int32(Vector128.CreateScalar(mLo | (ulong)mHi << 32).AsByte()));
        float d = HalfTable.Get(w), dmin = HalfTable.Get(w + 2);
        mins = Fma.MultiplyAdd(m, x.DSum * Vector256.Create(dmin), mins);

        var mask = Vector512.Create((byte)0xF);
        var r0 = Avx512F.LoadVector512(w + 16);
        var r1 = Avx512F.LoadVector512(w + 80);
        var p02 = Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(r0 & mask, x.X02), Avx512BW.PermuteVar32x16(sc, Sc02));
        var p13 = Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(Avx512BW.ShiftRightLogical(r0.AsUInt16(), 4).AsByte() & mask, x.X13), Avx512BW.PermuteVar32x16(sc, Sc13));
        var p46 = Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(r1 & mask, x.X46), Avx512BW.PermuteVar32x16(sc, Sc46));
        var p57 = Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(Avx512BW.ShiftRightLogical(r1.AsUInt16(), 4).AsByte() & mask, x.X57), Avx512BW.PermuteVar32x16(sc, Sc57));
        var s = Avx512F.ConvertToVector512Single(p02) * x.D02;
        s = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(p13), x.D13, s);
        s = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(p46), x.D46, s);
        s = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(p57), x.D57, s);
        acc = Avx512F.FusedMultiplyAdd(s, Vector512.Create(d), acc);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void PrefetchK(byte* w)
    {
        Sse.Prefetch0(w + Prefetch); Sse.Prefetch0(w + Prefetch + 64); Sse.Prefetch0(w + Prefetch + 128);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Q4_Kx4(byte* w0, long rs, ActRow a, int k, float* y)
    {
        byte* w1 = w0 + rs, w2 = w1 + rs, w3 = w2 + rs;
        Vector512<float> c0 = default, c1 = default, c2 = default, c3 = default;
        Vector256<float> m0 = default, m1 = default, m2 = default, m3 = default;
        for (int b = 0; b < k / 256; b++, w0 += 144, w1 += 144, w2 += 144, w3 += 144)
        {
            PrefetchK(w0); PrefetchK(w1); PrefetchK(w2); PrefetchK(w3);
            var x = new Q4KActs(a, b);
            Q4KBlock(w0, x, ref c0, ref m0);
            Q4KBlock(w1, x, ref c1, ref m1);
            Q4KBlock(w2, x, ref c2, ref m2);
            Q4KBlock(w3, x, ref c3, ref m3);
        }
        y[0] = Vector512.Sum(c0) - Vector256.Sum(m0); y[1] = Vector512.Sum(c1) - Vector256.Sum(m1);
        y[2] = Vector512.Sum(c2) - Vector256.Sum(m2); y[3] = Vector512.Sum(c3) - Vector256.Sum(m3);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float Q4_Kx1(byte* w, ActRow a, int k)
    {
        Vector512<float> c = default;
        Vector256<float> m = default;
        for (int b = 0; b < k / 256; b++, w += 144)
        {
            PrefetchK(w);
            Q4KBlock(w, new Q4KActs(a, b), ref c, ref m);
        }
        return Vector512.Sum(c) - Vector256.Sum(m);
    }

    // ---------------------------------------------------------------- Q6_K

    // vpermw indices: the 16 per-16-value scales over the int16 lanes of products of values [64c, 64c+64).
    private static readonly Vector512<short> Sc6a = Groups(0), Sc6b = Groups(4), Sc6c = Groups(8), Sc6d = Groups(12);

    private static Vector512<short> Groups(int first)
    {
        var v = new short[32];
        for (int l = 0; l < 32; l++) v[l] = (short)(first + l / 8);
        return Vector512.Create(v);
    }

    // Per 16-bit lane shifts that bring the 2 high bits of each value to bits 4-5: values 0-31 of a 128-value
    // half sit in qh bits 0-1 (shift left 4), 32-63 in bits 2-3 (left 2), 64-95 in bits 4-5, 96-127 in bits 6-7 (right 2).
    private static readonly Vector512<ushort> ShlLo = Vector512.Create(Vector256.Create((ushort)4), Vector256.Create((ushort)2));
    private static readonly Vector512<ushort> ShrHi = Vector512.Create(Vector256.Create((ushort)0), Vector256.Create((ushort)2));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Q6KBlock(byte* w, ActRow a, int b, ref Vector512<float> acc, ref Vector512<float> off)
    {
        float d = HalfTable.Get(w + 208);
        var sc8 = Sse2.LoadVector128((sbyte*)(w + 192));
        var sc = Avx2.ConvertToVector256Int16(sc8).ToVector512Unsafe();
        var dv = Vector512.Create(d);
        off = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(Avx512F.ConvertToVector512Int32(sc8)) * dv,
            Avx512F.LoadVector512(a.DSum16 + 16 * b), off);

        var m4 = Vector512.Create((byte)0x0F);
        var m30 = Vector512.Create((byte)0x30);
        sbyte* x = a.Q + 256 * b;
        float* dx = a.D8 + 64 * b;
        Vector512<float> s = default;
        for (int n = 0; n < 2; n++)
        {
            var ql = Avx512F.LoadVector512(w + 64 * n);
            // Both halves get the same 32 qh bytes. (Avx512F.BroadcastVector256ToVector512(ulong*) read the wrong
            // address here under .NET 10.0.12's JIT, so the broadcast is spelled as a two-half create.)
            var qh256 = Avx.LoadVector256((ushort*)(w + 128 + 32 * n));
            var qh = Vector512.Create(qh256, qh256);
            var lo = (ql & m4) | (Avx512BW.ShiftLeftLogicalVariable(qh, ShlLo).AsByte() & m30);
            var hi = (Avx512BW.ShiftRightLogical(ql.AsUInt16(), 4).AsByte() & m4) | (Avx512BW.ShiftRightLogicalVariable(qh, ShrHi).AsByte() & m30);
            var pl = Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(lo, Avx512F.LoadVector512(x + 128 * n)),
                Avx512BW.PermuteVar32x16(sc, n == 0 ? Sc6a : Sc6c));
            var ph = Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(hi, Avx512F.LoadVector512(x + 128 * n + 64)),
                Avx512BW.PermuteVar32x16(sc, n == 0 ? Sc6b : Sc6d));
            s = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(pl), Avx512F.LoadVector512(dx + 32 * n), s);
            s = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(ph), Avx512F.LoadVector512(dx + 32 * n + 16), s);
        }
        acc = Avx512F.FusedMultiplyAdd(s, dv, acc);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void PrefetchK6(byte* w)
    {
        Sse.Prefetch0(w + Prefetch); Sse.Prefetch0(w + Prefetch + 64); Sse.Prefetch0(w + Prefetch + 128); Sse.Prefetch0(w + Prefetch + 192);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Q6_Kx4(byte* w0, long rs, ActRow a, int k, float* y)
    {
        byte* w1 = w0 + rs, w2 = w1 + rs, w3 = w2 + rs;
        Vector512<float> c0 = default, c1 = default, c2 = default, c3 = default;
        Vector512<float> o0 = default, o1 = default, o2 = default, o3 = default;
        for (int b = 0; b < k / 256; b++, w0 += 210, w1 += 210, w2 += 210, w3 += 210)
        {
            PrefetchK6(w0); PrefetchK6(w1); PrefetchK6(w2); PrefetchK6(w3);
            Q6KBlock(w0, a, b, ref c0, ref o0);
            Q6KBlock(w1, a, b, ref c1, ref o1);
            Q6KBlock(w2, a, b, ref c2, ref o2);
            Q6KBlock(w3, a, b, ref c3, ref o3);
        }
        y[0] = Vector512.Sum(c0) - Vector512.Sum(o0); y[1] = Vector512.Sum(c1) - Vector512.Sum(o1);
        y[2] = Vector512.Sum(c2) - Vector512.Sum(o2); y[3] = Vector512.Sum(c3) - Vector512.Sum(o3);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float Q6_Kx1(byte* w, ActRow a, int k)
    {
        Vector512<float> c = default, o = default;
        for (int b = 0; b < k / 256; b++, w += 210)
        {
            PrefetchK6(w);
            Q6KBlock(w, a, b, ref c, ref o);
        }
        return Vector512.Sum(c) - Vector512.Sum(o);
    }
}
