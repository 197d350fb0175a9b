namespace AutoPrune.Tensors.Quant;

/// <summary>
/// F32 → GGML block encoders for writing GGUF files (<c>autoprune convert</c>) and for quantizing safetensors
/// weights at load time. They follow the reference (non-imatrix) algorithms of llama.cpp: round-to-nearest
/// with one scale for Q8_0/Q4_0/Q5_0, scale+min for Q4_1/Q5_1, and for the K-quants a weighted search over
/// candidate sub-block scales (and mins), whose scales are then themselves quantized to 6 (Q4_K) or 8 (Q6_K) bits.
/// </summary>
public static unsafe class Quantize
{
    public static bool CanEncode(DType t) => t is DType.Q8_0 or DType.Q4_0 or DType.Q4_1 or DType.Q5_0 or DType.Q5_1 or DType.Q4_K or DType.Q6_K;

    /// <summary>Encodes <paramref name="src"/> (a whole number of blocks) into <paramref name="dst"/>.</summary>
    public static void Row(DType t, ReadOnlySpan<float> src, Span<byte> dst)
    {
        int be = t.BlockElements(), bb = t.BlockBytes();
        if (src.Length % be != 0) throw new ArgumentException($"{src.Length} values are not a whole number of {t} blocks ({be})");
        if (dst.Length < src.Length / be * bb) throw new ArgumentException("destination too short", nameof(dst));
        fixed (float* x0 = src)
        fixed (byte* y0 = dst)
        {
            float* x = x0; byte* y = y0;
            for (int b = 0; b < src.Length / be; b++, x += be, y += bb)
            {
                switch (t)
                {
                    case DType.Q8_0: Q8_0(x, y); break;
                    case DType.Q4_0: Q4_0(x, y); break;
                    case DType.Q4_1: Q4_1(x, y); break;
                    case DType.Q5_0: Q5_0(x, y); break;
                    case DType.Q5_1: Q5_1(x, y); break;
                    case DType.Q4_K: Q4_K(x, y); break;
                    case DType.Q6_K: Q6_K(x, y); break;
                    default: throw new ArgumentException($"no encoder for {t}");
                }
            }
        }
    }

    /// <summary>
    /// Re-encodes every row of <paramref name="src"/> (any type) as <paramref name="t"/> (F32, F16 or an encodable
    /// block type) into <paramref name="dst"/>, rows in parallel; output row r takes source row <paramref name="sourceRow"/>(r).
    /// </summary>
    public static void Rows(Weight src, DType t, byte* dst, Func<int, int>? sourceRow = null)
    {
        Parallelism.For((src.Rows + 63) / 64, new RowsJob { Src = src, Type = t, Dst = dst, SourceRow = sourceRow },
            static (ref readonly RowsJob j, int chunk) => RowsChunk(j, chunk));
    }

    private struct RowsJob
    {
        public Weight Src;
        public DType Type;
        public byte* Dst;
        public Func<int, int>? SourceRow;
    }

    private static void RowsChunk(in RowsJob j, int chunk)
    {
        int rows = j.Src.Rows, cols = j.Src.Cols;
        long rowOut = j.Type.ByteCount(cols);
        var row = new float[cols]; // load-time work, not a hot path
        for (int r = chunk * 64; r < Math.Min(rows, chunk * 64 + 64); r++)
        {
            j.Src.RowTo(j.SourceRow == null ? r : j.SourceRow(r), row);
            byte* o = j.Dst + r * rowOut;
            switch (j.Type)
            {
                case DType.F32: row.AsSpan().CopyTo(new Span<float>(o, cols)); break;
                case DType.F16:
                    var h = new Span<ushort>(o, cols);
                    for (int i = 0; i < cols; i++) h[i] = Convert.F32ToF16(row[i]);
                    break;
                default: Row(j.Type, row, new Span<byte>(o, (int)rowOut)); break;
            }
        }
    }

    /// <summary>Round half to even, as the magic-number rounding of the reference encoders.</summary>
    private static int Nearest(float v) => (int)MathF.Round(v);

    private static void PutHalf(byte* p, float v) => *(ushort*)p = BitConverter.HalfToUInt16Bits((Half)v);

    /// <summary>The element of largest magnitude, with its sign.</summary>
    private static float SignedAbsMax(float* x, int n)
    {
        float amax = 0, max = 0;
        for (int i = 0; i < n; i++)
            if (MathF.Abs(x[i]) > amax) { amax = MathF.Abs(x[i]); max = x[i]; }
        return max;
    }

    public static void Q8_0(float* x, byte* y)
    {
        float amax = 0;
        for (int j = 0; j < 32; j++) amax = MathF.Max(amax, MathF.Abs(x[j]));
        float d = amax / 127, id = d != 0 ? 1 / d : 0;
        PutHalf(y, d);
        sbyte* q = (sbyte*)(y + 2);
        for (int j = 0; j < 32; j++) q[j] = (sbyte)MathF.Round(x[j] * id, MidpointRounding.AwayFromZero);
    }

    public static void Q4_0(float* x, byte* y)
    {
        float d = SignedAbsMax(x, 32) / -8, id = d != 0 ? 1 / d : 0;
        PutHalf(y, d);
        for (int j = 0; j < 16; j++)
        {
            int a = Math.Min(15, (int)(x[j] * id + 8.5f)), b = Math.Min(15, (int)(x[j + 16] * id + 8.5f));
            y[2 + j] = (byte)(a | (b << 4));
        }
    }

    public static void Q5_0(float* x, byte* y)
    {
        float d = SignedAbsMax(x, 32) / -16, id = d != 0 ? 1 / d : 0;
        PutHalf(y, d);
        uint qh = 0;
        for (int j = 0; j < 16; j++)
        {
            int a = Math.Min(31, (int)(x[j] * id + 16.5f)), b = Math.Min(31, (int)(x[j + 16] * id + 16.5f));
            y[6 + j] = (byte)((a & 0xF) | ((b & 0xF) << 4));
            qh |= (uint)((a >> 4) & 1) << j;
            qh |= (uint)((b >> 4) & 1) << (j + 16);
        }
        *(uint*)(y + 2) = qh;
    }

    private static (float D, float Min) MinMax(float* x, int levels, byte* y)
    {
        float min = float.MaxValue, max = float.MinValue;
        for (int j = 0; j < 32; j++) { min = MathF.Min(min, x[j]); max = MathF.Max(max, x[j]); }
        float d = (max - min) / levels;
        PutHalf(y, d); PutHalf(y + 2, min);
        return (d, min);
    }

    public static void Q4_1(float* x, byte* y)
    {
        var (d, min) = MinMax(x, 15, y);
        float id = d != 0 ? 1 / d : 0;
        for (int j = 0; j < 16; j++)
        {
            int a = Math.Min(15, (int)((x[j] - min) * id + 0.5f)), b = Math.Min(15, (int)((x[j + 16] - min) * id + 0.5f));
            y[4 + j] = (byte)(a | (b << 4));
        }
    }

    public static void Q5_1(float* x, byte* y)
    {
        var (d, min) = MinMax(x, 31, y);
        float id = d != 0 ? 1 / d : 0;
        uint qh = 0;
        for (int j = 0; j < 16; j++)
        {
            int a = Math.Min(31, (int)((x[j] - min) * id + 0.5f)), b = Math.Min(31, (int)((x[j + 16] - min) * id + 0.5f));
            y[8 + j] = (byte)((a & 0xF) | ((b & 0xF) << 4));
            qh |= (uint)((a >> 4) & 1) << j;
            qh |= (uint)((b >> 4) & 1) << (j + 16);
        }
        *(uint*)(y + 4) = qh;
    }

    public static void Q4_K(float* x, byte* y)
    {
        byte* L = stackalloc byte[256];
        byte* aux = stackalloc byte[32];
        float* w = stackalloc float[32];
        float* scales = stackalloc float[8];
        float* mins = stackalloc float[8];
        float maxScale = 0, maxMin = 0;
        for (int j = 0; j < 8; j++)
        {
            float* xs = x + 32 * j;
            float sumX2 = 0;
            for (int l = 0; l < 32; l++) sumX2 += xs[l] * xs[l];
            float av = MathF.Sqrt(sumX2 / 32);
            for (int l = 0; l < 32; l++) w[l] = av + MathF.Abs(xs[l]);
            scales[j] = ScaleMinSearch(xs, w, 15, L + 32 * j, out mins[j], aux);
            maxScale = MathF.Max(maxScale, scales[j]);
            maxMin = MathF.Max(maxMin, mins[j]);
        }
        float invScale = maxScale > 0 ? 63 / maxScale : 0, invMin = maxMin > 0 ? 63 / maxMin : 0;
        byte* sc = y + 4;
        for (int i = 0; i < 12; i++) sc[i] = 0;
        for (int j = 0; j < 8; j++)
        {
            int ls = Math.Min(63, Nearest(invScale * scales[j])), lm = Math.Min(63, Nearest(invMin * mins[j]));
            if (j < 4) { sc[j] = (byte)ls; sc[j + 4] = (byte)lm; }
            else
            {
                sc[j + 4] = (byte)((ls & 0xF) | ((lm & 0xF) << 4));
                sc[j - 4] |= (byte)((ls >> 4) << 6);
                sc[j] |= (byte)((lm >> 4) << 6);
            }
        }
        PutHalf(y, maxScale / 63);
        PutHalf(y + 2, maxMin / 63);
        float d = Dequantize.Half(y), dmin = Dequantize.Half(y + 2);
        for (int j = 0; j < 8; j++)
        {
            var (s, m) = Dequantize.ScaleMinK4(j, sc);
            float dd = d * s;
            if (dd == 0) continue;
            float dm = dmin * m;
            for (int l = 0; l < 32; l++) L[32 * j + l] = (byte)Math.Clamp(Nearest((x[32 * j + l] + dm) / dd), 0, 15);
        }
        byte* q = y + 16;
        for (int j = 0; j < 256; j += 64, q += 32)
            for (int l = 0; l < 32; l++) q[l] = (byte)(L[j + l] | (L[j + l + 32] << 4));
    }

    /// <summary>
    /// Weighted fit of x ≈ scale·L − min with L in 0..nmax (min ≥ 0 i.e. the offset never positive): starts from
    /// the plain min/max grid, then tries 21 slightly different grids and keeps the least-squares (scale, min) of the best.
    /// </summary>
    private static float ScaleMinSearch(float* x, float* w, int nmax, byte* L, out float theMin, byte* aux)
    {
        const int n = 32;
        float min = x[0], max = x[0], sumW = w[0], sumX = w[0] * x[0];
        for (int i = 1; i < n; i++)
        {
            min = MathF.Min(min, x[i]); max = MathF.Max(max, x[i]);
            sumW += w[i]; sumX += w[i] * x[i];
        }
        if (min > 0) min = 0;
        if (max == min)
        {
            for (int i = 0; i < n; i++) L[i] = 0;
            theMin = -min;
            return 0;
        }
        float iscale = nmax / (max - min), scale = 1 / iscale, best = 0;
        for (int i = 0; i < n; i++)
        {
            L[i] = (byte)Math.Clamp(Nearest(iscale * (x[i] - min)), 0, nmax);
            float diff = scale * L[i] + min - x[i];
            best += w[i] * diff * diff;
        }
        for (int step = 0; step <= 20; step++)
        {
            iscale = (-1f + 0.1f * step + nmax) / (max - min);
            float sumL = 0, sumL2 = 0, sumXL = 0;
            for (int i = 0; i < n; i++)
            {
                int l = Math.Clamp(Nearest(iscale * (x[i] - min)), 0, nmax);
                aux[i] = (byte)l;
                sumL += w[i] * l; sumL2 += w[i] * l * l; sumXL += w[i] * l * x[i];
            }
            float det = sumW * sumL2 - sumL * sumL;
            if (det <= 0) continue;
            float s = (sumW * sumXL - sumX * sumL) / det, m = (sumL2 * sumX - sumL * sumXL) / det;
            if (m > 0) { m = 0; s = sumXL / sumL2; }
            float err = 0;
            for (int i = 0; i < n; i++) { float diff = s * aux[i] + m - x[i]; err += w[i] * diff * diff; }
            if (err < best)
            {
                for (int i = 0; i < n; i++) L[i] = aux[i];
                best = err; scale = s; min = m;
            }
        }
        theMin = -min;
        return scale;
    }

    public static void Q6_K(float* x, byte* y)
    {
        byte* L = stackalloc byte[256];
        float* scales = stackalloc float[16];
        float maxScale = 0, maxAbs = 0;
        for (int ib = 0; ib < 16; ib++)
        {
            scales[ib] = SymmetricSearch(x + 16 * ib, 32, L + 16 * ib);
            if (MathF.Abs(scales[ib]) > maxAbs) { maxAbs = MathF.Abs(scales[ib]); maxScale = scales[ib]; }
        }
        byte* ql = y, qh = y + 128;
        sbyte* sc = (sbyte*)(y + 192);
        if (maxAbs < 1e-15f)
        {
            new Span<byte>(y, 210).Clear();
            return;
        }
        float iscale = -128 / maxScale;
        PutHalf(y + 208, 1 / iscale);
        for (int ib = 0; ib < 16; ib++) sc[ib] = (sbyte)Math.Min(127, Nearest(iscale * scales[ib]));
        float d0 = Dequantize.Half(y + 208);
        for (int j = 0; j < 16; j++)
        {
            float d = d0 * sc[j];
            if (d == 0) continue;
            for (int i = 0; i < 16; i++) L[16 * j + i] = (byte)(Math.Clamp(Nearest(x[16 * j + i] / d), -32, 31) + 32);
        }
        for (int j = 0; j < 256; j += 128, ql += 64, qh += 32)
            for (int l = 0; l < 32; l++)
            {
                int q1 = L[j + l], q2 = L[j + l + 32], q3 = L[j + l + 64], q4 = L[j + l + 96];
                ql[l] = (byte)((q1 & 0xF) | ((q3 & 0xF) << 4));
                ql[l + 32] = (byte)((q2 & 0xF) | ((q4 & 0xF) << 4));
                qh[l] = (byte)((q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6));
            }
    }

    /// <summary>
    /// Symmetric fit x ≈ scale·(L − nmax) over 16 values, weighting each by x², trying 19 grids around the
    /// plain max-magnitude one and keeping the best least-squares scale. Returns the (signed) scale.
    /// </summary>
    private static float SymmetricSearch(float* x, int nmax, byte* L)
    {
        const int n = 16;
        float max = SignedAbsMax(x, n);
        if (MathF.Abs(max) < 1e-15f)
        {
            for (int i = 0; i < n; i++) L[i] = 0;
            return 0;
        }
        float iscale = -nmax / max, sumLX = 0, sumL2 = 0;
        for (int i = 0; i < n; i++)
        {
            int l = Math.Clamp(Nearest(iscale * x[i]), -nmax, nmax - 1);
            L[i] = (byte)(l + nmax);
            float w = x[i] * x[i];
            sumLX += w * x[i] * l; sumL2 += w * l * l;
        }
        float scale = sumL2 != 0 ? sumLX / sumL2 : 0, best = scale * sumLX;
        for (int s = -9; s <= 9; s++)
        {
            if (s == 0) continue;
            iscale = -(nmax + 0.1f * s) / max;
            sumLX = 0; sumL2 = 0;
            for (int i = 0; i < n; i++)
            {
                int l = Math.Clamp(Nearest(iscale * x[i]), -nmax, nmax - 1);
                float w = x[i] * x[i];
                sumLX += w * x[i] * l; sumL2 += w * l * l;
            }
            if (sumL2 > 0 && sumLX * sumLX > best * sumL2)
            {
                for (int i = 0; i < n; i++) L[i] = (byte)(Math.Clamp(Nearest(iscale * x[i]), -nmax, nmax - 1) + nmax);
                scale = sumLX / sumL2; best = scale * sumLX;
            }
        }
        return scale;
    }
}
