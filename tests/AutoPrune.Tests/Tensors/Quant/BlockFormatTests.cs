using AutoPrune.Tensors;
using AutoPrune.Tensors.Quant;

namespace AutoPrune.Tests.Tensors.Quant;

/// <summary>
/// Each GGML block format decoded from a block whose bytes were laid out by hand, with the expected values worked
/// out from the format's definition (scale, min, sub-block scales, nibble and high-bit order) in the comments.
/// </summary>
public sealed unsafe class BlockFormatTests
{
    private static float[] Decode(DType t, byte[] block)
    {
        Assert.Equal(t.BlockBytes(), block.Length);
        var y = new float[t.BlockElements()];
        fixed (byte* b = block) fixed (float* p = y) Dequantize.Blocks(t, b, p, 1);
        return y;
    }

    private static void Half(byte[] b, int at, float v) => BitConverter.TryWriteBytes(b.AsSpan(at), BitConverter.HalfToUInt16Bits((Half)v));

    [Fact]
    public void Q8_0_IsScaleTimesSignedBytes()
    {
        var b = new byte[34];
        Half(b, 0, 0.5f);
        b[2] = 1; b[3] = unchecked((byte)-2); b[33] = 127;
        var y = Decode(DType.Q8_0, b);
        Assert.Equal(0.5f, y[0]); Assert.Equal(-1f, y[1]); Assert.Equal(63.5f, y[31]); Assert.Equal(0f, y[2]);
    }

    [Fact]
    public void Q4_0_LowNibblesAreTheFirstHalf_OffsetEight()
    {
        var b = new byte[18];
        Half(b, 0, 2f);
        b[2] = 0x3A; // value 0: low nibble 10 → (10−8)·2 = 4; value 16: high nibble 3 → (3−8)·2 = −10
        var y = Decode(DType.Q4_0, b);
        Assert.Equal(4f, y[0]); Assert.Equal(-10f, y[16]);
        Assert.Equal(-16f, y[1]); // nibble 0 → (0−8)·2
    }

    [Fact]
    public void Q4_1_IsScaleTimesNibblePlusMin()
    {
        var b = new byte[20];
        Half(b, 0, 0.5f); Half(b, 2, -1f);
        b[5] = 0xF0; // value 1: 0·0.5 − 1 = −1; value 17: 15·0.5 − 1 = 6.5
        var y = Decode(DType.Q4_1, b);
        Assert.Equal(-1f, y[1]); Assert.Equal(6.5f, y[17]);
    }

    [Fact]
    public void Q5_0_HighBitsComeFromQh_BitJForValueJ()
    {
        var b = new byte[22];
        Half(b, 0, 1f);
        uint qh = 1u | (1u << 18); // value 0 and value 18 get bit 4
        BitConverter.TryWriteBytes(b.AsSpan(2), qh);
        b[6] = 0x05;  // value 0: (5|16) − 16 = 5; value 16: (0|0) − 16 = −16
        b[8] = 0x31;  // value 2: 1 − 16 = −15; value 18: (3|16) − 16 = 3
        var y = Decode(DType.Q5_0, b);
        Assert.Equal(5f, y[0]); Assert.Equal(-16f, y[16]); Assert.Equal(-15f, y[2]); Assert.Equal(3f, y[18]);
    }

    [Fact]
    public void Q5_1_IsScaleTimesFiveBitsPlusMin()
    {
        var b = new byte[24];
        Half(b, 0, 0.25f); Half(b, 2, 1f);
        BitConverter.TryWriteBytes(b.AsSpan(4), 1u << 31); // value 31 gets bit 4
        b[8 + 15] = 0xF0; // value 15: 0·0.25 + 1 = 1; value 31: (15|16)·0.25 + 1 = 8.75
        var y = Decode(DType.Q5_1, b);
        Assert.Equal(1f, y[15]); Assert.Equal(8.75f, y[31]);
    }

    [Fact]
    public void Q4_K_SixBitScalesAndMins_SubBlocksInterleaveByNibble()
    {
        var b = new byte[144];
        Half(b, 0, 1f); Half(b, 2, 0.5f);
        // scales[12] at 4: sub-blocks 0..3 keep scale in the low 6 bits of bytes 0..3 and min in bytes 4..7;
        // sub-blocks 4..7 take low 4 bits from bytes 8..11 and the top 2 bits from the top of bytes 0..7.
        b[4 + 0] = 3 | (1 << 6);   // sub-block 0 scale 3; bit 4 of sub-block 4's scale
        b[4 + 4] = 2;              // sub-block 0 min 2
        b[4 + 1] = 5;              // sub-block 1 scale 5, min 0
        b[4 + 8] = 0x71;           // sub-block 4: scale 1 | 16 = 17, min 7
        b[16 + 0] = 0x72;          // value 0 (sub 0): 1·3·2 − 0.5·2 = 5; value 32 (sub 1): 1·5·7 − 0 = 35
        b[16 + 64] = 0x03;         // value 128 (sub 4, low nibble of qs[64]): 17·3 − 0.5·7 = 47.5; value 160 (sub 5): 0
        var y = Decode(DType.Q4_K, b);
        Assert.Equal(5f, y[0]); Assert.Equal(35f, y[32]); Assert.Equal(47.5f, y[128]); Assert.Equal(0f, y[160]);
        Assert.Equal(-1f, y[1]); // nibble 0 of sub-block 0: −dmin·min
    }

    [Fact]
    public void Q5_K_HighBitSOfQhIsBitFourOfSubBlockS()
    {
        var b = new byte[176];
        Half(b, 0, 1f); Half(b, 2, 0f);
        b[4 + 0] = 1; b[4 + 2] = 2;  // sub-block 0 scale 1, sub-block 2 scale 2
        b[16 + 0] = 0x01;            // qh[0] bit 0 → value 0 gets +16
        b[16 + 3] = 0x04;            // qh[3] bit 2 → value 64+3 (sub-block 2) gets +16
        b[48 + 0] = 0x01;            // value 0: 1·(1 + 16) = 17
        b[48 + 32 + 3] = 0x04;       // value 67: 2·(4 + 16) = 40
        var y = Decode(DType.Q5_K, b);
        Assert.Equal(17f, y[0]); Assert.Equal(40f, y[67]); Assert.Equal(0f, y[3]);
    }

    [Fact]
    public void Q6_K_FourBitsFromQl_TwoFromQh_SignedScalePerSixteen()
    {
        var b = new byte[210];
        Half(b, 208, 0.5f);
        b[192 + 0] = 2; b[192 + 2] = unchecked((byte)-1); b[192 + 4] = 3; b[192 + 6] = 1;
        b[0] = 0x21;                 // q1 low 4 bits 1, q3 low 4 bits 2
        b[128] = 0xE4;               // qh[0] = 11 10 01 00: q1 high 0, q2 high 1, q3 high 2, q4 high 3
        // v0 = 0.5·2·(1 − 32) = −31; v32 = 0.5·(−1)·(16 − 32) = 8; v64 = 0.5·3·(34 − 32) = 3; v96 = 0.5·1·(48 − 32) = 8
        var y = Decode(DType.Q6_K, b);
        Assert.Equal(-31f, y[0]); Assert.Equal(8f, y[32]); Assert.Equal(3f, y[64]); Assert.Equal(8f, y[96]);
        Assert.Equal(0f, y[128]); // second half: scale 0
    }

    public static TheoryData<DType, double> EncodableTypes => new()
    {
        { DType.Q8_0, 0.01 }, { DType.Q6_K, 0.03 }, { DType.Q5_0, 0.05 }, { DType.Q5_1, 0.05 },
        { DType.Q4_K, 0.1 }, { DType.Q4_0, 0.12 }, { DType.Q4_1, 0.12 },
    };

    [Theory]
    [MemberData(nameof(EncodableTypes))]
    public void EncodeThenDecode_RelativeRmsErrorIsSmall(DType t, double maxRel)
    {
        var rng = new Random(7);
        var x = new float[1024];
        for (int i = 0; i < x.Length; i++) x[i] = (float)(Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble())) * (1 + i / 256);
        var bytes = new byte[t.ByteCount(x.Length)];
        Quantize.Row(t, x, bytes);
        var y = new float[x.Length];
        fixed (byte* b = bytes) fixed (float* p = y) Dequantize.Blocks(t, b, p, x.Length / t.BlockElements());
        double err = 0, norm = 0;
        for (int i = 0; i < x.Length; i++) { err += (x[i] - y[i]) * (x[i] - y[i]); norm += x[i] * x[i]; }
        Assert.InRange(Math.Sqrt(err / norm), 0, maxRel);
    }

    [Fact]
    public void Q8_0_Encoding_MapsTheLargestMagnitudeTo127()
    {
        var x = new float[32];
        x[3] = -2.54f; x[4] = 1.27f;
        var b = new byte[34];
        Quantize.Row(DType.Q8_0, x, b);
        Assert.Equal((sbyte)-127, (sbyte)b[2 + 3]);
        Assert.Equal((sbyte)64, (sbyte)b[2 + 4]); // 1.27 / 0.02 = 63.5 → 64 (half away from zero)
        fixed (byte* p = b) Assert.Equal((float)(Half)0.02f, Dequantize.Half(p));
    }

    [Fact]
    public void ZeroBlocks_EncodeToZeros()
    {
        foreach (var t in new[] { DType.Q8_0, DType.Q4_0, DType.Q4_K, DType.Q6_K, DType.Q5_0 })
        {
            var x = new float[256];
            var b = new byte[t.ByteCount(256)];
            Quantize.Row(t, x, b);
            var y = new float[256];
            fixed (byte* pb = b) fixed (float* py = y) Dequantize.Blocks(t, pb, py, 256 / t.BlockElements());
            Assert.All(y, v => Assert.Equal(0f, v));
        }
    }

    [Fact]
    public void WeightCopyTo_DecodesUnalignedRangesOfBlockTensors()
    {
        var rng = new Random(3);
        var x = new float[2 * 512];
        for (int i = 0; i < x.Length; i++) x[i] = (float)rng.NextDouble() - 0.5f;
        var bytes = new byte[DType.Q4_K.ByteCount(x.Length)];
        Quantize.Row(DType.Q4_K, x, bytes);
        fixed (byte* p = bytes)
        {
            var w = new Weight("w", DType.Q4_K, [2, 512], p);
            Assert.Equal(bytes.Length, w.ByteLength);
            Assert.Equal(2 * 144, w.RowBytes);
            var all = w.ToFloat32();
            var part = new float[300];
            w.CopyTo(200, part);
            Assert.Equal(all.AsSpan(200, 300).ToArray(), part);
            var row = new float[512];
            w.RowTo(1, row);
            Assert.Equal(all.AsSpan(512, 512).ToArray(), row);
        }
    }
}
