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
        if (dtype.IsQuantized()) return RandomBlocks(name, dtype, shape, count, seed, scale, owners);
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

    /// <summary>
    /// Random block bytes with each block's f16 scale (and min) set so values span about [-scale, scale): as fast as
    /// filling memory, for kernel timings and synthetic models of block types (the values differ from the float types').
    /// </summary>
    private static Weight RandomBlocks(string name, DType dtype, int[] shape, long count, int seed, float scale, List<IDisposable> owners)
    {
        if (shape[^1] % dtype.BlockElements() != 0) throw new ArgumentException($"{name}: rows of {shape[^1]} are not whole {dtype} blocks");
        long bytes = dtype.ByteCount(count);
        var mem = new NativeBuffer(Math.Max(1, bytes));
        owners.Add(mem);
        byte* p = (byte*)mem.Pointer;
        var rng = new Random(seed);
        const int chunk = 1 << 20;
        var buf = new byte[chunk];
        for (long o = 0; o < bytes; o += chunk)
        {
            int n = (int)Math.Min(chunk, bytes - o);
            rng.NextBytes(buf.AsSpan(0, n));
            buf.AsSpan(0, n).CopyTo(new Span<byte>(p + o, n));
        }
        int bb = dtype.BlockBytes();
        var (at, d, at2, m) = dtype switch
        {
            DType.Q8_0 => (0, scale / 127, -1, 0f),
            DType.Q4_0 => (0, scale / 8, -1, 0f),
            DType.Q5_0 => (0, scale / 16, -1, 0f),
            DType.Q4_1 => (0, 2 * scale / 15, 2, -scale),
            DType.Q5_1 => (0, 2 * scale / 31, 2, -scale),
            DType.Q4_K => (0, 2 * scale / (63 * 15), 2, scale / 63),
            DType.Q5_K => (0, 2 * scale / (63 * 31), 2, scale / 63),
            _ => (208, scale / (127 * 32), -1, 0f), // Q6_K
        };
        ushort dh = BitConverter.HalfToUInt16Bits((Half)d), mh = BitConverter.HalfToUInt16Bits((Half)m);
        for (long b = 0; b < bytes / bb; b++)
        {
            *(ushort*)(p + b * bb + at) = dh;
            if (at2 >= 0) *(ushort*)(p + b * bb + at2) = mh;
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
