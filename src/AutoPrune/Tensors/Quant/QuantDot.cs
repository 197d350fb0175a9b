using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace AutoPrune.Tensors.Quant;

/// <summary>One quantized activation row (see <see cref="QuantizedActivations"/>): the int8 values and the tables of its block size.</summary>
public readonly unsafe struct ActRow
{
    public readonly sbyte* Q;
    public readonly float* D;
    public readonly int* Sum32;
    public readonly short* Q16;
    public readonly short* BSum16;
    public readonly short* BSum32;

    private ActRow(QuantizedActivations a, long row)
    {
        long k = a.Cols;
        Q = a.Q + row * k;
        D = a.D + row * k / a.Block;
        if (a.Block == 32) { Sum32 = a.Sum32 + row * k / 32; Q16 = a.Q16 + row * k; }
        else { BSum16 = a.BSum16 + row * k / 16; BSum32 = a.BSum32 + row * k / 32; }
    }

    public static ActRow Of(QuantizedActivations a, int row) => new(a, row);
}

/// <summary>
/// Dot products of one block-quantized weight row with one quantized activation row, k values long. Integer
/// products per block, then one float multiply-add per block (or sub-block) with the two scales.
/// <see cref="Reference"/> is the scalar definition for every type; <see cref="Fast"/> picks by <see cref="SimdLevel"/>:
/// AVX-512 (<see cref="QuantDot512"/>) for Q8_0, Q4_K and Q6_K — the types of Q8_0 and Q4_K_M files — AVX2 byte
/// multiply-adds (vpmaddubsw + vpmaddwd, or AVX-VNNI vpdpbusd) for those and Q4_0, and the reference otherwise.
/// </summary>
public static unsafe class QuantDot
{
    /// <summary>Which instructions <see cref="Fast"/> uses at the current <see cref="Simd.Level"/>.</summary>
    public static string Isa => Simd.Level switch
    {
        SimdLevel.Avx512 => "AVX-512 (Q8_0/Q4_K/Q6_K), AVX2 (Q4_0); prefill on panels decoded for the GEMM",
        SimdLevel.Avx2 => (AvxVnni.IsSupported ? "AVX-VNNI" : "AVX2") + "; prefill on panels decoded for the GEMM",
        _ => "scalar",
    };

    /// <summary>The dot product at <paramref name="level"/> (read once per call on the calling thread, handed to workers).</summary>
    public static float Fast(SimdLevel level, DType t, byte* w, ActRow a, int k)
    {
        if (level == SimdLevel.Avx512 && QuantDot512.Handles(t)) return QuantDot512.Dot1(t, w, a, k);
        if (level >= SimdLevel.Avx2)
        {
            switch (t)
            {
                case DType.Q8_0: return Q8_0Avx2(w, a, k);
                case DType.Q4_0: return Q4_0Avx2(w, a, k);
                case DType.Q4_K: return Q4_KAvx2(w, a, k);
                case DType.Q6_K: return Q6_KAvx2(w, a, k);
            }
        }
        return Reference(t, w, a, k);
    }

    public static float Reference(DType t, byte* w, ActRow a, int k) => t switch
    {
        DType.Q8_0 => Q8_0Ref(w, a, k),
        DType.Q4_0 => Q4_0Ref(w, a, k),
        DType.Q4_1 => Q4_1Ref(w, a, k),
        DType.Q5_0 => Q5_0Ref(w, a, k),
        DType.Q5_1 => Q5_1Ref(w, a, k),
        DType.Q4_K => Q4_KRef(w, a, k),
        DType.Q5_K => Q5_KRef(w, a, k),
        DType.Q6_K => Q6_KRef(w, a, k),
        _ => throw new ArgumentException($"{t} is not a block type"),
    };

    private static float H(byte* p) => Dequantize.Half(p);
    private static float HT(byte* p) => HalfTable.Get(p);

    // ---------------------------------------------------------------- scalar references

    private static float Q8_0Ref(byte* w, ActRow a, int k)
    {
        float s = 0;
        for (int b = 0; b < k / 32; b++, w += 34)
        {
            sbyte* q = (sbyte*)(w + 2), x = a.Q + 32 * b;
            int dot = 0;
            for (int j = 0; j < 32; j++) dot += q[j] * x[j];
            s += H(w) * a.D[b] * dot;
        }
        return s;
    }

    private static float Q4_0Ref(byte* w, ActRow a, int k)
    {
        float s = 0;
        for (int b = 0; b < k / 32; b++, w += 18)
        {
            sbyte* x = a.Q + 32 * b;
            int dot = 0;
            for (int j = 0; j < 16; j++) dot += (w[2 + j] & 0xF) * x[j] + (w[2 + j] >> 4) * x[j + 16];
            s += H(w) * a.D[b] * (dot - 8 * a.Sum32[b]);
        }
        return s;
    }

    private static float Q4_1Ref(byte* w, ActRow a, int k)
    {
        float s = 0;
        for (int b = 0; b < k / 32; b++, w += 20)
        {
            sbyte* x = a.Q + 32 * b;
            int dot = 0;
            for (int j = 0; j < 16; j++) dot += (w[4 + j] & 0xF) * x[j] + (w[4 + j] >> 4) * x[j + 16];
            s += H(w) * a.D[b] * dot + H(w + 2) * a.D[b] * a.Sum32[b];
        }
        return s;
    }

    private static int Dot5(byte* qs, uint qh, sbyte* x)
    {
        int dot = 0;
        for (int j = 0; j < 16; j++)
        {
            int lo = (qs[j] & 0xF) | (int)(((qh >> j) & 1) << 4), hi = (qs[j] >> 4) | (int)(((qh >> (j + 16)) & 1) << 4);
            dot += lo * x[j] + hi * x[j + 16];
        }
        return dot;
    }

    private static float Q5_0Ref(byte* w, ActRow a, int k)
    {
        float s = 0;
        for (int b = 0; b < k / 32; b++, w += 22)
            s += H(w) * a.D[b] * (Dot5(w + 6, *(uint*)(w + 2), a.Q + 32 * b) - 16 * a.Sum32[b]);
        return s;
    }

    private static float Q5_1Ref(byte* w, ActRow a, int k)
    {
        float s = 0;
        for (int b = 0; b < k / 32; b++, w += 24)
            s += H(w) * a.D[b] * Dot5(w + 8, *(uint*)(w + 4), a.Q + 32 * b) + H(w + 2) * a.D[b] * a.Sum32[b];
        return s;
    }

    // The K types meet activations quantized per 256 (one scale D[b] per super-block): each super-block's products,
    // sub-block scales and mins are summed exactly in integers, then scaled once.

    private static float Q4_KRef(byte* w, ActRow a, int k)
    {
        float s = 0;
        for (int b = 0; b < k / 256; b++, w += 144)
        {
            byte* q = w + 16;
            int sum = 0, mins = 0;
            for (int j = 0; j < 4; j++, q += 32)
                for (int h = 0; h < 2; h++)
                {
                    int sub = 2 * j + h;
                    var (sc, m) = Dequantize.ScaleMinK4(sub, w + 4);
                    sbyte* x = a.Q + 256 * b + 32 * sub;
                    int dot = 0;
                    for (int l = 0; l < 32; l++) dot += (h == 0 ? q[l] & 0xF : q[l] >> 4) * x[l];
                    sum += sc * dot;
                    mins += m * a.BSum32[8 * b + sub];
                }
            s += a.D[b] * (H(w) * sum - H(w + 2) * mins);
        }
        return s;
    }

    private static float Q5_KRef(byte* w, ActRow a, int k)
    {
        float s = 0;
        for (int b = 0; b < k / 256; b++, w += 176)
        {
            byte* qh = w + 16, q = w + 48;
            int sum = 0, mins = 0;
            for (int j = 0; j < 4; j++, q += 32)
                for (int h = 0; h < 2; h++)
                {
                    int sub = 2 * j + h;
                    var (sc, m) = Dequantize.ScaleMinK4(sub, w + 4);
                    sbyte* x = a.Q + 256 * b + 32 * sub;
                    int dot = 0;
                    for (int l = 0; l < 32; l++)
                        dot += ((h == 0 ? q[l] & 0xF : q[l] >> 4) | (((qh[l] >> sub) & 1) << 4)) * x[l];
                    sum += sc * dot;
                    mins += m * a.BSum32[8 * b + sub];
                }
            s += a.D[b] * (H(w) * sum - H(w + 2) * mins);
        }
        return s;
    }

    private static float Q6_KRef(byte* w, ActRow a, int k)
    {
        float s = 0;
        for (int b = 0; b < k / 256; b++, w += 210)
        {
            sbyte* sc = (sbyte*)(w + 192);
            int sum = 0;
            for (int n = 0; n < 2; n++)
            {
                byte* ql = w + 64 * n, qh = w + 128 + 32 * n;
                for (int g = 0; g < 4; g++)
                {
                    int sub = 4 * n + g; // the 32 values [32·sub, 32·sub+32) of the super-block
                    sbyte* x = a.Q + 256 * b + 32 * sub;
                    for (int half = 0; half < 2; half++)
                    {
                        int dot = 0;
                        for (int l = 16 * half; l < 16 * half + 16; l++)
                        {
                            int lo = g switch { 0 => ql[l] & 0xF, 1 => ql[l + 32] & 0xF, 2 => ql[l] >> 4, _ => ql[l + 32] >> 4 };
                            int q = lo | (((qh[l] >> (2 * g)) & 3) << 4);
                            dot += q * x[l];
                        }
                        // values are q − 32
                        sum += sc[8 * n + 2 * g + half] * (dot - 32 * a.BSum16[16 * b + 2 * sub + half]);
                    }
                }
            }
            s += a.D[b] * (H(w + 208) * sum);
        }
        return s;
    }

    // ---------------------------------------------------------------- AVX2 / AVX-VNNI

    /// <summary>Σ u8·s8 over 32 bytes into 8 int32 lanes: one vpdpbusd with VNNI, else vpmaddubsw + vpmaddwd.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> DotU8S8(Vector256<byte> u, Vector256<sbyte> s)
    {
        if (AvxVnni.IsSupported) return AvxVnni.MultiplyWideningAndAdd(Vector256<int>.Zero, u, s);
        return Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(u, s), Vector256.Create((short)1));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float HSum(Vector256<float> v)
    {
        var s = v.GetLower() + v.GetUpper();
        s += Sse.MoveHighToLow(s, s);
        s += Sse.Shuffle(s, s, 1);
        return s.ToScalar();
    }

    private static float Q8_0Avx2(byte* w, ActRow a, int k)
    {
        var acc = Vector256<float>.Zero;
        for (int b = 0; b < k / 32; b++, w += 34)
        {
            var qw = Avx.LoadVector256((sbyte*)(w + 2));
            var qx = Avx.LoadVector256(a.Q + 32 * b);
            // u8·s8 only: move w's sign onto x.
            var p = DotU8S8(Avx2.Abs(qw), Avx2.Sign(qx, qw));
            acc = Fma.MultiplyAdd(Avx.ConvertToVector256Single(p), Vector256.Create(HT(w) * a.D[b]), acc);
        }
        return HSum(acc);
    }

    /// <summary>
    /// Four Q8_0 dot products of one weight row with four activation rows (prefill): the weight block, its |w| and its
    /// scale are loaded once for the four rows. Each row's sum runs in the same order as <see cref="Fast"/>, so the
    /// results are bitwise those of four single calls at the AVX2 level.
    /// </summary>
    public static void Q8_0x4(byte* w, ActRow a0, ActRow a1, ActRow a2, ActRow a3, int k, float* out4)
    {
        Vector256<float> c0 = default, c1 = default, c2 = default, c3 = default;
        for (int b = 0; b < k / 32; b++, w += 34)
        {
            var qw = Avx.LoadVector256((sbyte*)(w + 2));
            var aw = Avx2.Abs(qw);
            float dw = HT(w);
            int o = 32 * b;
            c0 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(DotU8S8(aw, Avx2.Sign(Avx.LoadVector256(a0.Q + o), qw))), Vector256.Create(dw * a0.D[b]), c0);
            c1 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(DotU8S8(aw, Avx2.Sign(Avx.LoadVector256(a1.Q + o), qw))), Vector256.Create(dw * a1.D[b]), c1);
            c2 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(DotU8S8(aw, Avx2.Sign(Avx.LoadVector256(a2.Q + o), qw))), Vector256.Create(dw * a2.D[b]), c2);
            c3 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(DotU8S8(aw, Avx2.Sign(Avx.LoadVector256(a3.Q + o), qw))), Vector256.Create(dw * a3.D[b]), c3);
        }
        out4[0] = HSum(c0); out4[1] = HSum(c1); out4[2] = HSum(c2); out4[3] = HSum(c3);
    }

    private static float Q4_0Avx2(byte* w, ActRow a, int k)
    {
        var acc = Vector256<float>.Zero;
        var mask = Vector256.Create((byte)0xF);
        float off = 0;
        for (int b = 0; b < k / 32; b++, w += 18)
        {
            var raw = Sse2.LoadVector128(w + 2);
            var nib = Vector256.Create(raw & Vector128.Create((byte)0xF), Sse2.ShiftRightLogical(raw.AsUInt16(), 4).AsByte() & Vector128.Create((byte)0xF));
            var p = DotU8S8(nib & mask, Avx.LoadVector256(a.Q + 32 * b));
            float ds = HT(w) * a.D[b];
            acc = Fma.MultiplyAdd(Avx.ConvertToVector256Single(p), Vector256.Create(ds), acc);
            off += ds * 8 * a.Sum32[b];
        }
        return HSum(acc) - off;
    }

    /// <summary>vpmaddubsw then vpmaddwd by a sub-block scale: 32 unsigned values · 32 int8 activations → 8 int32 sums scaled by <paramref name="scale"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> ScaledDot(Vector256<byte> u, sbyte* x, Vector256<short> scale) =>
        Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(u, Avx.LoadVector256(x)), scale);

    private static float Q4_KAvx2(byte* w, ActRow a, int k)
    {
        var acc = Vector256<float>.Zero;
        var mask = Vector256.Create((byte)0xF);
        float mins = 0;
        for (int b = 0; b < k / 256; b++, w += 144)
        {
            byte* q = w + 16;
            sbyte* x = a.Q + 256 * b;
            var sum = Vector256<int>.Zero;
            int m = 0;
            for (int j = 0; j < 4; j++, q += 32, x += 64)
            {
                var raw = Avx.LoadVector256(q);
                var (s0, m0) = Dequantize.ScaleMinK4(2 * j, w + 4);
                var (s1, m1) = Dequantize.ScaleMinK4(2 * j + 1, w + 4);
                sum += ScaledDot(raw & mask, x, Vector256.Create((short)s0));
                sum += ScaledDot(Avx2.ShiftRightLogical(raw.AsUInt16(), 4).AsByte() & mask, x + 32, Vector256.Create((short)s1));
                m += m0 * a.BSum32[8 * b + 2 * j] + m1 * a.BSum32[8 * b + 2 * j + 1];
            }
            acc = Fma.MultiplyAdd(Avx.ConvertToVector256Single(sum), Vector256.Create(HT(w) * a.D[b]), acc);
            mins += HT(w + 2) * a.D[b] * m;
        }
        return HSum(acc) - mins;
    }

    private static float Q6_KAvx2(byte* w, ActRow a, int k)
    {
        var acc = Vector256<float>.Zero;
        var m4 = Vector256.Create((byte)0xF);
        var m30 = Vector256.Create((byte)0x30);
        for (int b = 0; b < k / 256; b++, w += 210)
        {
            sbyte* sc = (sbyte*)(w + 192);
            var sum = Vector256<int>.Zero;
            for (int n = 0; n < 2; n++)
            {
                byte* ql = w + 64 * n, qhp = w + 128 + 32 * n;
                var l0 = Avx.LoadVector256(ql);
                var l1 = Avx.LoadVector256(ql + 32);
                var qh = Avx.LoadVector256(qhp);
                var q0 = (l0 & m4) | (Avx2.ShiftLeftLogical(qh.AsUInt16(), 4).AsByte() & m30);
                var q1 = (l1 & m4) | (Avx2.ShiftLeftLogical(qh.AsUInt16(), 2).AsByte() & m30);
                var q2 = (Avx2.ShiftRightLogical(l0.AsUInt16(), 4).AsByte() & m4) | (qh & m30);
                var q3 = (Avx2.ShiftRightLogical(l1.AsUInt16(), 4).AsByte() & m4) | (Avx2.ShiftRightLogical(qh.AsUInt16(), 2).AsByte() & m30);
                sbyte* x = a.Q + 256 * b + 128 * n, s = sc + 8 * n;
                sum += ScaledDot(q0, x, Pair(s[0], s[1]));
                sum += ScaledDot(q1, x + 32, Pair(s[2], s[3]));
                sum += ScaledDot(q2, x + 64, Pair(s[4], s[5]));
                sum += ScaledDot(q3, x + 96, Pair(s[6], s[7]));
            }
            // the −32 of every value: 32·Σ scale·(sum of its 16 activations)
            var off = Avx2.MultiplyAddAdjacent(Avx2.ConvertToVector256Int16(Sse2.LoadVector128(sc)), Avx.LoadVector256(a.BSum16 + 16 * b));
            sum -= Avx2.ShiftLeftLogical(off, 5);
            acc = Fma.MultiplyAdd(Avx.ConvertToVector256Single(sum), Vector256.Create(HT(w + 208) * a.D[b]), acc);
        }
        return HSum(acc);
    }

    /// <summary>Scale s0 over the int16 lanes of the first 16 values' products, s1 over the last 16.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<short> Pair(sbyte s0, sbyte s1) => Vector256.Create(Vector128.Create((short)s0), Vector128.Create((short)s1));
}
