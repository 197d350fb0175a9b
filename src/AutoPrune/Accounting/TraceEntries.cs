using System.Collections;

namespace AutoPrune.Accounting;

/// <summary>One scalar a policy measured; <paramref name="Label"/>, when set, is how summaries and plot legends show it.</summary>
public readonly record struct TraceValue(string Key, double Value, string? Label);

/// <summary>What the values of a <see cref="TraceCurve"/> are, so readers pick curves by meaning, never by name.</summary>
public enum CurveKind
{
    /// <summary>Visual tokens each decoder layer was planned to process, one value per layer.</summary>
    PlannedVisualTokens,
    /// <summary>Share of visual tokens kept, in [0, 1]: one value per layer, or per pruning boundary 1..L−1.</summary>
    KeepFraction,
    /// <summary>Any other list (stage layers, stage counts).</summary>
    Other,
}

/// <summary>A list a policy recorded (a planned schedule, stage layers, ...), typed by <see cref="CurveKind"/>.</summary>
public sealed record TraceCurve(string Key, double[] Values, CurveKind Kind);

/// <summary>A policy's scalars, in the order it recorded them; keys are unique (setting one again replaces it).</summary>
public sealed class TraceValues : IEnumerable<TraceValue>
{
    private readonly List<TraceValue> _items = [];
    private readonly Dictionary<string, int> _index = [];

    /// <summary>The value of <paramref name="key"/>; setting it records an unlabeled value (a label already given stays).</summary>
    public double this[string key]
    {
        get => _index.TryGetValue(key, out var i) ? _items[i].Value : throw new KeyNotFoundException($"no trace value '{key}'");
        set => Set(key, value, _index.TryGetValue(key, out var i) ? _items[i].Label : null);
    }

    public void Set(string key, double value, string? label = null)
    {
        var item = new TraceValue(key, value, label);
        if (_index.TryGetValue(key, out var i)) _items[i] = item;
        else { _index[key] = _items.Count; _items.Add(item); }
    }

    public bool TryGetValue(string key, out double value)
    {
        bool found = _index.TryGetValue(key, out var i);
        value = found ? _items[i].Value : 0;
        return found;
    }

    public bool ContainsKey(string key) => _index.ContainsKey(key);
    public int Count => _items.Count;
    /// <summary>The labelled values: what a one-line summary of the run shows.</summary>
    public IEnumerable<TraceValue> Labelled => _items.Where(v => v.Label != null);
    public IEnumerator<TraceValue> GetEnumerator() => _items.GetEnumerator();
    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}

/// <summary>A policy's curves, in the order it recorded them; keys are unique (setting one again replaces it).</summary>
public sealed class TraceCurves : IEnumerable<TraceCurve>
{
    private readonly List<TraceCurve> _items = [];
    private readonly Dictionary<string, int> _index = [];

    public double[] this[string key] =>
        _index.TryGetValue(key, out var i) ? _items[i].Values : throw new KeyNotFoundException($"no trace curve '{key}'");

    public void Set(string key, double[] values, CurveKind kind)
    {
        var item = new TraceCurve(key, values, kind);
        if (_index.TryGetValue(key, out var i)) _items[i] = item;
        else { _index[key] = _items.Count; _items.Add(item); }
    }

    public bool ContainsKey(string key) => _index.ContainsKey(key);
    public int Count => _items.Count;
    public IEnumerable<TraceCurve> OfKind(CurveKind kind) => _items.Where(c => c.Kind == kind);
    public IEnumerator<TraceCurve> GetEnumerator() => _items.GetEnumerator();
    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}
