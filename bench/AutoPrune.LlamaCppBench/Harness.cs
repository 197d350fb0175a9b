namespace AutoPrune.LlamaCppBench;

/// <summary>Repeated timings of one quantity: the best (min) and the median.</summary>
public sealed class Samples
{
    private readonly List<double> _values = [];
    public void Add(double v) => _values.Add(v);
    public int Count => _values.Count;
    public double Min => _values.Count == 0 ? double.NaN : _values.Min();

    public double Median
    {
        get
        {
            if (_values.Count == 0) return double.NaN;
            var s = _values.Order().ToArray();
            return s.Length % 2 == 1 ? s[s.Length / 2] : (s[s.Length / 2 - 1] + s[s.Length / 2]) / 2;
        }
    }
}

/// <summary>Everything measured for one engine.</summary>
public sealed class EngineResult(IBenchEngine engine)
{
    public IBenchEngine Engine => engine;
    public Samples VisionMs { get; } = new();
    public Samples PrefillMs { get; } = new();
    public Samples DecodeMs { get; } = new();
    public Samples EndToEndMs { get; } = new();
    public bool EndToEndIncludesVision { get; set; } = true;
    /// <summary>Last-token logits of the first image prefill (the agreement check compares engines on them).</summary>
    public float[]? PrefillLogits { get; set; }
}

/// <summary>
/// Runs every engine's measurements rep by rep, engines in turn (A rep 1, B rep 1, ..., A rep 2, ...), so a change in
/// machine load hits all engines alike. One rep of an engine: vision tower, prefill + decode, then end to end.
/// </summary>
public static class Harness
{
    public static List<EngineResult> Run(IReadOnlyList<IBenchEngine> engines, int reps, int decodeTokens, int answerTokens, Action<string> log)
    {
        var results = engines.Select(e => new EngineResult(e)).ToList();
        for (int r = 0; r < reps; r++)
            foreach (var res in results)
            {
                var e = res.Engine;
                if (e.Vision() is double v) res.VisionMs.Add(v);
                var (prefill, decode, logits) = e.PrefillAndDecode(decodeTokens);
                res.PrefillMs.Add(prefill);
                res.DecodeMs.Add(decode);
                res.PrefillLogits ??= logits;
                var (e2e, withVision) = e.EndToEnd(answerTokens);
                res.EndToEndMs.Add(e2e);
                res.EndToEndIncludesVision = withVision;
                log($"rep {r + 1}/{reps} {e.Label}: prefill {prefill / 1000:F2} s ({e.PrefillTokens / (prefill / 1000):F1} tok/s), " +
                    $"decode {decodeTokens / (decode / 1000):F2} tok/s, end to end {e2e / 1000:F2} s" +
                    (res.VisionMs.Count > 0 ? $", vision {res.VisionMs.Median:F0} ms" : ""));
            }
        return results;
    }

    public static double Cosine(float[] a, float[] b)
    {
        if (a.Length != b.Length) throw new ArgumentException($"logits of {a.Length} and {b.Length} values");
        double ab = 0, aa = 0, bb = 0;
        for (int i = 0; i < a.Length; i++) { ab += (double)a[i] * b[i]; aa += (double)a[i] * a[i]; bb += (double)b[i] * b[i]; }
        return ab / Math.Sqrt(aa * bb);
    }
}
