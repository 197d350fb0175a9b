namespace AutoPrune.Tensors;

/// <summary>
/// Named weights of one model plus whatever keeps their memory alive (memory-mapped files or
/// native buffers). Disposing it invalidates every <see cref="Weight"/> it handed out.
/// </summary>
public sealed class ModelWeights : IDisposable
{
    private readonly Dictionary<string, Weight> _byName;
    private readonly List<IDisposable> _owners;

    /// <summary>Where the weights came from, for error messages ("model.safetensors", a folder, "random").</summary>
    public string Source { get; }

    public ModelWeights(string source, IEnumerable<Weight> weights, IEnumerable<IDisposable> owners)
    {
        Source = source;
        _byName = new Dictionary<string, Weight>(StringComparer.Ordinal);
        foreach (var w in weights) _byName[w.Name] = w;
        _owners = owners.ToList();
    }

    public IReadOnlyCollection<string> Names => _byName.Keys;
    public IEnumerable<Weight> All => _byName.Values;
    public bool Contains(string name) => _byName.ContainsKey(name);
    public bool TryGet(string name, out Weight w) => _byName.TryGetValue(name, out w!);

    public Weight Get(string name) =>
        _byName.TryGetValue(name, out var w) ? w : throw new MissingTensorException(name, Source);

    /// <summary>Gets a tensor and checks its shape against what the config implies.</summary>
    public Weight Get(string name, params int[] shape)
    {
        var w = Get(name);
        if (!w.Shape.AsSpan().SequenceEqual(shape))
            throw new ConfigMismatchException(
                $"tensor '{name}' has shape [{string.Join(",", w.Shape)}] but config.json implies [{string.Join(",", shape)}]");
        return w;
    }

    /// <summary>
    /// The first NaN or infinite value in any tensor (in name order), or null when every value is finite. Reads every
    /// weight once: for a 7B BF16 checkpoint that is 13.5 GB through the page cache, seconds rather than
    /// milliseconds, so it runs only on request. Quantized blocks are checked after decoding.
    /// </summary>
    public (string Tensor, long Index, float Value)? FindNonFinite()
    {
        var buf = new float[1 << 16];
        foreach (var name in _byName.Keys.Order(StringComparer.Ordinal))
        {
            var w = _byName[name];
            for (long start = 0; start < w.ElementCount; start += buf.Length)
            {
                var chunk = buf.AsSpan(0, (int)Math.Min(buf.Length, w.ElementCount - start));
                w.CopyTo(start, chunk);
                if (System.Numerics.Tensors.TensorPrimitives.IsFiniteAll<float>(chunk)) continue;
                for (int i = 0; i < chunk.Length; i++)
                    if (!float.IsFinite(chunk[i])) return (name, start + i, chunk[i]);
            }
        }
        return null;
    }

    /// <summary>Checks every memory-mapped file behind these weights (see <see cref="IMappedWeightsFile.CheckUnchanged"/>).</summary>
    public void CheckFilesUnchanged()
    {
        foreach (var o in _owners)
            if (o is IMappedWeightsFile f) f.CheckUnchanged();
    }

    public void Dispose()
    {
        foreach (var o in _owners) o.Dispose();
        _owners.Clear();
    }
}

/// <summary>A weights file mapped into memory, which can tell whether it changed on disk since it was opened.</summary>
public interface IMappedWeightsFile : IDisposable
{
    /// <summary>Throws a <see cref="ModelLoadException"/> when the file's size or modification time changed.</summary>
    void CheckUnchanged();
}
