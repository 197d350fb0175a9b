using System.Runtime.Intrinsics;

namespace AutoPrune.Tensors;

/// <summary>BF16 / F16 to F32 widening. .NET has no BFloat16 type and no F16C intrinsics.</summary>
public static class Convert
{
    /// <summary>BF16 is the top half of an F32: widening is a 16-bit shift.</summary>
    public static void BF16ToF32(ReadOnlySpan<ushort> src, Span<float> dst)
    {
        int n = src.Length, i = 0;
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

    /// <summary>Round-to-nearest-even narrowing, used by tests and synthetic models.</summary>
    public static ushort F32ToBF16(float f)
    {
        uint u = BitConverter.SingleToUInt32Bits(f);
        if ((u & 0x7fffffff) > 0x7f800000) return (ushort)((u >> 16) | 0x40); // quiet NaN
        uint rounding = 0x7fff + ((u >> 16) & 1);
        return (ushort)((u + rounding) >> 16);
    }

    public static void F16ToF32(ReadOnlySpan<ushort> src, Span<float> dst)
    {
        for (int i = 0; i < src.Length; i++) dst[i] = (float)BitConverter.UInt16BitsToHalf(src[i]);
    }

    public static ushort F32ToF16(float f) => BitConverter.HalfToUInt16Bits((Half)f);
}
