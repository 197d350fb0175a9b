using System.Text.Json;

namespace AutoPrune.Loading;

/// <summary>The parts of a model folder's generation_config.json the engine uses.</summary>
public static class GenerationConfig
{
    public const string FileName = "generation_config.json";

    /// <summary>max_new_tokens when the file or the field is absent (or null, which transformers treats as unset).</summary>
    public const int DefaultMaxNewTokens = 32;

    /// <summary>
    /// max_new_tokens of <paramref name="dir"/>/generation_config.json: an integer from 1 to the model's
    /// max_position_embeddings; anything else (a string, a list, 0) is an error naming the file and the value.
    /// </summary>
    public static int ReadMaxNewTokens(string dir, LlavaConfig config)
    {
        var path = Path.Combine(dir, FileName);
        if (!File.Exists(path)) return DefaultMaxNewTokens;
        using var doc = JsonInput.ReadFile(path, p => new ModelLoadException($"{path}: {p}"));
        var root = doc.RootElement;
        if (root.ValueKind != JsonValueKind.Object) throw new ModelLoadException($"{path}: expected a JSON object");
        if (!root.TryGetProperty("max_new_tokens", out var e) || e.ValueKind == JsonValueKind.Null) return DefaultMaxNewTokens;
        int max = config.Text.MaxPositionEmbeddings;
        if (e.ValueKind != JsonValueKind.Number || !e.TryGetInt32(out var v) || v < 1 || v > max)
            throw new ModelLoadException($"{path}: 'max_new_tokens' should be an integer from 1 to {max} (max_position_embeddings), got {e.GetRawText()}");
        return v;
    }
}
