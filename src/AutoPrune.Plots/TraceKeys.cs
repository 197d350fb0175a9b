using AutoPrune.Accounting;

namespace AutoPrune.Plots;

/// <summary>
/// Name lookups in a trace's policy values and curves. Policies name keys freely ("k", "autoprune.k"); a name matches
/// a key exactly or as its last dotted segment (case-sensitive, so "fastv.K" is not AutoPrune's "k").
/// </summary>
public static class TraceKeys
{
    public static bool TryFind<T>(IReadOnlyDictionary<string, T> d, string name, out string key, out T value)
    {
        if (d.TryGetValue(name, out value!)) { key = name; return true; }
        foreach (var (k, v) in d)
            if (k.EndsWith("." + name, StringComparison.Ordinal)) { key = k; value = v; return true; }
        key = ""; value = default!;
        return false;
    }

    public static double? Value(PrefillTrace t, string name) => TryFind(t.Values, name, out _, out var v) ? v : null;

    /// <summary>"MI0=0.41, MI1=3.2, k=0.00" from whatever of mi0, mi1, k the policy recorded; "" when none.</summary>
    public static string Summary(PrefillTrace t)
    {
        var parts = new List<string>();
        foreach (var (name, shown) in new[] { ("mi0", "MI0"), ("mi1", "MI1"), ("k", "k") })
            if (Value(t, name) is double v) parts.Add($"{shown}={Fmt(v)}");
        return string.Join(", ", parts);
    }

    /// <summary>Curves with one value per decoder layer that count tokens (some value above 1): planned schedules.</summary>
    public static IEnumerable<(string Key, double[] Values)> TokenCurves(PrefillTrace t) =>
        t.Curves.Where(kv => kv.Value.Length == t.VisualTokensPerLayer.Length && kv.Value.Length > 1 && kv.Value.Any(v => v > 1.0 + 1e-9))
            .OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => (kv.Key, kv.Value));

    /// <summary>Curves whose values are fractions in [0, 1] (retention / keep schedules).</summary>
    public static IEnumerable<(string Key, double[] Values)> FractionCurves(PrefillTrace t) =>
        t.Curves.Where(kv => kv.Value.Length > 1 && kv.Value.All(v => v >= 0 && v <= 1.0 + 1e-9))
            .OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => (kv.Key, kv.Value));

    internal static string Fmt(double v) => v.ToString(Math.Abs(v) >= 100 ? "F0" : Math.Abs(v) >= 10 ? "F1" : "F2", System.Globalization.CultureInfo.InvariantCulture);
}
