using System.Runtime.InteropServices;

namespace AutoPrune.Tensors.Quant;

/// <summary>
/// Rows of X quantized for integer dot products with block weights, as llama.cpp does: every 32 values get their
/// own F32 scale d = max|x|/127 and int8 values, plus the sums of the int8 values per 16 and per 32 (used for the
/// offsets and mins of the weight formats). For the AVX-512 kernels, also derived per-call tables shared by every
/// weight row: the values widened to int16, each block's scale repeated 8 times (one per int32 lane of that
/// block's products), d·sum32 per block and 32·d·sum16 per 16 values (the Q4_K mins and Q6_K offset terms).
/// One buffer per thread, grown as needed and reused across calls.
/// </summary>
public sealed unsafe class QuantizedActivations : IDisposable
{
    public int Rows { get; private set; }
    public int Cols { get; private set; }
    public sbyte* Q { get; private set; }       // Rows x Cols
    public float* D { get; private set; }       // Rows x Cols/32
    public int* Sum32 { get; private set; }     // Rows x Cols/32
    public int* Sum16 { get; private set; }     // Rows x Cols/16
    public short* Q16 { get; private set; }     // Rows x Cols: Q widened
    public float* D8 { get; private set; }      // Rows x Cols/4: D, each repeated 8 times
    public float* DSum32 { get; private set; }  // Rows x Cols/32: D·Sum32
    public float* DSum16 { get; private set; }  // Rows x Cols/16: 32·D·Sum16 (Q6_K's −32 offset per 16 values)
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
        // Q, Q16, D8 (8 floats per block), then D, Sum32, DSum32 (1 each per block), Sum16, DSum16 (2 each), alignment slack.
        long need = (long)m * k * 3 + blocks * 32 + blocks * 4 * 3 + blocks * 8 * 2 + 5 * 64;
        if (need > _cap)
        {
            if (_mem != null) NativeMemory.AlignedFree(_mem);
            _cap = Math.Max(need, _cap * 2);
            _mem = NativeMemory.AlignedAlloc((nuint)_cap, 64);
        }
        Rows = m; Cols = k;
        byte* p = (byte*)_mem;
        Q = (sbyte*)p; p = Align(p + (long)m * k);
        Q16 = (short*)p; p = Align(p + (long)m * k * 2);
        D8 = (float*)p; p = Align(p + blocks * 32);
        D = (float*)p; p += blocks * 4;
        Sum32 = (int*)p; p += blocks * 4;
        DSum32 = (float*)p; p += blocks * 4;
        Sum16 = (int*)p; p += blocks * 8;
        DSum16 = (float*)p;
        for (long b = 0; b < blocks; b++)
        {
            QuantizeBlock(x + b * 32, Q + b * 32, D + b, Sum32 + b, Sum16 + 2 * b);
            float d = D[b];
            for (int j = 0; j < 32; j++) Q16[b * 32 + j] = Q[b * 32 + j];
            for (int j = 0; j < 8; j++) D8[b * 8 + j] = d;
            DSum32[b] = d * Sum32[b];
            DSum16[2 * b] = 32 * d * Sum16[2 * b];
            DSum16[2 * b + 1] = 32 * d * Sum16[2 * b + 1];
        }
    }

    private static byte* Align(byte* p) => (byte*)(((nint)p + 63) & ~63);

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
