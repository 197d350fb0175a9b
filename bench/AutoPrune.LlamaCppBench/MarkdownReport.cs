using System.Globalization;
using System.Text;

namespace AutoPrune.LlamaCppBench;

/// <summary>One agreement check between the two engines on the same file.</summary>
public sealed record Agreement(string Ours, string LlamaCpp, double TextCosine, bool SameTextArgMax, double? ImageCosine);

/// <summary>The side-by-side result as Markdown: conditions, agreement, one row per engine, ratios against llama.cpp.</summary>
public static class MarkdownReport
{
    /// <param name="partner">The llama.cpp engine each of our rows is compared with (same weights), or null.</param>
    /// <param name="best">llama.cpp's fastest configuration in the run (Q4_K_M), for the second table, or null.</param>
    public static string Build(IReadOnlyList<string> conditions, IReadOnlyList<Agreement> agreements, IReadOnlyList<EngineResult> results,
        Func<EngineResult, EngineResult?> partner, EngineResult? best, int decodeTokens, int answerTokens, IReadOnlyList<string> notes)
    {
        var sb = new StringBuilder();
        sb.AppendLine("## This engine vs llama.cpp, same weights, same threads, one process");
        sb.AppendLine();
        foreach (var c in conditions) sb.AppendLine($"- {c}");
        sb.AppendLine();
        sb.AppendLine("Agreement before timing (last-token logits, cosine; ids fed to both engines are identical):");
        sb.AppendLine();
        sb.AppendLine("| ours | llama.cpp | text prompt cosine | same greedy token | image prompt cosine |");
        sb.AppendLine("|---|---|---:|:---:|---:|");
        foreach (var a in agreements)
            sb.AppendLine($"| {a.Ours} | {a.LlamaCpp} | {a.TextCosine:F6} | {(a.SameTextArgMax ? "yes" : "no")} | {(a.ImageCosine is double c ? c.ToString("F6", CultureInfo.InvariantCulture) : "-")} |");
        sb.AppendLine();
        sb.AppendLine($"Median (best) of the repetitions. Ratio = our speed / llama.cpp's on the same weights (> 1: ours faster); " +
                      $"BF16 safetensors is compared with llama.cpp F16.");
        sb.AppendLine();
        sb.AppendLine($"| engine | vision ms | prefill tok/s | decode tok/s ({decodeTokens}) | image → {answerTokens} tokens, s | prefill ratio | decode ratio | end-to-end ratio |");
        sb.AppendLine("|---|---:|---:|---:|---:|---:|---:|---:|");
        bool anyWithoutVision = false;
        foreach (var r in results)
        {
            var p = r.Engine.IsLlamaCpp ? null : partner(r);
            string e2e = $"{r.EndToEndMs.Median / 1000:F2} ({r.EndToEndMs.Min / 1000:F2})";
            if (!r.EndToEndIncludesVision) { e2e += "*"; anyWithoutVision = true; }
            sb.AppendLine($"| {r.Engine.Label} | {Vision(r)} | {Rate(r.Engine.PrefillTokens, r.PrefillMs)} | {Rate(decodeTokens, r.DecodeMs)} | {e2e} | " +
                          $"{Ratio(p?.PrefillMs, r.PrefillMs, p, r)} | {Ratio(p?.DecodeMs, r.DecodeMs, null, null)} | {Ratio(p?.EndToEndMs, r.EndToEndMs, p, r, e2e: true)} |");
        }
        if (anyWithoutVision)
            sb.AppendLine().AppendLine("\\* without llama.cpp's vision tower (not run, see conditions): its end to end is at least this, " +
                                       "so an end-to-end ratio against it (≥) understates our lead.");
        if (best != null)
        {
            sb.AppendLine();
            sb.AppendLine($"Against llama.cpp's fastest here, {best.Engine.Label} (our speed / its speed):");
            sb.AppendLine();
            sb.AppendLine("| engine | prefill | decode | end to end |");
            sb.AppendLine("|---|---:|---:|---:|");
            foreach (var r in results.Where(r => !r.Engine.IsLlamaCpp))
                sb.AppendLine($"| {r.Engine.Label} | {Ratio(best.PrefillMs, r.PrefillMs, best, r)} | {Ratio(best.DecodeMs, r.DecodeMs, null, null)} | " +
                              $"{Ratio(best.EndToEndMs, r.EndToEndMs, best, r, e2e: true)} |");
        }
        if (notes.Count > 0)
        {
            sb.AppendLine();
            foreach (var n in notes) sb.AppendLine($"Note: {n}");
        }
        return sb.ToString();
    }

    private static string Vision(EngineResult r) =>
        r.VisionMs.Count == 0 ? "not run" : $"{r.VisionMs.Median:F0} ({r.VisionMs.Min:F0})";

    private static string Rate(int tokens, Samples ms) =>
        $"{tokens / (ms.Median / 1000):F2} ({tokens / (ms.Min / 1000):F2})";

    /// <summary>
    /// Their median time over ours (= our speed over theirs). A pruned run's prefill does less work for the same input,
    /// so its prefill ratio is in input tokens/s; an end-to-end ratio against a llama.cpp run without vision is a lower bound.
    /// </summary>
    private static string Ratio(Samples? theirs, Samples ours, EngineResult? them, EngineResult? us, bool e2e = false)
    {
        if (theirs == null || theirs.Count == 0 || ours.Count == 0) return "-";
        double x = theirs.Median / ours.Median;
        string bound = e2e && them is { EndToEndIncludesVision: false } && us is { EndToEndIncludesVision: true } ? "≥ " : "";
        return $"{bound}{x:F2}x";
    }
}
