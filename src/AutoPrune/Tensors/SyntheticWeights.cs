using System.Runtime.InteropServices;

namespace AutoPrune.Tensors;

/// <summary>
/// Random weights in native memory, stored in any file dtype, for benchmarks, tests and
/// random-weight models. The memory lives until the owner added to <c>owners</c> is disposed
/// (hand the list to a <see cref="ModelWeights"/> to tie it to the model's lifetime).
/// </summary>
public static unsafe class SyntheticWeights
{
    /// <summary>
    /// A tensor of the given dtype/shape with values uniform in [-scale, scale), deterministic in
    /// <paramref name="seed"/> (same values, rounded to the dtype, whatever the dtype).
    /// </summary>
    public static Weight Create(string name, DType dtype, int[] shape, int seed, float scale, List<IDisposable> owners)
    {
        long count = 1;
        foreach (var d in shape)
        {
            if (d < 0) throw new ArgumentException($"negative dimension in shape of {name}");
            count *= d;
        }
        var mem = new NativeBuffer(Math.Max(1, count * dtype.Size()));
        owners.Add(mem);
        var rng = new Random(seed);
        byte* p = (byte*)mem.Pointer;
        for (long i = 0; i < count; i++)
        {
            float v = (float)(rng.NextDouble() * 2 - 1) * scale;
            switch (dtype)
            {
                case DType.F32: ((float*)p)[i] = v; break;
                case DType.BF16: ((ushort*)p)[i] = Convert.F32ToBF16(v); break;
                default: ((ushort*)p)[i] = Convert.F32ToF16(v); break;
            }
        }
        return new Weight(name, dtype, (int[])shape.Clone(), p);
    }

    /// <summary>A tensor holding the given F32 values narrowed to <paramref name="dtype"/>.</summary>
    public static Weight FromValues(string name, DType dtype, int[] shape, ReadOnlySpan<float> values, List<IDisposable> owners)
    {
        long count = 1;
        foreach (var d in shape) count *= d;
        if (values.Length != count) throw new ArgumentException($"{name}: {values.Length} values for {count} elements");
        var mem = new NativeBuffer(Math.Max(1, count * dtype.Size()));
        owners.Add(mem);
        byte* p = (byte*)mem.Pointer;
        for (int i = 0; i < values.Length; i++)
        {
            switch (dtype)
            {
                case DType.F32: ((float*)p)[i] = values[i]; break;
                case DType.BF16: ((ushort*)p)[i] = Convert.F32ToBF16(values[i]); break;
                default: ((ushort*)p)[i] = Convert.F32ToF16(values[i]); break;
            }
        }
        return new Weight(name, dtype, (int[])shape.Clone(), p);
    }

    /// <summary>64-byte aligned native memory freed on Dispose (idempotent).</summary>
    public sealed class NativeBuffer : IDisposable
    {
        public void* Pointer { get; private set; }
        public long Length { get; }

        public NativeBuffer(long bytes)
        {
            Length = bytes;
            Pointer = NativeMemory.AlignedAlloc((nuint)bytes, 64);
        }

        public void Dispose()
        {
            if (Pointer != null) NativeMemory.AlignedFree(Pointer);
            Pointer = null;
            GC.SuppressFinalize(this);
        }

        ~NativeBuffer() { if (Pointer != null) NativeMemory.AlignedFree(Pointer); }
    }
}
