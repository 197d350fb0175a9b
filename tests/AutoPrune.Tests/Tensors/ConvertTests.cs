using AutoPrune.Tensors;
using Convert = AutoPrune.Tensors.Convert;

namespace AutoPrune.Tests.Tensors;

public class ConvertTests
{
    private static ushort[] AllPatterns()
    {
        var a = new ushort[65536];
        for (int i = 0; i < a.Length; i++) a[i] = (ushort)i;
        return a;
    }

    private static void AssertSame(float expected, float actual, int bits)
    {
        if (float.IsNaN(expected)) Assert.True(float.IsNaN(actual), $"0x{bits:x4}: expected NaN, got {actual}");
        else Assert.True(BitConverter.SingleToUInt32Bits(expected) == BitConverter.SingleToUInt32Bits(actual),
            $"0x{bits:x4}: expected {expected:R}, got {actual:R}");
    }

    [Fact]
    public void F16_AllBitPatterns_MatchHalf_VectorAndScalar()
    {
        var src = AllPatterns();
        var dst = new float[src.Length];
        Convert.F16ToF32(src, dst); // SIMD body (65536 is a multiple of 16)
        for (int i = 0; i < src.Length; i++)
        {
            float expected = (float)BitConverter.UInt16BitsToHalf((ushort)i);
            AssertSame(expected, dst[i], i);
            AssertSame(expected, Convert.F16ToF32((ushort)i), i);
        }
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(15)]
    [InlineData(17)]
    [InlineData(45)]
    public void F16_OddLengths_UseTailCorrectly(int n)
    {
        var src = new ushort[n];
        var rng = new Random(n);
        for (int i = 0; i < n; i++) src[i] = (ushort)rng.Next(65536);
        var dst = new float[n + 3];
        dst[n] = 42f;
        Convert.F16ToF32(src, dst);
        for (int i = 0; i < n; i++) AssertSame((float)BitConverter.UInt16BitsToHalf(src[i]), dst[i], src[i]);
        Assert.Equal(42f, dst[n]);
    }

    [Fact]
    public void BF16_AllBitPatterns_Exact()
    {
        var src = AllPatterns();
        var dst = new float[src.Length + 5];
        Convert.BF16ToF32(src.AsSpan(0, 65531), dst); // odd length exercises the tail too
        Convert.BF16ToF32(src.AsSpan(65531), dst.AsSpan(65531));
        for (int i = 0; i < src.Length; i++)
        {
            uint expected = (uint)i << 16;
            Assert.Equal(expected, BitConverter.SingleToUInt32Bits(dst[i]));
        }
    }

    [Fact]
    public void BF16_Narrowing_RoundsToNearestEven()
    {
        Assert.Equal((ushort)0x3f80, Convert.F32ToBF16(1f));
        Assert.Equal((ushort)0x3f80, Convert.F32ToBF16(BitConverter.UInt32BitsToSingle(0x3f808000))); // tie -> even
        Assert.Equal((ushort)0x3f82, Convert.F32ToBF16(BitConverter.UInt32BitsToSingle(0x3f818000))); // tie -> even (up)
        Assert.Equal((ushort)0x3f81, Convert.F32ToBF16(BitConverter.UInt32BitsToSingle(0x3f808001)));
        Assert.True(float.IsNaN(Convert.BF16ToF32(Convert.F32ToBF16(float.NaN))));
    }

    [Fact]
    public void BF16_SpanNarrowing_IsTheScalarOne()
    {
        // Ties both ways, the largest values (rounding to infinity), signed zeros, subnormals, infinities, NaNs with
        // payloads, then random bit patterns; an odd length so the scalar tail runs after the 16-lane body.
        var bits = new List<uint> { 0x3f808000, 0x3f818000, 0x3f808001, 0x7f7fffff, 0xff7fffff, 0x7f7f8000, 0, 0x80000000, 1, 0x807fffff,
            0x7f800000, 0xff800000, 0x7fc00000, 0x7f800001, 0xffbfffff, 0x7fff8000 };
        var rng = new Random(4);
        while (bits.Count < 4099) bits.Add((uint)rng.NextInt64(0, 1L << 32));
        var src = bits.Select(BitConverter.UInt32BitsToSingle).ToArray();
        var dst = new ushort[src.Length + 1];
        dst[^1] = 0xabcd;
        Convert.F32ToBF16(src, dst);
        for (int i = 0; i < src.Length; i++)
            Assert.True(Convert.F32ToBF16(src[i]) == dst[i], $"0x{bits[i]:x8}: span 0x{dst[i]:x4}, scalar 0x{Convert.F32ToBF16(src[i]):x4}");
        Assert.Equal(0xabcd, dst[^1]);
    }
}
