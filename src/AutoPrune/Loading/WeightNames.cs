namespace AutoPrune.Loading;

/// <summary>
/// The single place where checkpoint key names are mapped to the names the engine uses: the classic
/// llava-hf layout (<c>language_model.model.*</c>, <c>language_model.lm_head.*</c>,
/// <c>vision_tower.vision_model.*</c>, <c>multi_modal_projector.*</c>, and NeXT's top-level <c>image_newline</c>).
/// </summary>
public static class WeightNames
{
    // Newer transformers (>= 4.52) save LlavaForConditionalGeneration with these prefixes.
    private static readonly (string From, string To)[] NewerToClassic =
    [
        ("model.language_model.", "language_model.model."),
        ("lm_head.", "language_model.lm_head."),
        ("model.vision_tower.", "vision_tower."),
        ("model.multi_modal_projector.", "multi_modal_projector."),
        ("model.image_newline", "image_newline"), // LLaVA-NeXT
    ];

    /// <summary>Non-persistent buffers some exporters still write; the engine recomputes them.</summary>
    public static bool IsStrayBuffer(string name) =>
        name.EndsWith("rotary_emb.inv_freq", StringComparison.Ordinal) ||
        name.EndsWith("position_ids", StringComparison.Ordinal);

    /// <summary>The classic name for a checkpoint key, or null when the key is a stray buffer to drop.</summary>
    public static string? Normalize(string name)
    {
        if (IsStrayBuffer(name)) return null;
        foreach (var (from, to) in NewerToClassic)
            if (name.StartsWith(from, StringComparison.Ordinal))
                return string.Concat(to, name.AsSpan(from.Length));
        return name;
    }
}
