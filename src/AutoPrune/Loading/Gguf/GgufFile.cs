using System.Text;
using AutoPrune.Tensors;

namespace AutoPrune.Loading.Gguf;

/// <summary>
/// One memory-mapped GGUF file (versions 2 and 3, little-endian): metadata key/values and tensors. The whole
/// header is validated before anything is returned (lengths against the bytes left, known value and tensor
/// types, dimensions whose product fits, offsets aligned and inside the data section, no overlapping tensors);
/// every <see cref="Weight"/> points into the read-only mapping in its file type until <see cref="Dispose"/>.
/// Weight shapes are in row-major order (the reverse of GGUF's ne[] order): a [rows, cols] matrix has ne = [cols, rows].
/// </summary>
public sealed unsafe class GgufFile : IMappedWeightsFile
{
    public const uint Magic = 0x46554747; // "GGUF" read as a little-endian u32
    public const int DefaultAlignment = 32;
    private const int MaxDims = 4, MaxArrayDepth = 8;

    private readonly MappedFile _file;
    private readonly byte* _base;
    private readonly Dictionary<string, object> _meta = new(StringComparer.Ordinal);
    private readonly List<Weight> _tensors = new();
    private readonly Dictionary<string, Weight> _byName = new(StringComparer.Ordinal);

    public string Path => _file.Path;
    public uint Version { get; private set; }
    public int Alignment { get; private set; } = DefaultAlignment;
    public long DataOffset { get; private set; }
    public long FileLength => _file.Length;

    /// <summary>Metadata in file order of keys: numbers as their .NET type, bool, string, or <see cref="GgufArray"/>.</summary>
    public IReadOnlyDictionary<string, object> Metadata => _meta;
    public IReadOnlyList<Weight> Tensors => _tensors;

    private GgufFile(MappedFile file)
    {
        _file = file; _base = file.Base;
        new HeaderReader(this).Read();
    }

    public static GgufFile Open(string path)
    {
        var file = MappedFile.Open(path, "GGUF");
        try
        {
            if (file.Length < 24) throw new GgufFormatException(path, $"the file is {file.Length} bytes, shorter than the 24-byte GGUF preamble");
            return new GgufFile(file);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <inheritdoc cref="MappedFile.CheckUnchanged"/>
    public void CheckUnchanged() => _file.CheckUnchanged();

    /// <summary>Copies a tensor of this file to <paramref name="dst"/> by reading the file, not the mapping (see <see cref="MappedFile.ReadAt"/>).</summary>
    public void ReadTensor(Weight w, byte* dst)
    {
        long offset = (byte*)w.Data - _base;
        if (!_byName.TryGetValue(w.Name, out var own) || own.Data != w.Data) throw new ArgumentException($"tensor '{w.Name}' is not one of {Path}'s", nameof(w));
        _file.ReadAt(offset, dst, w.ByteLength);
    }

    public bool Contains(string name) => _byName.ContainsKey(name);
    public bool TryGet(string name, out Weight w) => _byName.TryGetValue(name, out w!);
    public Weight Get(string name) => _byName.TryGetValue(name, out var w) ? w : throw new MissingTensorException(name, Path);

    public void Dispose() => _file.Dispose();

    // ---- typed metadata access (errors name the file and the key) ----

    public bool Has(string key) => _meta.ContainsKey(key);

    public string GetString(string key) => TryGetString(key) ?? throw Missing(key);
    public string? TryGetString(string key) => _meta.TryGetValue(key, out var v) ? v as string ?? throw Wrong(key, "a string", v) : null;

    public long GetInt(string key) => TryGetInt(key) ?? throw Missing(key);
    public long? TryGetInt(string key)
    {
        if (!_meta.TryGetValue(key, out var v)) return null;
        return v switch
        {
            byte b => b, sbyte sb => sb, ushort us => us, short s => s, uint u => u, int i => i, long l => l,
            ulong ul when ul <= long.MaxValue => (long)ul,
            _ => throw Wrong(key, "an integer", v),
        };
    }

    /// <summary>An integer that must fit an int and be within [min, max].</summary>
    public int GetInt32(string key, int min = int.MinValue, int max = int.MaxValue) =>
        TryGetInt32(key, min, max) ?? throw Missing(key);
    public int? TryGetInt32(string key, int min = int.MinValue, int max = int.MaxValue)
    {
        var v = TryGetInt(key);
        if (v == null) return null;
        if (v < min || v > max) throw Bad($"metadata '{key}' = {v} is outside [{min}, {max}]");
        return (int)v.Value;
    }

    public float? TryGetFloat(string key)
    {
        if (!_meta.TryGetValue(key, out var v)) return null;
        float f = v switch { float x => x, double d => (float)d, _ => throw Wrong(key, "a number", v) };
        if (!float.IsFinite(f)) throw Bad($"metadata '{key}' = {f} is not finite");
        return f;
    }

    public bool? TryGetBool(string key) => _meta.TryGetValue(key, out var v) ? v as bool? ?? throw Wrong(key, "a bool", v) : null;

    public GgufArray? TryGetArray(string key) => _meta.TryGetValue(key, out var v) ? v as GgufArray ?? throw Wrong(key, "an array", v) : null;

    public T[]? TryGetArray<T>(string key, string what)
    {
        var a = TryGetArray(key);
        if (a == null) return null;
        return a.Values as T[] ?? throw Bad($"metadata '{key}' should be an array of {what}, got an array of {a.ElementType}");
    }

    private GgufFormatException Missing(string key) => Bad($"metadata key '{key}' is missing");
    private GgufFormatException Wrong(string key, string what, object v) =>
        Bad($"metadata '{key}' should be {what}, got {(v is GgufArray a ? $"an array of {a.ElementType}" : v.GetType().Name)}");
    internal GgufFormatException Bad(string problem) => new(Path, problem);

    /// <summary>Bounds-checked cursor over the header; every read is checked against the file length first.</summary>
    private struct HeaderReader(GgufFile f)
    {
        private long _pos;

        private void Need(long n, string what)
        {
            if (n < 0 || n > f.FileLength - _pos)
                throw f.Bad($"{what} at byte {_pos} needs {n} bytes but the file ends at {f.FileLength} (truncated?)");
        }

        private T Read<T>(string what) where T : unmanaged
        {
            Need(sizeof(T), what);
            T v = *(T*)(f._base + _pos);
            _pos += sizeof(T);
            return v;
        }

        private string ReadString(string what, bool strict)
        {
            ulong len = Read<ulong>($"length of {what}");
            if (len > (ulong)(f.FileLength - _pos))
                throw f.Bad($"{what} at byte {_pos - 8} claims {len} bytes but only {f.FileLength - _pos} remain");
            var bytes = new ReadOnlySpan<byte>(f._base + _pos, (int)Math.Min(len, int.MaxValue));
            if (len > int.MaxValue) throw f.Bad($"{what} is {len} bytes long");
            _pos += (long)len;
            if (strict && !System.Text.Unicode.Utf8.IsValid(bytes)) throw f.Bad($"{what} is not valid UTF-8");
            return Encoding.UTF8.GetString(bytes);
        }

        public void Read()
        {
            if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("big-endian hosts are not supported");
            uint magic = Read<uint>("magic");
            if (magic != Magic)
                throw f.Bad($"bad magic 0x{magic:X8} (expected \"GGUF\"); not a GGUF file" +
                    (magic == 0x47475546 ? " (byte-swapped: a big-endian GGUF, which is not supported)" : ""));
            uint version = Read<uint>("version");
            if (version is not (2 or 3))
                throw f.Bad(version == 1 ? "GGUF version 1 is not supported (convert it again with a current llama.cpp)"
                    : $"unsupported GGUF version {version} (supported: 2, 3)");
            f.Version = version;
            ulong nTensors = Read<ulong>("tensor count"), nKv = Read<ulong>("metadata count");
            // Lower bounds on entry sizes turn absurd counts into errors before any allocation.
            if (nKv > (ulong)(f.FileLength - _pos) / 12) throw f.Bad($"metadata count {nKv} cannot fit in a {f.FileLength}-byte file");
            if (nTensors > (ulong)(f.FileLength - _pos) / 32) throw f.Bad($"tensor count {nTensors} cannot fit in a {f.FileLength}-byte file");

            for (ulong i = 0; i < nKv; i++)
            {
                string key = ReadString($"metadata key #{i}", strict: true);
                if (key.Length == 0) throw f.Bad($"metadata key #{i} is empty");
                var type = (GgufValueType)Read<uint>($"type of metadata '{key}'");
                object value = ReadValue(type, key, 0);
                if (!f._meta.TryAdd(key, value)) throw f.Bad($"metadata key '{key}' appears twice");
            }

            if (f._meta.TryGetValue("general.alignment", out var al))
            {
                if (al is not uint a || a == 0 || (a & (a - 1)) != 0 || a > 1 << 20)
                    throw f.Bad($"general.alignment must be a power-of-two u32, got {al}");
                f.Alignment = (int)a;
            }

            var infos = new List<(string Name, int[] Shape, DType Type, long Offset, long Bytes)>((int)nTensors);
            var names = new HashSet<string>(StringComparer.Ordinal);
            for (ulong i = 0; i < nTensors; i++)
            {
                string name = ReadString($"name of tensor #{i}", strict: true);
                string t = $"tensor '{name}'";
                if (!names.Add(name)) throw f.Bad($"{t} appears twice");
                uint nd = Read<uint>($"dimension count of {t}");
                if (nd == 0 || nd > MaxDims) throw f.Bad($"{t} has {nd} dimensions (1 to {MaxDims} allowed)");
                var ne = new long[nd];
                for (int d = 0; d < nd; d++)
                {
                    ulong v = Read<ulong>($"dimension {d} of {t}");
                    if (v > int.MaxValue) throw f.Bad($"{t}: dimension {d} ({v}) is too large");
                    ne[d] = (long)v;
                }
                uint typeId = Read<uint>($"type of {t}");
                var dtype = GgmlTypes.ToDType(typeId)
                    ?? throw f.Bad($"{t} has tensor type {GgmlTypes.Name(typeId)}, which is not supported (supported: {GgmlTypes.Supported})");
                ulong offset = Read<ulong>($"offset of {t}");

                long count = 1;
                try { foreach (var d in ne) count = checked(count * d); }
                catch (OverflowException) { throw f.Bad($"{t}: element count of dimensions [{string.Join(",", ne)}] overflows"); }
                int be = dtype.BlockElements();
                if (ne[0] % be != 0) throw f.Bad($"{t}: row length {ne[0]} is not a multiple of the {dtype} block size {be}");
                if (ne[0] > 0 && count / ne[0] > int.MaxValue) throw f.Bad($"{t} has more than {int.MaxValue} rows");
                long bytes = count / be * dtype.BlockBytes();
                if (offset % (ulong)f.Alignment != 0) throw f.Bad($"{t}: offset {offset} is not a multiple of the alignment {f.Alignment}");
                if (offset > long.MaxValue / 2) throw f.Bad($"{t}: offset {offset} is out of range");
                var shape = new int[nd];
                for (int d = 0; d < nd; d++) shape[d] = (int)ne[nd - 1 - d];
                infos.Add((name, shape, dtype, (long)offset, bytes));
            }

            long dataOffset = (_pos + f.Alignment - 1) / f.Alignment * f.Alignment;
            if (infos.Count > 0 && dataOffset > f.FileLength) throw f.Bad($"the data section would start at {dataOffset}, past the end of the file ({f.FileLength})");
            f.DataOffset = dataOffset;
            long dataLength = Math.Max(0, f.FileLength - dataOffset);

            foreach (var ti in infos)
                if (ti.Offset > dataLength || ti.Bytes > dataLength - ti.Offset)
                    throw f.Bad($"tensor '{ti.Name}' [{ti.Offset}, {ti.Offset + ti.Bytes}) runs past the {dataLength}-byte data section (truncated?)");
            var sorted = infos.OrderBy(x => x.Offset).ThenBy(x => x.Bytes).ToList();
            for (int i = 1; i < sorted.Count; i++)
                if (sorted[i].Offset < sorted[i - 1].Offset + sorted[i - 1].Bytes)
                    throw f.Bad($"tensor '{sorted[i].Name}' overlaps tensor '{sorted[i - 1].Name}'");

            foreach (var ti in infos)
            {
                var w = new Weight(ti.Name, ti.Type, ti.Shape, f._base + dataOffset + ti.Offset);
                f._tensors.Add(w);
                f._byName.Add(ti.Name, w);
            }
        }

        private static int MinSize(GgufValueType t) => t switch
        {
            GgufValueType.UInt8 or GgufValueType.Int8 or GgufValueType.Bool => 1,
            GgufValueType.UInt16 or GgufValueType.Int16 => 2,
            GgufValueType.UInt32 or GgufValueType.Int32 or GgufValueType.Float32 => 4,
            GgufValueType.Array => 12,
            _ => 8, // u64/i64/f64, and a string's length prefix
        };

        private object ReadValue(GgufValueType type, string key, int depth)
        {
            string w = $"value of metadata '{key}'";
            switch (type)
            {
                case GgufValueType.UInt8: return Read<byte>(w);
                case GgufValueType.Int8: return Read<sbyte>(w);
                case GgufValueType.UInt16: return Read<ushort>(w);
                case GgufValueType.Int16: return Read<short>(w);
                case GgufValueType.UInt32: return Read<uint>(w);
                case GgufValueType.Int32: return Read<int>(w);
                case GgufValueType.Float32: return Read<float>(w);
                case GgufValueType.UInt64: return Read<ulong>(w);
                case GgufValueType.Int64: return Read<long>(w);
                case GgufValueType.Float64: return Read<double>(w);
                case GgufValueType.Bool:
                    byte b = Read<byte>(w);
                    if (b > 1) throw f.Bad($"metadata '{key}': bool value {b} is neither 0 nor 1");
                    return b == 1;
                case GgufValueType.String: return ReadString(w, strict: false);
                case GgufValueType.Array:
                    if (depth >= MaxArrayDepth) throw f.Bad($"metadata '{key}': arrays nested deeper than {MaxArrayDepth}");
                    var et = (GgufValueType)Read<uint>($"element type of metadata '{key}'");
                    if ((uint)et > (uint)GgufValueType.Float64) throw f.Bad($"metadata '{key}': unknown array element type {(uint)et}");
                    ulong n = Read<ulong>($"length of metadata array '{key}'");
                    if (n > (ulong)(f.FileLength - _pos) / (ulong)MinSize(et))
                        throw f.Bad($"metadata array '{key}' claims {n} elements but only {f.FileLength - _pos} bytes remain");
                    return new GgufArray(et, ReadArray(et, (int)n, key, depth));
                default:
                    throw f.Bad($"metadata '{key}' has unknown value type {(uint)type}");
            }
        }

        private Array ReadArray(GgufValueType et, int n, string key, int depth)
        {
            switch (et)
            {
                case GgufValueType.String:
                    var s = new string[n];
                    for (int i = 0; i < n; i++) s[i] = ReadString($"element {i} of metadata '{key}'", strict: false);
                    return s;
                case GgufValueType.Float32: return Block<float>(n, key);
                case GgufValueType.Int32: return Block<int>(n, key);
                case GgufValueType.UInt32: return Block<uint>(n, key);
                case GgufValueType.UInt8: return Block<byte>(n, key);
                case GgufValueType.Int8: return Block<sbyte>(n, key);
                case GgufValueType.UInt16: return Block<ushort>(n, key);
                case GgufValueType.Int16: return Block<short>(n, key);
                case GgufValueType.UInt64: return Block<ulong>(n, key);
                case GgufValueType.Int64: return Block<long>(n, key);
                case GgufValueType.Float64: return Block<double>(n, key);
                case GgufValueType.Bool:
                    var bs = Block<byte>(n, key);
                    var r = new bool[n];
                    for (int i = 0; i < n; i++)
                    {
                        if (bs[i] > 1) throw f.Bad($"metadata '{key}': bool element {i} is {bs[i]}");
                        r[i] = bs[i] == 1;
                    }
                    return r;
                default:
                    var o = new object[n];
                    for (int i = 0; i < n; i++) o[i] = ReadValue(et, key, depth + 1);
                    return o;
            }
        }

        private T[] Block<T>(int n, string key) where T : unmanaged
        {
            Need((long)n * sizeof(T), $"metadata array '{key}'");
            var a = new ReadOnlySpan<T>(f._base + _pos, n).ToArray();
            _pos += (long)n * sizeof(T);
            return a;
        }
    }
}
