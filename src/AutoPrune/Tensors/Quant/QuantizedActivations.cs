using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace AutoPrune.Tensors.Quant;

/// <summary>
/// Rows of X quantized for integer dot products with block weights, the way llama.cpp pairs them with each weight type:
/// <list type="bullet">
/// <item>blocks of 32 for Q8_0, Q4_0, Q4_1, Q5_0, Q5_1 (llama.cpp's Q8_0/Q8_1): d = max|x|/127, q = round(x/d), and the
/// int8 sum per block (the offset and min terms); for the AVX-512 Q8_0 kernel also the values widened to int16.</item>
/// <item>super-blocks of 256 for Q4_K, Q5_K, Q6_K (llama.cpp's Q8_K): one scale per 256 values, q = round(x·127/max|x|),
/// d = 1/(127/max|x|), and the int8 sums per 16 and per 32 as int16. One activation scale per weight super-block lets
/// the kernels sum a whole super-block in int32 and convert it to float once, instead of once per 32 values.
/// (llama.cpp scales by −127/max with max the signed extreme, which flips the sign of both q and d: the same products.)</item>
/// </list>
/// Rounding is half to even. One buffer per thread, grown as needed and reused across calls.
/// </summary>
public sealed unsafe class QuantizedActivations : IDisposable
{
    public int Rows { get; private set; }
    public int Cols { get; private set; }
    /// <summary>Values per activation scale: 32, or 256 for the K types (<see cref="SuperBlocks"/>).</summary>
    public int Block { get; private set; }
    public sbyte* Q { get; private set; }       // Rows x Cols
    public float* D { get; private set; }       // Rows x Cols/Block
    public int* Sum32 { get; private set; }     // blocks of 32: Rows x Cols/32
    public short* Q16 { get; private set; }     // blocks of 32: Rows x Cols, Q widened
    public short* BSum16 { get; private set; }  // super-blocks: Rows x Cols/16
    public short* BSum32 { get; private set; }  // super-blocks: Rows x Cols/32
    private long _cap;
    private void* _mem;

    [ThreadStatic] private static QuantizedActivations? t_instance;

    /// <summary>Whether activations for weights of type <paramref name="t"/> are quantized per 256 values.</summary>
    public static bool SuperBlocks(DType t) => t is DType.Q4_K or DType.Q5_K or DType.Q6_K;

    /// <summary>This thread's buffer, holding <paramref name="m"/> rows of <paramref name="x"/> quantized for weights of type <paramref name="weights"/>.</summary>
    public static QuantizedActivations For(float* x, int m, int k, DType weights)
    {
        var a = t_instance ??= new QuantizedActivations();
        a.Fill(x, m, k, SuperBlocks(weights) ? 256 : 32);
        return a;
    }

    private void Fill(float* x, int m, int k, int block)
    {
        if (k % block != 0) throw new ArgumentException($"row length {k} is not a multiple of {block}");
        long n = (long)m * k, blocks = n / block;
        // Q, then Q16 or the int16 sums, then D and Sum32, each 64-byte aligned.
        long need = n + (block == 32 ? 2 * n : n / 16 * 2 + n / 32 * 2) + blocks * 4 + n / 32 * 4 + 5 * 64;
        if (need > _cap)
        {
            if (_mem != null) NativeMemory.AlignedFree(_mem);
            _cap = Math.Max(need, _cap * 2);
            _mem = NativeMemory.AlignedAlloc((nuint)_cap, 64);
        }
        Rows = m; Cols = k; Block = block;
        bool simd = Simd.Level >= SimdLevel.Avx2; // the same bits either way (tested); the scalar form is the definition
        byte* p = (byte*)_mem;
        Q = (sbyte*)p; p = Align(p + n);
        D = (float*)p; p = Align(p + blocks * 4);
        if (block == 32)
        {
            Q16 = (short*)p; p = Align(p + n * 2);
            Sum32 = (int*)p;
            BSum16 = BSum32 = null;
            for (long b = 0; b < blocks; b++)
                if (simd) QuantizeBlockSimd(x + b * 32, Q + b * 32, Q16 + b * 32, D + b, Sum32 + b);
                else
                {
                    QuantizeBlock(x + b * 32, Q + b * 32, D + b, Sum32 + b);
                    for (int j = 0; j < 32; j++) Q16[b * 32 + j] = Q[b * 32 + j];
                }
        }
        else
        {
            BSum16 = (short*)p; p = Align(p + n / 16 * 2);
            BSum32 = (short*)p;
            Q16 = null; Sum32 = null;
            for (long b = 0; b < blocks; b++)
                if (simd) QuantizeSuperBlockSimd(x + b * 256, Q + b * 256, D + b, BSum16 + b * 16, BSum32 + b * 8);
                else QuantizeSuperBlock(x + b * 256, Q + b * 256, D + b, BSum16 + b * 16, BSum32 + b * 8);
        }
    }

    private static byte* Align(byte* p) => (byte*)(((nint)p + 63) & ~63);

    /// <summary>d = max|x|/127, q = round(x/d) (half to even), with the block's int8 sum.</summary>
    internal static void QuantizeBlock(float* x, sbyte* q, float* d, int* sum)
    {
        float amax = 0;
        for (int j = 0; j < 32; j++) amax = MathF.Max(amax, MathF.Abs(x[j]));
        float dd = amax / 127, id = dd != 0 ? 1 / dd : 0;
        int s = 0;
        for (int j = 0; j < 32; j++) { int v = (int)MathF.Round(x[j] * id); q[j] = (sbyte)v; s += v; }
        *d = dd; *sum = s;
    }

    /// <summary>256 values: s = 127/max|x|, q = round(s·x) (half to even), d = 1/s, with the int8 sums per 16 and per 32.</summary>
    internal static void QuantizeSuperBlock(float* x, sbyte* q, float* d, short* sum16, short* sum32)
    {
        float amax = 0;
        for (int j = 0; j < 256; j++) amax = MathF.Max(amax, MathF.Abs(x[j]));
        float iscale = amax != 0 ? 127 / amax : 0;
        for (int g = 0; g < 16; g++)
        {
            int s = 0;
            for (int j = 16 * g; j < 16 * g + 16; j++)
            {
                int v = Math.Clamp((int)MathF.Round(iscale * x[j]), -127, 127);
                q[j] = (sbyte)v;
                s += v;
            }
            sum16[g] = (short)s;
        }
        for (int g = 0; g < 8; g++) sum32[g] = (short)(sum16[2 * g] + sum16[2 * g + 1]);
        *d = amax != 0 ? 1 / iscale : 0;
    }

    /// <summary><see cref="QuantizeBlock"/> 8 values at a time, also writing the values widened to int16: the same bits.</summary>
    internal static void QuantizeBlockSimd(float* x, sbyte* q, short* q16, float* d, int* sum)
    {
        var x0 = Vector256.Load(x); var x1 = Vector256.Load(x + 8); var x2 = Vector256.Load(x + 16); var x3 = Vector256.Load(x + 24);
        var vmax = Vector256.Max(Vector256.Max(Vector256.Abs(x0), Vector256.Abs(x1)), Vector256.Max(Vector256.Abs(x2), Vector256.Abs(x3)));
        var m4 = Vector128.Max(vmax.GetLower(), vmax.GetUpper());
        float amax = MathF.Max(MathF.Max(m4[0], m4[1]), MathF.Max(m4[2], m4[3]));
        float dd = amax / 127, id = dd != 0 ? 1 / dd : 0;
        var s = Vector256.Create(id);
        // |x·id| ≤ 127 after rounding, so the clamp in Quantize8 never binds here (NaN and infinity give 0 both ways).
        var lo = Vector256.Create(-127);
        var hi = Vector256.Create(127);
        var a = Vector256.Narrow(Quantize8(x, s, lo, hi), Quantize8(x + 8, s, lo, hi));
        var b = Vector256.Narrow(Quantize8(x + 16, s, lo, hi), Quantize8(x + 24, s, lo, hi));
        a.Store(q16); b.Store(q16 + 16);
        Vector256.Narrow(a, b).Store(q);
        *d = dd; *sum = Vector256.Sum(a) + Vector256.Sum(b);
    }

    /// <summary><see cref="QuantizeSuperBlock"/> 8 values at a time: the same operations on each value, so the same bits.</summary>
    internal static void QuantizeSuperBlockSimd(float* x, sbyte* q, float* d, short* sum16, short* sum32)
    {
        var vmax = Vector256<float>.Zero;
        for (int j = 0; j < 256; j += 8) vmax = Vector256.Max(vmax, Vector256.Abs(Vector256.Load(x + j))); // NaN propagates, as MathF.Max
        var m4 = Vector128.Max(vmax.GetLower(), vmax.GetUpper());
        float amax = MathF.Max(MathF.Max(m4[0], m4[1]), MathF.Max(m4[2], m4[3]));
        float iscale = amax != 0 ? 127 / amax : 0;
        var s = Vector256.Create(iscale);
        var lo = Vector256.Create(-127);
        var hi = Vector256.Create(127);
        for (int g = 0; g < 16; g += 2)
        {
            float* p = x + 16 * g;
            var a = Vector256.Narrow(Quantize8(p, s, lo, hi), Quantize8(p + 8, s, lo, hi));
            var b = Vector256.Narrow(Quantize8(p + 16, s, lo, hi), Quantize8(p + 24, s, lo, hi));
            Vector256.Narrow(a, b).Store(q + 16 * g);
            sum16[g] = Vector256.Sum(a); sum16[g + 1] = Vector256.Sum(b);
        }
        for (int g = 0; g < 8; g++) sum32[g] = (short)(sum16[2 * g] + sum16[2 * g + 1]);
        *d = amax != 0 ? 1 / iscale : 0;
    }

    private static Vector256<int> Quantize8(float* x, Vector256<float> s, Vector256<int> lo, Vector256<int> hi) =>
        Vector256.Min(Vector256.Max(Vector256.ConvertToInt32(Vector256.Round(Vector256.Load(x) * s)), lo), hi);

    public void Dispose()
    {
        if (_mem != null) NativeMemory.AlignedFree(_mem);
        _mem = null; _cap = 0;
    }
}
