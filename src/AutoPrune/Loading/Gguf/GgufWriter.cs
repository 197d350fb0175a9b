using System.Text;
using AutoPrune.Tensors;

namespace AutoPrune.Loading.Gguf;

/// <summary>
/// Writes a GGUF v3 file: metadata in the order added, then tensor infos, then the tensor data, each tensor at an
/// offset aligned to <see cref="GgufFile.DefaultAlignment"/>. Tensor bytes are produced one tensor at a time
/// while writing, so a 7B model never has to be held in memory.
/// </summary>
public sealed class GgufWriter
{
    private readonly List<(string Key, GgufValueType Type, object Value)> _kv = new();
    private readonly List<(string Name, DType Type, int[] Shape, Func<byte[]> Data)> _tensors = new();

    public void Add(string key, string v) => _kv.Add((key, GgufValueType.String, v));
    public void Add(string key, uint v) => _kv.Add((key, GgufValueType.UInt32, v));
    public void Add(string key, int v) => _kv.Add((key, GgufValueType.Int32, v));
    public void Add(string key, float v) => _kv.Add((key, GgufValueType.Float32, v));
    public void Add(string key, bool v) => _kv.Add((key, GgufValueType.Bool, v));
    public void Add(string key, string[] v) => _kv.Add((key, GgufValueType.Array, new GgufArray(GgufValueType.String, v)));
    public void Add(string key, float[] v) => _kv.Add((key, GgufValueType.Array, new GgufArray(GgufValueType.Float32, v)));
    public void Add(string key, int[] v) => _kv.Add((key, GgufValueType.Array, new GgufArray(GgufValueType.Int32, v)));

    /// <summary>
    /// Adds a tensor of row-major <paramref name="shape"/> whose bytes <paramref name="data"/> returns when the
    /// file is written (exactly <c>type.ByteCount(elements)</c> bytes).
    /// </summary>
    public void AddTensor(string name, DType type, int[] shape, Func<byte[]> data)
    {
        if (shape.Length is 0 or > 4) throw new ArgumentException($"{name}: {shape.Length} dimensions");
        if (shape[^1] % type.BlockElements() != 0)
            throw new ArgumentException($"{name}: row length {shape[^1]} is not a multiple of the {type} block size");
        _tensors.Add((name, type, (int[])shape.Clone(), data));
    }

    public void Write(string path)
    {
        var tmp = path + ".partial";
        try
        {
            using (var fs = new FileStream(tmp, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
            using (var w = new BinaryWriter(fs, Encoding.UTF8, leaveOpen: true))
            {
                w.Write(GgufFile.Magic);
                w.Write(3u);
                w.Write((ulong)_tensors.Count);
                w.Write((ulong)_kv.Count);
                foreach (var (key, type, value) in _kv)
                {
                    WriteString(w, key);
                    w.Write((uint)type);
                    WriteValue(w, type, value);
                }
                long offset = 0;
                var offsets = new long[_tensors.Count];
                for (int i = 0; i < _tensors.Count; i++)
                {
                    var (name, type, shape, _) = _tensors[i];
                    WriteString(w, name);
                    w.Write((uint)shape.Length);
                    for (int d = shape.Length - 1; d >= 0; d--) w.Write((ulong)shape[d]);
                    w.Write(GgmlTypes.ToId(type));
                    w.Write((ulong)offset);
                    offsets[i] = offset;
                    offset = Align(offset + Bytes(type, shape));
                }
                Pad(w, fs.Position);
                long dataStart = fs.Position;
                for (int i = 0; i < _tensors.Count; i++)
                {
                    var (name, type, shape, data) = _tensors[i];
                    Pad(w, fs.Position - dataStart);
                    var bytes = data();
                    if (bytes.LongLength != Bytes(type, shape))
                        throw new InvalidOperationException($"{name}: produced {bytes.LongLength} bytes, {type} [{string.Join(",", shape)}] needs {Bytes(type, shape)}");
                    w.Write(bytes);
                }
            }
            File.Move(tmp, path, overwrite: true);
        }
        finally
        {
            if (File.Exists(tmp)) File.Delete(tmp);
        }
    }

    private static long Bytes(DType type, int[] shape)
    {
        long n = 1;
        foreach (var d in shape) n *= d;
        return type.ByteCount(n);
    }

    private static long Align(long x) => (x + GgufFile.DefaultAlignment - 1) / GgufFile.DefaultAlignment * GgufFile.DefaultAlignment;

    private static void Pad(BinaryWriter w, long pos)
    {
        for (long p = pos; p < Align(pos); p++) w.Write((byte)0);
    }

    private static void WriteString(BinaryWriter w, string s)
    {
        var b = Encoding.UTF8.GetBytes(s);
        w.Write((ulong)b.Length);
        w.Write(b);
    }

    private static void WriteValue(BinaryWriter w, GgufValueType type, object v)
    {
        switch (type)
        {
            case GgufValueType.String: WriteString(w, (string)v); break;
            case GgufValueType.UInt32: w.Write((uint)v); break;
            case GgufValueType.Int32: w.Write((int)v); break;
            case GgufValueType.Float32: w.Write((float)v); break;
            case GgufValueType.Bool: w.Write((bool)v ? (byte)1 : (byte)0); break;
            case GgufValueType.Array:
                var a = (GgufArray)v;
                w.Write((uint)a.ElementType);
                w.Write((ulong)a.Count);
                foreach (var e in a.Values) WriteValue(w, a.ElementType, e);
                break;
            default: throw new ArgumentException($"cannot write {type}");
        }
    }
}
