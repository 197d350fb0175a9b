using System.Globalization;
using AutoPrune.Accounting;

namespace AutoPrune.Cli;

/// <summary>Compact text rendering of a prefill trace (`ask --trace`).</summary>
public static class TraceTable
{
    public static void Print(PrefillTrace t, TextWriter o)
    {
        var inv = CultureInfo.InvariantCulture;
        o.WriteLine($"policy {t.Policy}" + (t.Budget is { } b ? $" budget {b.ToString(inv)}" : "") +
                    $" | visual tokens in {t.VisualTokensIn}, into decoder {t.VisualTokensIntoDecoder}, text {t.TextTokens}");
        o.WriteLine("layer  " + string.Join(" ", Enumerable.Range(0, t.VisualTokensPerLayer.Length).Select(i => i.ToString(inv).PadLeft(4))));
        o.WriteLine("visual " + string.Join(" ", t.VisualTokensPerLayer.Select(v => v.ToString(inv).PadLeft(4))));
        o.WriteLine($"mean visual tokens/layer {t.MeanVisualTokens.ToString("F2", inv)} | FLOPs {t.Flops / 1e9:F3} G of {t.FlopsUnpruned / 1e9:F3} G " +
                    $"(-{t.FlopsReduction.ToString("F1", inv)}%) | vision {t.VisionMs:F1} ms, prefill {t.PrefillMs:F1} ms, decode {t.DecodeMs:F1} ms");
        if (t.Values.Count > 0)
            o.WriteLine(string.Join(" | ", t.Values.Select(kv => $"{kv.Key} {kv.Value.ToString("G5", inv)}")));
        foreach (var n in t.Notes) o.WriteLine("note: " + n);
    }
}
