using System.Text.Json;

namespace AutoPrune.Loading;

/// <summary>
/// Parsing of the JSON files the library reads (configs, tokenizer and preprocessor settings, safetensors headers,
/// benchmark lines). System.Text.Json accepts escaped lone surrogates such as "\ud800" and only fails, with an
/// untyped exception, when the string is read; every string and key is therefore checked right after parsing.
/// </summary>
internal static class JsonInput
{
    /// <summary>Parses <paramref name="bytes"/>; malformed JSON or a string without a text form becomes <paramref name="error"/>(what is wrong).</summary>
    public static JsonDocument Parse(ReadOnlyMemory<byte> bytes, Func<string, Exception> error)
    {
        JsonDocument doc;
        try { doc = JsonDocument.Parse(bytes); }
        catch (JsonException e) { throw error(e.Message); }
        if (FindInvalidString(doc.RootElement, "") is string where)
        {
            doc.Dispose();
            throw error($"{where} is not valid text (an escaped lone surrogate)");
        }
        return doc;
    }

    public static JsonDocument Parse(string text, Func<string, Exception> error) =>
        Parse(System.Text.Encoding.UTF8.GetBytes(text), error);

    /// <summary>Reads and parses a file; errors are <paramref name="error"/>("invalid JSON: ..." or "cannot read: ...").</summary>
    public static JsonDocument ReadFile(string path, Func<string, Exception> error)
    {
        byte[] bytes;
        try { bytes = File.ReadAllBytes(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw error($"cannot read: {e.Message}"); }
        return Parse(bytes, p => error("invalid JSON: " + p));
    }

    /// <summary>The JSON path of the first key or string value that has no UTF-16 form, or null.</summary>
    private static string? FindInvalidString(JsonElement e, string path)
    {
        switch (e.ValueKind)
        {
            case JsonValueKind.String:
                try { _ = e.GetString(); return null; }
                catch (InvalidOperationException) { return path.Length == 0 ? "the document" : $"the value of '{path}'"; }
            case JsonValueKind.Object:
                int k = 0;
                foreach (var p in e.EnumerateObject())
                {
                    string name;
                    try { name = p.Name; }
                    catch (InvalidOperationException) { return path.Length == 0 ? $"key #{k}" : $"key #{k} of '{path}'"; }
                    if (FindInvalidString(p.Value, path.Length == 0 ? name : $"{path}.{name}") is string bad) return bad;
                    k++;
                }
                return null;
            case JsonValueKind.Array:
                int i = 0;
                foreach (var x in e.EnumerateArray())
                    if (FindInvalidString(x, $"{path}[{i++}]") is string bad) return bad;
                return null;
            default:
                return null;
        }
    }
}
