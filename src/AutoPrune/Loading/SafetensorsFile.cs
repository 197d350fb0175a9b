using System.Text.Json;
using System.Text.Unicode;
using AutoPrune.Tensors;

namespace AutoPrune.Loading;

/// <summary>
/// One memory-mapped .safetensors file. The header is validated completely up front; every
/// <see cref="Weight"/> points straight into the read-only mapping, so tensor bytes are never
/// copied and stay valid until <see cref="Dispose"/>.
/// </summary>
public sealed unsafe class SafetensorsFile : IMappedWeightsFile
{
    /// <summary>Same cap as the reference implementation: a larger header is a corrupt length field, not a model.</summary>
    public const long MaxHeaderLength = 100_000_000;

    private readonly MappedFile _file;
    private readonly byte* _base;
    private readonly List<Weight> _tensors;
    private readonly Dictionary<string, Weight> _byName;

    public string Path => _file.Path;

    /// <summary>The optional "__metadata__" string map (empty when absent).</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>Tensors in header order.</summary>
    public IReadOnlyList<Weight> Tensors => _tensors;

    public IReadOnlyCollection<string> Names => _byName.Keys;

    /// <summary>File offset of the first data byte (8 + header length).</summary>
    public long DataOffset { get; }

    public long FileLength => _file.Length;

    private SafetensorsFile(MappedFile file)
    {
        _file = file; _base = file.Base;
        _tensors = new List<Weight>();
        _byName = new Dictionary<string, Weight>(StringComparer.Ordinal);
        var meta = new Dictionary<string, string>(StringComparer.Ordinal);
        Metadata = meta;
        DataOffset = ParseHeader(meta);
    }

    public static SafetensorsFile Open(string path)
    {
        var file = MappedFile.Open(path, "safetensors");
        try
        {
            if (file.Length == 0) throw new SafetensorsFormatException(path, "the file is empty (0 bytes)");
            if (file.Length < 8) throw new SafetensorsFormatException(path, $"the file is {file.Length} bytes, shorter than the 8-byte header length");
            return new SafetensorsFile(file);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <inheritdoc cref="MappedFile.CheckUnchanged"/>
    public void CheckUnchanged() => _file.CheckUnchanged();

    public bool Contains(string name) => _byName.ContainsKey(name);

    public bool TryGet(string name, out Weight w) => _byName.TryGetValue(name, out w!);

    public Weight Get(string name) =>
        _byName.TryGetValue(name, out var w) ? w : throw new MissingTensorException(name, Path);

    public void Dispose() => _file.Dispose();

    private SafetensorsFormatException Bad(string problem) => new(Path, problem);

    /// <summary>Validates the header and creates the weights; returns the data section's file offset.</summary>
    private long ParseHeader(Dictionary<string, string> meta)
    {
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("big-endian hosts are not supported");
        ulong n = *(ulong*)_base; // safetensors is little-endian; so is every platform .NET 10 runs on
        if (n > MaxHeaderLength) throw Bad($"header length {n} exceeds the {MaxHeaderLength:N0}-byte limit");
        if (8 + (long)n > FileLength) throw Bad($"header length {n} runs past the end of the {FileLength}-byte file");

        long dataOffset = 8 + (long)n;
        long dataLength = FileLength - dataOffset;
        var headerBytes = new ReadOnlySpan<byte>(_base + 8, (int)n);
        // System.Text.Json does not reject every malformed UTF-8 sequence (e.g. inside strings), so check first.
        if (!Utf8.IsValid(headerBytes)) throw Bad("header is not valid UTF-8");

        var doc = JsonInput.Parse(headerBytes.ToArray(), p => Bad($"header is not valid JSON: {p}"));

        var ranges = new List<(long Begin, long End, string Name)>();
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw Bad($"header must be a JSON object, got {root.ValueKind}");

            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var prop in root.EnumerateObject())
            {
                // JsonDocument keeps duplicate keys; a second entry would silently alias the first.
                if (!seen.Add(prop.Name)) throw Bad($"tensor '{prop.Name}' appears twice in the header");
                if (prop.Name == "__metadata__")
                {
                    ParseMetadata(prop.Value, meta);
                    continue;
                }
                var (w, begin, end) = ParseEntry(prop.Name, prop.Value, dataOffset, dataLength);
                _tensors.Add(w);
                _byName.Add(w.Name, w);
                ranges.Add((begin, end, w.Name));
            }
        }

        CheckCoverage(ranges, dataLength);
        return dataOffset;
    }

    private void ParseMetadata(JsonElement e, Dictionary<string, string> meta)
    {
        if (e.ValueKind != JsonValueKind.Object) throw Bad($"__metadata__ must be an object of strings, got {e.ValueKind}");
        foreach (var kv in e.EnumerateObject())
        {
            if (kv.Value.ValueKind != JsonValueKind.String)
                throw Bad($"__metadata__ entry '{kv.Name}' must be a string, got {kv.Value.GetRawText()}");
            meta[kv.Name] = kv.Value.GetString()!;
        }
    }

    private (Weight, long, long) ParseEntry(string name, JsonElement e, long dataOffset, long dataLength)
    {
        string t = $"tensor '{name}'";
        if (e.ValueKind != JsonValueKind.Object) throw Bad($"{t}: entry must be an object, got {e.ValueKind}");
        if (!e.TryGetProperty("dtype", out var dtE)) throw Bad($"{t}: missing 'dtype'");
        if (!e.TryGetProperty("shape", out var shE)) throw Bad($"{t}: missing 'shape'");
        if (!e.TryGetProperty("data_offsets", out var offE)) throw Bad($"{t}: missing 'data_offsets'");

        if (dtE.ValueKind != JsonValueKind.String) throw Bad($"{t}: 'dtype' must be a string, got {dtE.GetRawText()}");
        var dtName = dtE.GetString()!;
        var dtype = DTypes.Parse(dtName) ?? throw Bad($"{t}: unsupported dtype '{dtName}' (supported: F32, F16, BF16)");

        if (shE.ValueKind != JsonValueKind.Array) throw Bad($"{t}: 'shape' must be an array, got {shE.GetRawText()}");
        var shape = new int[shE.GetArrayLength()];
        long count = 1;
        int i = 0;
        foreach (var d in shE.EnumerateArray())
        {
            if (d.ValueKind != JsonValueKind.Number || !d.TryGetInt64(out long dim))
                throw Bad($"{t}: shape dimension {i} must be an integer, got {d.GetRawText()}");
            if (dim < 0) throw Bad($"{t}: shape dimension {i} is negative ({dim})");
            if (dim > int.MaxValue) throw Bad($"{t}: shape dimension {i} ({dim}) is too large");
            shape[i++] = (int)dim;
            // Overflow here would let a bogus shape pass the byte-length check below.
            try { count = checked(count * dim); }
            catch (OverflowException) { throw Bad($"{t}: element count of shape {shE.GetRawText()} overflows"); }
        }
        long bytes;
        try { bytes = checked(count * dtype.Size()); }
        catch (OverflowException) { throw Bad($"{t}: byte size of shape {shE.GetRawText()} overflows"); }

        if (offE.ValueKind != JsonValueKind.Array || offE.GetArrayLength() != 2)
            throw Bad($"{t}: 'data_offsets' must be [begin, end], got {offE.GetRawText()}");
        if (!offE[0].TryGetNonNegative(out long begin) || !offE[1].TryGetNonNegative(out long end))
            throw Bad($"{t}: 'data_offsets' must be two non-negative integers, got {offE.GetRawText()}");
        if (begin > end) throw Bad($"{t}: data_offsets begin {begin} is after end {end}");
        if (end > dataLength) throw Bad($"{t}: data_offsets end {end} is beyond the {dataLength}-byte data section");
        if (end - begin != bytes)
            throw Bad($"{t}: data_offsets span {end - begin} bytes but {dtName} shape [{string.Join(",", shape)}] needs {bytes}");

        return (new Weight(name, dtype, shape, _base + dataOffset + begin), begin, end);
    }

    /// <summary>Ranges must tile the data section exactly: no overlap (aliasing), no gaps, no trailing bytes.</summary>
    private void CheckCoverage(List<(long Begin, long End, string Name)> ranges, long dataLength)
    {
        ranges.Sort((a, b) => a.Begin != b.Begin ? a.Begin.CompareTo(b.Begin) : a.End.CompareTo(b.End));
        long cursor = 0;
        string? prev = null;
        foreach (var r in ranges)
        {
            if (r.Begin < cursor)
                throw Bad($"tensor '{r.Name}' [{r.Begin},{r.End}) overlaps tensor '{prev}' which ends at {cursor}");
            if (r.Begin > cursor)
                throw Bad($"gap in the data section: bytes [{cursor},{r.Begin}) before tensor '{r.Name}' belong to no tensor");
            cursor = r.End;
            prev = r.Name;
        }
        if (cursor != dataLength)
            throw Bad($"data section has {dataLength - cursor} trailing bytes after the last tensor (covered {cursor} of {dataLength})");
    }
}

internal static class JsonElementExtensions
{
    public static bool TryGetNonNegative(this JsonElement e, out long v)
    {
        v = 0;
        return e.ValueKind == JsonValueKind.Number && e.TryGetInt64(out v) && v >= 0;
    }
}
