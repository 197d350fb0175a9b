namespace AutoPrune.Tensors.Quant;

/// <summary>
/// Scalar reference decoding of the GGML block formats, written from their definitions (all little-endian):
/// <list type="bullet">
/// <item>Q8_0 (32 values, 34 B): f16 d, i8 q[32]; x = d·q.</item>
/// <item>Q4_0 (32, 18 B): f16 d, u8 qs[16]; value j is the low nibble of qs[j], value j+16 its high nibble; x = d·(q − 8).</item>
/// <item>Q4_1 (32, 20 B): f16 d, f16 m, qs[16]; x = d·q + m.</item>
/// <item>Q5_0 (32, 22 B): f16 d, u32 qh, qs[16]; bit j of qh is bit 4 of value j; x = d·(q − 16).</item>
/// <item>Q5_1 (32, 24 B): f16 d, f16 m, u32 qh, qs[16]; x = d·q + m.</item>
/// <item>Q4_K (256, 144 B): f16 d, f16 dmin, 12 bytes of eight 6-bit (scale, min) pairs, qs[128]; sub-block s of
/// 32 values: x = d·scale_s·q − dmin·min_s; each 32-byte run of qs holds two sub-blocks (low nibbles, then high).</item>
/// <item>Q5_K (256, 176 B): as Q4_K plus qh[32]: bit s of qh[l] is bit 4 of value l of sub-block s.</item>
/// <item>Q6_K (256, 210 B): ql[128] (low 4 bits), qh[64] (high 2 bits), i8 scales[16] (one per 16 values), f16 d;
/// x = d·scale·(q − 32).</item>
/// </list>
/// </summary>
public static unsafe class Dequantize
{
    public static float Half(byte* p) => (float)BitConverter.UInt16BitsToHalf(*(ushort*)p);

    /// <summary>Decodes <paramref name="blocks"/> consecutive blocks of type <paramref name="t"/> into F32.</summary>
    public static void Blocks(DType t, byte* src, float* dst, long blocks)
    {
        int be = t.BlockElements(), bb = t.BlockBytes();
        for (long b = 0; b < blocks; b++, src += bb, dst += be)
        {
            switch (t)
            {
                case DType.Q8_0: Q8_0(src, dst); break;
                case DType.Q4_0: Q4_0(src, dst); break;
                case DType.Q4_1: Q4_1(src, dst); break;
                case DType.Q5_0: Q5_0(src, dst); break;
                case DType.Q5_1: Q5_1(src, dst); break;
                case DType.Q4_K: Q4_K(src, dst); break;
                case DType.Q5_K: Q5_K(src, dst); break;
                case DType.Q6_K: Q6_K(src, dst); break;
                default: throw new ArgumentException($"{t} is not a block type");
            }
        }
    }

    public static void Q8_0(byte* b, float* y)
    {
        float d = Half(b);
        sbyte* q = (sbyte*)(b + 2);
        for (int j = 0; j < 32; j++) y[j] = d * q[j];
    }

    public static void Q4_0(byte* b, float* y)
    {
        float d = Half(b);
        byte* qs = b + 2;
        for (int j = 0; j < 16; j++)
        {
            y[j] = d * ((qs[j] & 0xF) - 8);
            y[j + 16] = d * ((qs[j] >> 4) - 8);
        }
    }

    public static void Q4_1(byte* b, float* y)
    {
        float d = Half(b), m = Half(b + 2);
        byte* qs = b + 4;
        for (int j = 0; j < 16; j++)
        {
            y[j] = d * (qs[j] & 0xF) + m;
            y[j + 16] = d * (qs[j] >> 4) + m;
        }
    }

    public static void Q5_0(byte* b, float* y)
    {
        float d = Half(b);
        uint qh = *(uint*)(b + 2);
        byte* qs = b + 6;
        for (int j = 0; j < 16; j++)
        {
            int lo = (qs[j] & 0xF) | (int)(((qh >> j) & 1) << 4);
            int hi = (qs[j] >> 4) | (int)(((qh >> (j + 16)) & 1) << 4);
            y[j] = d * (lo - 16);
            y[j + 16] = d * (hi - 16);
        }
    }

    public static void Q5_1(byte* b, float* y)
    {
        float d = Half(b), m = Half(b + 2);
        uint qh = *(uint*)(b + 4);
        byte* qs = b + 8;
        for (int j = 0; j < 16; j++)
        {
            int lo = (qs[j] & 0xF) | (int)(((qh >> j) & 1) << 4);
            int hi = (qs[j] >> 4) | (int)(((qh >> (j + 16)) & 1) << 4);
            y[j] = d * lo + m;
            y[j + 16] = d * hi + m;
        }
    }

    /// <summary>6-bit scale and min of sub-block <paramref name="j"/> (0..7) from the 12 packed bytes of a Q4_K/Q5_K block.</summary>
    public static (int Scale, int Min) ScaleMinK4(int j, byte* s)
    {
        if (j < 4) return (s[j] & 63, s[j + 4] & 63);
        return ((s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4), (s[j + 4] >> 4) | ((s[j] >> 6) << 4));
    }

    public static void Q4_K(byte* b, float* y)
    {
        float d = Half(b), dmin = Half(b + 2);
        byte* sc = b + 4, q = b + 16;
        for (int j = 0; j < 4; j++, q += 32, y += 64)
        {
            var (s0, m0) = ScaleMinK4(2 * j, sc);
            var (s1, m1) = ScaleMinK4(2 * j + 1, sc);
            float d0 = d * s0, d1 = d * s1, n0 = dmin * m0, n1 = dmin * m1;
            for (int l = 0; l < 32; l++)
            {
                y[l] = d0 * (q[l] & 0xF) - n0;
                y[l + 32] = d1 * (q[l] >> 4) - n1;
            }
        }
    }

    public static void Q5_K(byte* b, float* y)
    {
        float d = Half(b), dmin = Half(b + 2);
        byte* sc = b + 4, qh = b + 16, q = b + 48;
        for (int j = 0; j < 4; j++, q += 32, y += 64)
        {
            var (s0, m0) = ScaleMinK4(2 * j, sc);
            var (s1, m1) = ScaleMinK4(2 * j + 1, sc);
            float d0 = d * s0, d1 = d * s1, n0 = dmin * m0, n1 = dmin * m1;
            int u0 = 1 << (2 * j), u1 = 1 << (2 * j + 1);
            for (int l = 0; l < 32; l++)
            {
                y[l] = d0 * ((q[l] & 0xF) + ((qh[l] & u0) != 0 ? 16 : 0)) - n0;
                y[l + 32] = d1 * ((q[l] >> 4) + ((qh[l] & u1) != 0 ? 16 : 0)) - n1;
            }
        }
    }

    public static void Q6_K(byte* b, float* y)
    {
        byte* ql = b, qh = b + 128;
        sbyte* sc = (sbyte*)(b + 192);
        float d = Half(b + 208);
        for (int n = 0; n < 2; n++, ql += 64, qh += 32, sc += 8, y += 128)
        {
            for (int l = 0; l < 32; l++)
            {
                int isc = l / 16;
                int q1 = ((ql[l] & 0xF) | ((qh[l] & 3) << 4)) - 32;
                int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                y[l] = d * sc[isc] * q1;
                y[l + 32] = d * sc[isc + 2] * q2;
                y[l + 64] = d * sc[isc + 4] * q3;
                y[l + 96] = d * sc[isc + 6] * q4;
            }
        }
    }
}
