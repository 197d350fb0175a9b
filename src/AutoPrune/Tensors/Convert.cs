using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace AutoPrune.Tensors;

/// <summary>BF16 / F16 to F32 widening. .NET has no BFloat16 type and no F16C intrinsics.</summary>
public static class Convert
{
    /// <summary>BF16 is the top half of an F32: widening is a 16-bit shift.</summary>
    public static void BF16ToF32(ReadOnlySpan<ushort> src, Span<float> dst)
    {
        int n = src.Length, i = 0;
        if (dst.Length < n) throw new ArgumentException("destination too short", nameof(dst));
        if (Vector256.IsHardwareAccelerated)
        {
            for (; i + 16 <= n; i += 16)
            {
                var v = Vector256.Create(src.Slice(i, 16));
                var (lo, hi) = Vector256.Widen(v);
                (lo << 16).AsSingle().CopyTo(dst.Slice(i, 8));
                (hi << 16).AsSingle().CopyTo(dst.Slice(i + 8, 8));
            }
        }
        for (; i < n; i++) dst[i] = BF16ToF32(src[i]);
    }

    public static float BF16ToF32(ushort b) => BitConverter.Int32BitsToSingle(b << 16);

    /// <summary>
    /// Round-to-nearest-even narrowing of a span (the BF16 KV cache's writes): the same bits as the scalar
    /// <see cref="F32ToBF16(float)"/> for every input, NaNs kept quiet NaNs.
    /// </summary>
    public static void F32ToBF16(ReadOnlySpan<float> src, Span<ushort> dst)
    {
        int n = src.Length, i = 0;
        if (dst.Length < n) throw new ArgumentException("destination too short", nameof(dst));
        if (Vector256.IsHardwareAccelerated)
        {
            var one = Vector256.Create(1u); var bias = Vector256.Create(0x7fffu);
            var abs = Vector256.Create(0x7fffffffu); var inf = Vector256.Create(0x7f800000u); var quiet = Vector256.Create(0x400000u);
            for (; i + 16 <= n; i += 16)
            {
                var a = RoundToBF16Bits(Vector256.Create(src.Slice(i, 8)).AsUInt32(), one, bias, abs, inf, quiet);
                var b = RoundToBF16Bits(Vector256.Create(src.Slice(i + 8, 8)).AsUInt32(), one, bias, abs, inf, quiet);
                Vector256.Narrow(a, b).CopyTo(dst.Slice(i, 16));
            }
        }
        for (; i < n; i++) dst[i] = F32ToBF16(src[i]);
    }

    /// <summary>Eight F32 bit patterns rounded to BF16, in the low 16 bits of each lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<uint> RoundToBF16Bits(Vector256<uint> u, Vector256<uint> one, Vector256<uint> bias, Vector256<uint> abs,
        Vector256<uint> inf, Vector256<uint> quiet)
    {
        var rounded = (u + bias + ((u >> 16) & one)) >> 16;
        var nan = Vector256.GreaterThan(u & abs, inf);
        return Vector256.ConditionalSelect(nan, (u | quiet) >> 16, rounded);
    }

    /// <summary>Round-to-nearest-even narrowing, used by tests and synthetic models.</summary>
    public static ushort F32ToBF16(float f)
    {
        uint u = BitConverter.SingleToUInt32Bits(f);
        if ((u & 0x7fffffff) > 0x7f800000) return (ushort)((u >> 16) | 0x40); // quiet NaN
        uint rounding = 0x7fff + ((u >> 16) & 1);
        return (ushort)((u + rounding) >> 16);
    }

    /// <summary>
    /// F16 widening with integer SIMD (no F16C in .NET). Exact for every bit pattern:
    /// normals re-bias the exponent, inf/NaN get a second re-bias to reach exponent 255,
    /// subnormals are renormalised by a float subtraction that never touches F32 denormals.
    /// </summary>
    public static void F16ToF32(ReadOnlySpan<ushort> src, Span<float> dst)
    {
        int n = src.Length, i = 0;
        if (dst.Length < n) throw new ArgumentException("destination too short", nameof(dst));
        if (Vector256.IsHardwareAccelerated)
        {
            for (; i + 16 <= n; i += 16)
            {
                var (lo, hi) = Vector256.Widen(Vector256.Create(src.Slice(i, 16)));
                F16BitsToF32(lo).CopyTo(dst.Slice(i, 8));
                F16BitsToF32(hi).CopyTo(dst.Slice(i + 8, 8));
            }
        }
        for (; i < n; i++) dst[i] = F16ToF32(src[i]);
    }

    /// <summary>
    /// Eight F16 bit patterns (zero-extended to 32 bits) to F32; shared with the GEMM packers and GEMV.
    /// Place sign/exponent/mantissa in F32 position (shift 16 left, 3 right arithmetic so the sign
    /// survives), then multiply by 2^112 to re-bias the exponent: exact for normals and also turns
    /// subnormals into the right normal F32. Exponent 31 (inf/NaN) lands at |v| >= 2^16, above the F16
    /// maximum 65504, and gets the exponent forced to 255 with its mantissa kept. 8 ops, no blend.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> F16BitsToF32(Vector256<uint> h)
    {
        var o = Vector256.ShiftRightArithmetic((h << 16).AsInt32(), 3) & Vector256.Create(unchecked((int)0x8fffe000));
        var f = (o.AsSingle() * Vector256.Create(5.192296858534828e+33f)).AsInt32(); // * 2^112
        var big = Vector256.GreaterThan(f & Vector256.Create(0x7fffffff), Vector256.Create(0x477fffff));
        return (f | (big & Vector256.Create(0x7f800000))).AsSingle();
    }

    /// <summary>The same as <see cref="F16BitsToF32(Vector256{uint})"/>, 16 lanes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> F16BitsToF32(Vector512<uint> h)
    {
        var o = Vector512.ShiftRightArithmetic((h << 16).AsInt32(), 3) & Vector512.Create(unchecked((int)0x8fffe000));
        var f = (o.AsSingle() * Vector512.Create(5.192296858534828e+33f)).AsInt32(); // * 2^112
        var big = Vector512.GreaterThan(f & Vector512.Create(0x7fffffff), Vector512.Create(0x477fffff));
        return (f | (big & Vector512.Create(0x7f800000))).AsSingle();
    }

    /// <summary>Scalar version of the same bit manipulation.</summary>
    public static float F16ToF32(ushort h)
    {
        uint o = (uint)(h & 0x7fff) << 13;
        uint e = o & 0x0f800000u;
        o += 0x38000000u;
        if (e == 0x0f800000u) o += 0x38000000u;
        else if (e == 0) o = BitConverter.SingleToUInt32Bits(BitConverter.UInt32BitsToSingle(o + 0x00800000u) - 6.103515625e-05f);
        o |= (uint)(h & 0x8000) << 16;
        return BitConverter.UInt32BitsToSingle(o);
    }

    public static ushort F32ToF16(float f) => BitConverter.HalfToUInt16Bits((Half)f);
}
