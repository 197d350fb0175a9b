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
}
