using System.Text;
using System.Text.Json;
using AutoPrune.Tensors;

namespace AutoPrune.Benchmarking;

/// <summary>
/// Writes a safetensors file one tensor at a time without holding it in memory: every name, dtype and shape is
/// declared first (the header carries all offsets), then each tensor's bytes are produced chunk by chunk, in order.
/// </summary>
public sealed class SafetensorsStreamWriter
{
    public sealed record Entry(string Name, DType DType, long[] Shape)
    {
        public long Elements { get; } = Shape.Aggregate(1L, (a, b) => a * b);
        public long Bytes => Elements * DType.Size();
    }

    private readonly List<Entry> _entries = [];

    public IReadOnlyList<Entry> Entries => _entries;

    public void Declare(string name, DType dtype, params long[] shape)
    {
        if (dtype is not (DType.F32 or DType.F16 or DType.BF16))
            throw new ArgumentException($"{name}: safetensors holds F32, F16 or BF16 here, not {dtype.Name()}");
        _entries.Add(new Entry(name, dtype, shape));
    }

    /// <summary>Total file size the declared tensors make.</summary>
    public long FileBytes => 8 + Header().Length + _entries.Sum(e => e.Bytes);

    /// <summary>
    /// Writes the file: <paramref name="fill"/> is called once per entry, in declaration order, with a stream it must
    /// write exactly that entry's bytes to. Each tensor starts 8-byte aligned (the header is padded with spaces).
    /// </summary>
    public void Write(string path, Action<Entry, Stream> fill)
    {
        var header = Header();
        using var fs = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 22);
        fs.Write(BitConverter.GetBytes((ulong)header.Length));
        fs.Write(header);
        foreach (var e in _entries)
        {
            long before = fs.Position;
            fill(e, fs);
            if (fs.Position - before != e.Bytes)
                throw new InvalidOperationException($"{e.Name}: wrote {fs.Position - before} bytes, expected {e.Bytes}");
        }
    }

    private byte[] Header()
    {
        var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms))
        {
            w.WriteStartObject();
            long offset = 0;
            foreach (var e in _entries)
            {
                w.WriteStartObject(e.Name);
                w.WriteString("dtype", e.DType.Name());
                w.WriteStartArray("shape");
                foreach (var d in e.Shape) w.WriteNumberValue(d);
                w.WriteEndArray();
                w.WriteStartArray("data_offsets");
                w.WriteNumberValue(offset);
                w.WriteNumberValue(offset += e.Bytes);
                w.WriteEndArray();
                w.WriteEndObject();
            }
            w.WriteEndObject();
        }
        int padded = (int)((ms.Length + 7) / 8 * 8);
        while (ms.Length < padded) ms.WriteByte((byte)' ');
        return ms.ToArray();
    }
}
