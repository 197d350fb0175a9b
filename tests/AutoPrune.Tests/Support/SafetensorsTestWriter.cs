using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;

namespace AutoPrune.Tests.Support;

/// <summary>
/// Builds safetensors bytes for tests: well-formed files from tensors, or hand-crafted (possibly broken)
/// headers over an arbitrary data section.
/// </summary>
public static class SafetensorsTestWriter
{
    public sealed record Tensor(string Name, string DType, long[] Shape, byte[] Data);

    public static Tensor F32(string name, long[] shape, params float[] values) =>
        new(name, "F32", shape, MemoryMarshal.AsBytes(values.AsSpan()).ToArray());

    public static Tensor F16(string name, long[] shape, params float[] values) =>
        new(name, "F16", shape, U16Bytes(Array.ConvertAll(values, v => BitConverter.HalfToUInt16Bits((Half)v))));

    public static Tensor BF16(string name, long[] shape, params float[] values) =>
        new(name, "BF16", shape, U16Bytes(Array.ConvertAll(values, AutoPrune.Tensors.Convert.F32ToBF16)));

    public static Tensor BF16Bits(string name, long[] shape, params ushort[] bits) => new(name, "BF16", shape, U16Bytes(bits));

    private static byte[] U16Bytes(ushort[] v)
    {
        var b = new byte[v.Length * 2];
        for (int i = 0; i < v.Length; i++) BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(2 * i), v[i]);
        return b;
    }

    /// <summary>A valid file: tensors laid out back to back in the given order.</summary>
    public static byte[] Build(IEnumerable<Tensor> tensors, IDictionary<string, string>? metadata = null)
    {
        var header = new Dictionary<string, object>();
        if (metadata != null) header["__metadata__"] = metadata;
        var data = new MemoryStream();
        foreach (var t in tensors)
        {
            long begin = data.Length;
            data.Write(t.Data);
            header[t.Name] = new Dictionary<string, object> { ["dtype"] = t.DType, ["shape"] = t.Shape, ["data_offsets"] = new[] { begin, data.Length } };
        }
        return FromHeader(JsonSerializer.Serialize(header), data.ToArray());
    }

    public static byte[] Build(params Tensor[] tensors) => Build((IEnumerable<Tensor>)tensors);

    /// <summary>Any header text (padded with spaces to a multiple of 8, as the reference writer does) over any data.</summary>
    public static byte[] FromHeader(string headerJson, byte[] data) => FromHeader(Encoding.UTF8.GetBytes(headerJson), data);

    public static byte[] FromHeader(byte[] header, byte[] data, bool pad = true)
    {
        int padded = pad ? (header.Length + 7) / 8 * 8 : header.Length;
        return FromRaw((ulong)padded, header, padded - header.Length, data);
    }

    /// <summary>Fully raw: an arbitrary declared header length, then header bytes, spaces, data.</summary>
    public static byte[] FromRaw(ulong declaredHeaderLength, byte[] header, int spaces, byte[] data)
    {
        var ms = new MemoryStream();
        Span<byte> len = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(len, declaredHeaderLength);
        ms.Write(len);
        ms.Write(header);
        for (int i = 0; i < spaces; i++) ms.WriteByte((byte)' ');
        ms.Write(data);
        return ms.ToArray();
    }

    public static string Write(string dir, string fileName, byte[] bytes)
    {
        var p = Path.Combine(dir, fileName);
        File.WriteAllBytes(p, bytes);
        return p;
    }
}

/// <summary>A per-test temporary folder, deleted afterwards (mapped files must be disposed first).</summary>
public abstract class TempDirTest : IDisposable
{
    protected string Dir { get; } = TestPaths.TempDir();

    public void Dispose()
    {
        TestPaths.DeleteQuietly(Dir);
        GC.SuppressFinalize(this);
    }
}
