using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace AutoPrune.Tensors.Quant;

/// <summary>
/// F16 → F32 by table lookup for the block scales (as llama.cpp does): .NET 10 exposes no vcvtph2ps, and the
/// software Half conversion costs more than the integer dot product of a Q8_0 block. 256 KB, filled once from
/// <see cref="Dequantize.Half"/>, so the table gives exactly the reference values (NaN and infinity included).
/// </summary>
public static unsafe class HalfTable
{
    private static readonly float* s_table = Build();

    private static float* Build()
    {
        var t = (float*)NativeMemory.AlignedAlloc(65536 * sizeof(float), 64);
        ushort h = 0;
        do { t[h] = Dequantize.Half((byte*)&h); } while (++h != 0);
        return t;
    }

    /// <summary>The F16 value stored little-endian at <paramref name="p"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Get(byte* p) => s_table[*(ushort*)p];
}
