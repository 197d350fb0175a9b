namespace AutoPrune.Models;

/// <summary>
/// Encoded images (vision tower + projector output) of one model, by image content (<see cref="ImageInput.Key"/>),
/// so that a follow-up question about an image already seen skips the vision tower. Least recently used entries go
/// first once the features held exceed the byte budget. Safe to share between threads.
/// </summary>
public sealed class ImageFeatureCache
{
    private readonly IVisionLanguageModel _model;
    private readonly long _maxBytes;
    private readonly LinkedList<(string key, ImageFeatures features, long bytes)> _lru = new();
    private readonly Dictionary<string, LinkedListNode<(string key, ImageFeatures features, long bytes)>> _byKey = new();
    private readonly Lock _lock = new();
    private long _bytes;

    /// <param name="maxBytes">Features kept at most (default 512 MB: about 40 images of a 7B LLaVA-1.5).</param>
    public ImageFeatureCache(IVisionLanguageModel model, long maxBytes = 512L << 20)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxBytes);
        _model = model;
        _maxBytes = maxBytes;
    }

    public int Hits { get; private set; }
    public int Misses { get; private set; }
    public int Count { get { lock (_lock) return _byKey.Count; } }

    /// <summary>The image's features from the cache, or encoded now (and kept).</summary>
    public ImageFeatures GetOrEncode(IVisionLanguageModel model, ImageInput image)
    {
        if (!ReferenceEquals(model, _model)) throw new ArgumentException("this cache holds features of another model", nameof(model));
        var key = image.Key;
        lock (_lock)
        {
            if (_byKey.TryGetValue(key, out var node))
            {
                _lru.Remove(node);
                _lru.AddFirst(node);
                Hits++;
                return node.Value.features;
            }
            Misses++;
        }
        // Encoded outside the lock: two requests with the same new image may both encode it; the second insert wins.
        var f = model.EncodeImage(image.Decode());
        long bytes = 4L * (f.Features.Length + f.ClsAttention.Length + f.VisionKeys.Length);
        lock (_lock)
        {
            if (_byKey.Remove(key, out var old)) { _lru.Remove(old); _bytes -= old.Value.bytes; }
            _byKey[key] = _lru.AddFirst((key, f, bytes));
            _bytes += bytes;
            while (_bytes > _maxBytes && _lru.Count > 1)
            {
                var last = _lru.Last!;
                _lru.RemoveLast();
                _byKey.Remove(last.Value.key);
                _bytes -= last.Value.bytes;
            }
        }
        return f;
    }
}
