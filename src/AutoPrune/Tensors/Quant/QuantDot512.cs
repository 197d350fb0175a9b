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
/// <see cref="HalfTable"/>. Q4_K and Q6_K meet activations with one scale per 256 values: the sub-block scales
/// are applied in vpmaddwd, a super-block's products, mins and offsets are summed in int32, and each super-block
/// costs one int→float conversion and one FMA per row (plus one of each for the Q4_K mins).
/// </summary>
internal static unsafe class QuantDot512
{
    // Two prefetch streams: 10 lines ahead in each row into L1, and the next 4 rows into L2 (PrefetchNext). Together
    // 1.33x (Q4_K), 1.27x (Q6_K), 1.06x (Q8_0) the first alone beyond the last-level cache, single-threaded.
    private const int Prefetch = 640;

    /// <summary>
    /// Rows [r, r+4) of a row-major block matrix (stride <paramref name="rowBytes"/>) · activation row a → y[0..4).
    /// <paramref name="next"/>: the first of the 4 rows the caller reads after these (null if none), fetched into L2
    /// during this pass, in step with it (see <see cref="PrefetchNext"/>).
    /// </summary>
    public static void Dot4(DType t, byte* w, long rowBytes, ActRow a, int k, float* y, byte* next)
    {
        switch (t)
        {
            case DType.Q8_0: Q8_0x4(w, rowBytes, a, k, y, next); break;
            case DType.Q4_K: Q4_Kx4(w, rowBytes, a, k, y, next); break;
            default: Q6_Kx4(w, rowBytes, a, k, y, next); break;
        }
    }

    /// <summary>
    /// Step <paramref name="b"/> of a 4-row pass that reads <paramref name="step"/> bytes of the 4 rows per step
    /// prefetches the same share of the next 4 rows (contiguous in memory) into L2. The rows are short streams (2.3 KB
    /// for a Q4_K row of 4096) that the hardware prefetcher ramps up on too late; this keeps one steady stream a group ahead.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void PrefetchNext(byte* next, int b, int step)
    {
        if (next == null) return;
        byte* p = next + (long)b * step, e = p + step;
        for (p = (byte*)((nint)p & ~63); p < e; p += 64) Sse.Prefetch1(p);
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
    private static void Q8_0x4(byte* w0, long rs, ActRow a, int k, float* y, byte* next)
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
                PrefetchNext(next, b >> 1, 8 * 34);
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

    // One super-block's activations, shuffled to match the nibble layout: a 64-byte run of qs holds sub-blocks
    // (0, 2) in its low nibbles and (1, 3) in its high nibbles (likewise 4-7), so x02 = [x₀|x₂], x13 = [x₁|x₃], …
    // They are plain locals handed to Q4KBlock by value: a struct holding them was copied to the stack per row.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Q4KActs(ActRow a, int b, out Vector512<sbyte> x02, out Vector512<sbyte> x13, out Vector512<sbyte> x46,
        out Vector512<sbyte> x57, out Vector128<short> bsum, out float dx)
    {
        sbyte* x = a.Q + 256 * b;
        var x01 = Avx512F.LoadVector512(x).AsInt32(); var x23 = Avx512F.LoadVector512(x + 64).AsInt32();
        var x45 = Avx512F.LoadVector512(x + 128).AsInt32(); var x67 = Avx512F.LoadVector512(x + 192).AsInt32();
        x02 = Avx512F.Shuffle4x128(x01, x23, 0x44).AsSByte(); x13 = Avx512F.Shuffle4x128(x01, x23, 0xEE).AsSByte();
        x46 = Avx512F.Shuffle4x128(x45, x67, 0x44).AsSByte(); x57 = Avx512F.Shuffle4x128(x45, x67, 0xEE).AsSByte();
        bsum = Sse2.LoadVector128(a.BSum32 + 8 * b);
        dx = a.D[b];
    }

    // Constant vectors are built inline (the JIT folds them): static readonly fields in these AggressiveOptimization
    // methods kept a class-initialisation check in the loop, and every live vector was spilled around it.

    /// <summary>vpermw indices spreading sub-block scales i and j over the int16 lanes of [s_i|s_j] products.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<short> Spread(short i, short j) => Vector512.Create(
        i, i, i, i, i, i, i, i, i, i, i, i, i, i, i, i, j, j, j, j, j, j, j, j, j, j, j, j, j, j, j, j);

    /// <summary>
    /// Σ scale·dot over a super-block's 8 sub-blocks in int32 lanes: vpmaddubsw (nibble·int8 pairs), then vpmaddwd by
    /// the scales, which are int16 lanes o..o+7 of <paramref name="sc"/> (o = 0 or 16, a constant after inlining).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<int> Q4KDots(byte* w, Vector512<short> sc, short o,
        Vector512<sbyte> x02, Vector512<sbyte> x13, Vector512<sbyte> x46, Vector512<sbyte> x57)
    {
        var mask = Vector512.Create((byte)0xF);
        var r0 = Avx512F.LoadVector512(w + 16);
        var r1 = Avx512F.LoadVector512(w + 80);
        var p = Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(r0 & mask, x02), Avx512BW.PermuteVar32x16(sc, Spread(o, (short)(o + 2))));
        p += Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(Avx512BW.ShiftRightLogical(r0.AsUInt16(), 4).AsByte() & mask, x13), Avx512BW.PermuteVar32x16(sc, Spread((short)(o + 1), (short)(o + 3))));
        p += Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(r1 & mask, x46), Avx512BW.PermuteVar32x16(sc, Spread((short)(o + 4), (short)(o + 6))));
        return p + Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(Avx512BW.ShiftRightLogical(r1.AsUInt16(), 4).AsByte() & mask, x57), Avx512BW.PermuteVar32x16(sc, Spread((short)(o + 5), (short)(o + 7))));
    }

    /// <summary>F16 → F32 in the low 16 bits of each 32-bit lane, exactly as <see cref="HalfTable"/> (tested on all 65536).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<float> HalfToSingle(Vector512<uint> h)
    {
        var mag = (h & Vector512.Create(0x7FFFu)) << 13;
        // the half's exponent field sits in the float's: scaling by 2^112 rebases it (subnormals included)
        var f = (mag.AsSingle() * Vector512.Create(BitConverter.Int32BitsToSingle(0x77800000))).AsUInt32();
        var special = Vector512.GreaterThanOrEqual(mag, Vector512.Create(0x7C00u << 13)); // infinity, NaN (made quiet, as .NET does)
        var nan = Vector512.GreaterThan(mag, Vector512.Create(0x7C00u << 13)) & Vector512.Create(0x400000u);
        f = Vector512.ConditionalSelect(special, mag | nan | Vector512.Create(0x7F800000u), f);
        return (f | ((h & Vector512.Create(0x8000u)) << 16)).AsSingle();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void PrefetchK(byte* w)
    {
        Sse.Prefetch0(w + Prefetch); Sse.Prefetch0(w + Prefetch + 64); Sse.Prefetch0(w + Prefetch + 128);
    }

    /// <summary>
    /// The 4 rows' block headers (d, dmin, 12 bytes of packed scales and mins) are decoded together, one row per
    /// 128-bit lane: the 6-bit fields with shifts and masks, d and dmin converted from F16 in vector lanes. Each row's
    /// mins term Σ min·(sum of the sub-block's activations) lands in 4 float lanes of a shared accumulator (rows 0, 1
    /// in <c>m01</c>, 2, 3 in <c>m23</c>); <see cref="Q4_Kx1"/> keeps the same 4 lanes in an xmm, so every row's
    /// result is bitwise the same in either form.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Q4_Kx4(byte* w0, long rs, ActRow a, int k, float* y, byte* next)
    {
        byte* w1 = w0 + rs, w2 = w1 + rs, w3 = w2 + rs;
        Vector512<float> c0 = default, c1 = default, c2 = default, c3 = default, m01 = default, m23 = default;
        for (int b = 0; b < k / 256; b++, w0 += 144, w1 += 144, w2 += 144, w3 += 144)
        {
            PrefetchK(w0); PrefetchK(w1); PrefetchK(w2); PrefetchK(w3);
            PrefetchNext(next, b, 4 * 144);
            Q4KActs(a, b, out var x02, out var x13, out var x46, out var x57, out var bs, out float dx);
            // Per lane (row): dwords [d|dmin, u0, u1, u2] → bytes [sc0..7, m0..7] (the layout Dequantize.ScaleMinK4 reads).
            var h = Vector512.Create(Vector256.Create(Sse2.LoadVector128(w0), Sse2.LoadVector128(w1)), Vector256.Create(Sse2.LoadVector128(w2), Sse2.LoadVector128(w3))).AsUInt32();
            var lo = Avx512F.ShiftRightLogicalVariable(Avx512F.Shuffle(h, 0xED), Vector512.Create(0u, 0, 0, 4, 0, 0, 0, 4, 0, 0, 0, 4, 0, 0, 0, 4))
                & Vector512.Create(0x3F3F3F3Fu, 0x0F0F0F0F, 0x3F3F3F3F, 0x0F0F0F0F, 0x3F3F3F3F, 0x0F0F0F0F, 0x3F3F3F3F, 0x0F0F0F0F,
                                   0x3F3F3F3F, 0x0F0F0F0F, 0x3F3F3F3F, 0x0F0F0F0F, 0x3F3F3F3F, 0x0F0F0F0F, 0x3F3F3F3F, 0x0F0F0F0F);
            var hi = Avx512F.ShiftRightLogical(Avx512F.Shuffle(h, 0xA5), 2)
                & Vector512.Create(0u, 0x30303030, 0, 0x30303030, 0, 0x30303030, 0, 0x30303030, 0, 0x30303030, 0, 0x30303030, 0, 0x30303030, 0, 0x30303030);
            var sm = (lo | hi).AsByte();
            var s01 = Avx512BW.ConvertToVector512Int16(sm.GetLower()); // [sc, m] of row 0, then row 1
            var s23 = Avx512BW.ConvertToVector512Int16(sm.GetUpper());
            // d·dx and dmin·dx of each row in dwords 0 and 1 of its lane.
            var df = HalfToSingle(Avx512BW.Shuffle(h.AsByte(), Vector512.Create(
                (byte)0, 1, 0x80, 0x80, 2, 3, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
                0, 1, 0x80, 0x80, 2, 3, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
                0, 1, 0x80, 0x80, 2, 3, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
                0, 1, 0x80, 0x80, 2, 3, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80)).AsUInt32()) * Vector512.Create(dx);
            c0 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(Q4KDots(w0, s01, 0, x02, x13, x46, x57)), Avx512F.PermuteVar16x32(df, Vector512.Create(0)), c0);
            c1 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(Q4KDots(w1, s01, 16, x02, x13, x46, x57)), Avx512F.PermuteVar16x32(df, Vector512.Create(4)), c1);
            c2 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(Q4KDots(w2, s23, 0, x02, x13, x46, x57)), Avx512F.PermuteVar16x32(df, Vector512.Create(8)), c2);
            c3 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(Q4KDots(w3, s23, 16, x02, x13, x46, x57)), Avx512F.PermuteVar16x32(df, Vector512.Create(12)), c3);
            // mins: int16 lanes 8-15 (row 0) and 24-31 (row 1) against the activation sums → int32 lanes 4-7 and 12-15
            var z = Vector128<short>.Zero;
            var zb = Vector256.Create(z, bs);
            var bsum = Vector512.Create(zb, zb);
            m01 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(Avx512BW.MultiplyAddAdjacent(s01, bsum)),
                Avx512F.PermuteVar16x32(df, Vector512.Create(1, 1, 1, 1, 1, 1, 1, 1, 5, 5, 5, 5, 5, 5, 5, 5)), m01);
            m23 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(Avx512BW.MultiplyAddAdjacent(s23, bsum)),
                Avx512F.PermuteVar16x32(df, Vector512.Create(9, 9, 9, 9, 9, 9, 9, 9, 13, 13, 13, 13, 13, 13, 13, 13)), m23);
        }
        y[0] = Vector512.Sum(c0) - Vector128.Sum(m01.GetLower().GetUpper());
        y[1] = Vector512.Sum(c1) - Vector128.Sum(m01.GetUpper().GetUpper());
        y[2] = Vector512.Sum(c2) - Vector128.Sum(m23.GetLower().GetUpper());
        y[3] = Vector512.Sum(c3) - Vector128.Sum(m23.GetUpper().GetUpper());
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float Q4_Kx1(byte* w, ActRow a, int k)
    {
        Vector512<float> c = default;
        Vector128<float> mins = default;
        for (int b = 0; b < k / 256; b++, w += 144)
        {
            PrefetchK(w);
            Q4KActs(a, b, out var x02, out var x13, out var x46, out var x57, out var bs, out float dx);
            // Eight 6-bit scales and mins from the 12 packed bytes, four at a time in 32-bit words.
            uint u0 = *(uint*)(w + 4), u1 = *(uint*)(w + 8), u2 = *(uint*)(w + 12);
            uint scLo = u0 & 0x3F3F3F3F, mLo = u1 & 0x3F3F3F3F;
            uint scHi = (u2 & 0x0F0F0F0F) | (((u0 >> 6) & 0x03030303) << 4);
            uint mHi = ((u2 >> 4) & 0x0F0F0F0F) | (((u1 >> 6) & 0x03030303) << 4);
            var sc = Sse41.ConvertToVector128Int16(Vector128.CreateScalar(scLo | (ulong)scHi << 32).AsByte()).ToVector256Unsafe().ToVector512Unsafe();
            var m = Sse41.ConvertToVector128Int16(Vector128.CreateScalar(mLo | (ulong)mHi << 32).AsByte());
            c = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(Q4KDots(w, sc, 0, x02, x13, x46, x57)), Vector512.Create(HalfTable.Get(w) * dx), c);
            mins = Fma.MultiplyAdd(Sse2.ConvertToVector128Single(Sse2.MultiplyAddAdjacent(m, bs)), Vector128.Create(HalfTable.Get(w + 2) * dx), mins);
        }
        return Vector512.Sum(c) - Vector128.Sum(mins);
    }

    // ---------------------------------------------------------------- Q6_K

    /// <summary>vpermw indices: the per-16-value scales f..f+3 over the int16 lanes of the products of 64 values.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<short> Groups(short f)
    {
        short g = (short)(f + 1), h = (short)(f + 2), i = (short)(f + 3);
        return Vector512.Create(f, f, f, f, f, f, f, f, g, g, g, g, g, g, g, g, h, h, h, h, h, h, h, h, i, i, i, i, i, i, i, i);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Q6KBlock(byte* w, sbyte* x, Vector256<short> bsum, float dx, Vector512<float> acc)
    {
        var sc = Avx2.ConvertToVector256Int16(Sse2.LoadVector128((sbyte*)(w + 192)));
        var p = Q6KHalf(w, x, sc.ToVector512Unsafe(), 0) + Q6KHalf(w, x, sc.ToVector512Unsafe(), 1);
        // − 32·Σ scale·(sum of its 16 activations): the −32 offset of every value
        p -= Avx2.ShiftLeftLogical(Avx2.MultiplyAddAdjacent(sc, bsum), 5).ToVector512();
        return Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(p), Vector512.Create(HalfTable.Get(w + 208) * dx), acc);
    }

    /// <summary>Σ scale·q·x over values [128n, 128n+128) of a Q6_K super-block (n a constant after inlining), q in 0..63.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<int> Q6KHalf(byte* w, sbyte* x, Vector512<short> sc, int n)
    {
        var m4 = Vector512.Create((byte)0x0F);
        var m30 = Vector512.Create((byte)0x30);
        // Per 16-bit lane shifts that bring the 2 high bits of each value to bits 4-5: values 0-31 of a 128-value
        // half sit in qh bits 0-1 (shift left 4), 32-63 in bits 2-3 (left 2), 64-95 in bits 4-5, 96-127 in bits 6-7 (right 2).
        var shlLo = Vector512.Create((ushort)4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2);
        var shrHi = Vector512.Create((ushort)0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2);
        var ql = Avx512F.LoadVector512(w + 64 * n);
        // Both halves get the same 32 qh bytes. (Avx512F.BroadcastVector256ToVector512(ulong*) read the wrong
        // address here under .NET 10.0.12's JIT, so the broadcast is spelled as a two-half create.)
        var qh256 = Avx.LoadVector256((ushort*)(w + 128 + 32 * n));
        var qh = Vector512.Create(qh256, qh256);
        var lo = (ql & m4) | (Avx512BW.ShiftLeftLogicalVariable(qh, shlLo).AsByte() & m30);
        var hi = (Avx512BW.ShiftRightLogical(ql.AsUInt16(), 4).AsByte() & m4) | (Avx512BW.ShiftRightLogicalVariable(qh, shrHi).AsByte() & m30);
        var pl = Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(lo, Avx512F.LoadVector512(x + 128 * n)),
            Avx512BW.PermuteVar32x16(sc, Groups((short)(8 * n))));
        var ph = Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(hi, Avx512F.LoadVector512(x + 128 * n + 64)),
            Avx512BW.PermuteVar32x16(sc, Groups((short)(8 * n + 4))));
        return pl + ph;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void PrefetchK6(byte* w)
    {
        Sse.Prefetch0(w + Prefetch); Sse.Prefetch0(w + Prefetch + 64); Sse.Prefetch0(w + Prefetch + 128); Sse.Prefetch0(w + Prefetch + 192);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Q6_Kx4(byte* w0, long rs, ActRow a, int k, float* y, byte* next)
    {
        byte* w1 = w0 + rs, w2 = w1 + rs, w3 = w2 + rs;
        Vector512<float> c0 = default, c1 = default, c2 = default, c3 = default;
        for (int b = 0; b < k / 256; b++, w0 += 210, w1 += 210, w2 += 210, w3 += 210)
        {
            PrefetchK6(w0); PrefetchK6(w1); PrefetchK6(w2); PrefetchK6(w3);
            PrefetchNext(next, b, 4 * 210);
            sbyte* x = a.Q + 256 * b;
            var bs = Avx.LoadVector256(a.BSum16 + 16 * b);
            float dx = a.D[b];
            c0 = Q6KBlock(w0, x, bs, dx, c0);
            c1 = Q6KBlock(w1, x, bs, dx, c1);
            c2 = Q6KBlock(w2, x, bs, dx, c2);
            c3 = Q6KBlock(w3, x, bs, dx, c3);
        }
        y[0] = Vector512.Sum(c0); y[1] = Vector512.Sum(c1); y[2] = Vector512.Sum(c2); y[3] = Vector512.Sum(c3);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float Q6_Kx1(byte* w, ActRow a, int k)
    {
        Vector512<float> c = default;
        for (int b = 0; b < k / 256; b++, w += 210)
        {
            PrefetchK6(w);
            c = Q6KBlock(w, a.Q + 256 * b, Avx.LoadVector256(a.BSum16 + 16 * b), a.D[b], c);
        }
        return Vector512.Sum(c);
    }
}
