using System.Runtime.InteropServices;

namespace AutoPrune.Tensors.Quant;

/// <summary>
/// Rows of X quantized for integer dot products with block weights, as llama.cpp does: every 32 values get their
/// own F32 scale d = max|x|/127 and int8 values, plus the sums of the int8 values per 16 and per 32 (used for the
/// offsets and mins of the weight formats). One buffer per thread, grown as needed and reused across calls.
/// </summary>
public sealed unsafe class QuantizedActivations : IDisposable
{
    public int Rows { get; private set; }
    public int Cols { get; private set; }
    public sbyte* Q { get; private set; }       // Rows x Cols
    public float* D { get; private set; }       // Rows x Cols/32
    public int* Sum32 { get; private set; }     // Rows x Cols/32
    public int* Sum16 { get; private set; }     // Rows x Cols/16
    private long _cap;
    private void* _mem;

    [ThreadStatic] private static QuantizedActivations? t_instance;

    /// <summary>This thread's buffer, holding <paramref name="m"/> rows of <paramref name="x"/> quantized.</summary>
    public static QuantizedActivations For(float* x, int m, int k)
    {
        var a = t_instance ??= new QuantizedActivations();
        a.Fill(x, m, k);
        return a;
    }

    private void Fill(float* x, int m, int k)
    {
        if (k % 32 != 0) throw new ArgumentException($"row length {k} is not a multiple of 32");
        long blocks = (long)m * k / 32;
        long need = (long)m * k + blocks * 4 * 2 + blocks * 2 * 4 + 256;
        if (need > _cap)
        {
            if (_mem != null) NativeMemory.AlignedFree(_mem);
            _cap = Math.Max(need, _cap * 2);
            _mem = NativeMemory.AlignedAlloc((nuint)_cap, 64);
        }
        Rows = m; Cols = k;
        byte* p = (byte*)_mem;
        Q = (sbyte*)p; p += (long)m * k;
        p = (byte*)(((nint)p + 63) & ~63);
        D = (float*)p; p += blocks * 4;
        Sum32 = (int*)p; p += blocks * 4;
        Sum16 = (int*)p;
        for (long b = 0; b < blocks; b++) QuantizeBlock(x + b * 32, Q + b * 32, D + b, Sum32 + b, Sum16 + 2 * b);
    }

    /// <summary>d = max|x|/127, q = round(x/d) (half to even), with the block's int8 sums.</summary>
    internal static void QuantizeBlock(float* x, sbyte* q, float* d, int* sum32, int* sum16)
    {
        float amax = 0;
        for (int j = 0; j < 32; j++) amax = MathF.Max(amax, MathF.Abs(x[j]));
        float dd = amax / 127, id = dd != 0 ? 1 / dd : 0;
        int s0 = 0, s1 = 0;
        for (int j = 0; j < 16; j++) { int v = (int)MathF.Round(x[j] * id); q[j] = (sbyte)v; s0 += v; }
        for (int j = 16; j < 32; j++) { int v = (int)MathF.Round(x[j] * id); q[j] = (sbyte)v; s1 += v; }
        *d = dd; *sum32 = s0 + s1; sum16[0] = s0; sum16[1] = s1;
    }

    public void Dispose()
    {
        if (_mem != null) NativeMemory.AlignedFree(_mem);
        _mem = null; _cap = 0;
    }
}
