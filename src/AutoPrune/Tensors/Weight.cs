namespace AutoPrune.Tensors;

/// <summary>
/// A read-only tensor kept in its file dtype: a pointer into a memory-mapped safetensors file
/// or GGUF file (or into native memory for synthetic models). Never copied to F32 as a whole unless small.
/// Block types (Q8_0, Q4_K, ...) are stored row by row, each row a whole number of blocks.
/// The owner of the memory (a <see cref="ModelWeights"/>) must outlive it.
/// </summary>
public sealed unsafe class Weight
{
    public string Name { get; }
    public DType DType { get; }
    public int[] Shape { get; }
    public byte* Data { get; }
    public long ElementCount { get; }

    public Weight(string name, DType dtype, int[] shape, byte* data)
    {
        Name = name; DType = dtype; Shape = shape; Data = data;
        long n = 1;
        foreach (var d in shape) n *= d;
        ElementCount = n;
    }

    public long ByteLength => DType.ByteCount(ElementCount);

    /// <summary>Bytes of one row (<see cref="Cols"/> values).</summary>
    public long RowBytes => DType.ByteCount(Cols);

    /// <summary>First dimension (output features of a linear layer).</summary>
    public int Rows => Shape.Length == 0 ? 1 : Shape[0];

    /// <summary>Product of the remaining dimensions (input features of a linear layer).</summary>
    public int Cols => Rows == 0 ? 0 : (int)(ElementCount / Rows);

    /// <summary>Copies elements [start, start+dst.Length) widened (or decoded from blocks) to F32.</summary>
    public void CopyTo(long start, Span<float> dst)
    {
        if (start < 0 || start + dst.Length > ElementCount)
            throw new ArgumentOutOfRangeException(nameof(start), $"{Name}: range {start}+{dst.Length} outside {ElementCount} elements");
        if (DType.IsQuantized())
        {
            CopyBlocksTo(start, dst);
            return;
        }
        byte* p = Data + start * DType.Size();
        switch (DType)
        {
            case DType.F32: new ReadOnlySpan<float>(p, dst.Length).CopyTo(dst); break;
            case DType.BF16: Convert.BF16ToF32(new ReadOnlySpan<ushort>(p, dst.Length), dst); break;
            default: Convert.F16ToF32(new ReadOnlySpan<ushort>(p, dst.Length), dst); break;
        }
    }

    private void CopyBlocksTo(long start, Span<float> dst)
    {
        int be = DType.BlockElements(), bb = DType.BlockBytes();
        float* tmp = stackalloc float[256];
        long b = start / be;
        int skip = (int)(start - b * be), done = 0;
        fixed (float* d = dst)
            while (done < dst.Length)
            {
                int take = Math.Min(be - skip, dst.Length - done);
                if (skip == 0 && take == be) Quant.Dequantize.Blocks(DType, Data + b * bb, d + done, 1);
                else
                {
                    Quant.Dequantize.Blocks(DType, Data + b * bb, tmp, 1);
                    new ReadOnlySpan<float>(tmp + skip, take).CopyTo(dst.Slice(done, take));
                }
                done += take; skip = 0; b++;
            }
    }

    /// <summary>Row r of a 2-D tensor, widened to F32.</summary>
    public void RowTo(int r, Span<float> dst) => CopyTo((long)r * Cols, dst[..Cols]);

    /// <summary>The whole tensor as F32 (for small tensors: norms, biases, embeddings of the vision tower).</summary>
    public float[] ToFloat32()
    {
        var a = new float[ElementCount];
        CopyTo(0, a);
        return a;
    }

    /// <summary>The raw F32 view (only when DType is F32).</summary>
    public ReadOnlySpan<float> AsF32Span()
    {
        if (DType != DType.F32) throw new InvalidOperationException($"{Name} is {DType.Name()}, not F32");
        return new ReadOnlySpan<float>(Data, checked((int)ElementCount));
    }

    public override string ToString() => $"{Name} {DType.Name()} [{string.Join(",", Shape)}]";
}
