namespace AutoPrune.Accounting;

/// <summary>
/// What one prefill processed and cost: per-layer token counts, FLOPs pruned vs unpruned, timings, and the
/// policy's own measurements (MI, slope, scale, ...). Filled by the engine and by the policy.
/// </summary>
public sealed class PrefillTrace
{
    public string Policy { get; set; } = "none";
    public double? Budget { get; set; }
    /// <summary>N0: visual tokens the prompt's images produced, all images together.</summary>
    public int VisualTokensIn { get; set; }
    /// <summary>Visual tokens that entered the decoder (after pre-decoder policies).</summary>
    public int VisualTokensIntoDecoder { get; set; }
    public int TextTokens { get; set; }
    /// <summary>Exact count of visual tokens each decoder layer processed.</summary>
    public int[] VisualTokensPerLayer { get; set; } = [];
    /// <summary>Per image of the prompt, the visual tokens of that image each decoder layer processed.</summary>
    public int[][] ImageVisualTokensPerLayer { get; set; } = [];
    /// <summary>Original visual-token ids each decoder layer processed (merged tokens have ids ≥ N0); the images'
    /// tokens are numbered consecutively in prompt order.</summary>
    public int[][] VisualIdsPerLayer { get; set; } = [];
    public double Flops { get; set; }
    public double FlopsUnpruned { get; set; }
    public double PrefillMs { get; set; }
    public double DecodeMs { get; set; }
    public double VisionMs { get; set; }
    /// <summary>Policy measurements, e.g. mi0, mi1, k, scale, preselected (labelled ones are shown in summaries).</summary>
    public TraceValues Values { get; } = new();
    /// <summary>Policy curves, e.g. the retention schedule it planned per layer, typed by what they hold.</summary>
    public TraceCurves Curves { get; } = new();
    public List<string> Notes { get; } = new();

    /// <summary>Mean over all decoder layers (layer 0 included) of the visual tokens processed (all images together).</summary>
    public double MeanVisualTokens
    {
        get
        {
            if (VisualTokensPerLayer.Length == 0) return 0;
            double s = 0;
            foreach (var v in VisualTokensPerLayer) s += v;
            return s / VisualTokensPerLayer.Length;
        }
    }

    /// <summary>FLOPs saved, 0-100.</summary>
    public double FlopsReduction => FlopsUnpruned > 0 ? 100.0 * (1 - Flops / FlopsUnpruned) : 0;
}

/// <summary>The trace as the JSON object the CLI and the evaluation files write (snake_case keys).</summary>
public static class TraceJson
{
    public static Dictionary<string, object?> ToObject(PrefillTrace t)
    {
        var o = new Dictionary<string, object?>
        {
            ["policy"] = t.Policy,
            ["budget"] = t.Budget,
            ["visual_tokens_in"] = t.VisualTokensIn,
            ["visual_tokens_into_decoder"] = t.VisualTokensIntoDecoder,
            ["text_tokens"] = t.TextTokens,
            ["visual_tokens_per_layer"] = t.VisualTokensPerLayer,
            ["image_visual_tokens_per_layer"] = t.ImageVisualTokensPerLayer,
            ["mean_visual_tokens"] = Math.Round(t.MeanVisualTokens, 4),
            ["flops"] = t.Flops,
            ["flops_unpruned"] = t.FlopsUnpruned,
            ["flops_reduction"] = Math.Round(t.FlopsReduction, 4),
            ["vision_ms"] = Math.Round(t.VisionMs, 3),
            ["prefill_ms"] = Math.Round(t.PrefillMs, 3),
            ["decode_ms"] = Math.Round(t.DecodeMs, 3),
        };
        foreach (var v in t.Values) o[v.Key] = v.Value;
        foreach (var c in t.Curves) o[c.Key] = c.Values;
        if (t.Notes.Count > 0) o["notes"] = t.Notes;
        return o;
    }
}
