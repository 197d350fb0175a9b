using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace AutoPrune.Evaluation;

internal static class EvalJson
{
    /// <summary>snake_case, indented, nulls omitted; dictionary keys (category names) are kept as they are.</summary>
    public static readonly JsonSerializerOptions Options = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        WriteIndented = true,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    public static readonly JsonWriterOptions LineWriter = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping, Indented = false };

    public static T Read<T>(string path, string what)
    {
        if (!File.Exists(path))
            throw new BenchmarkFormatException(path, null, $"{what} not found");
        try
        {
            return JsonSerializer.Deserialize<T>(File.ReadAllText(path), Options)
                ?? throw new BenchmarkFormatException(path, null, $"{what} is null");
        }
        catch (JsonException e)
        {
            throw new BenchmarkFormatException(path, e.LineNumber is long l ? (int)l + 1 : null, $"malformed {what}: {e.Message}", e);
        }
    }

    /// <summary>One JSON-lines line that must be an object; errors name the file and line.</summary>
    public static JsonElement ParseObjectLine(string text, string path, int line)
    {
        JsonElement root;
        using (var doc = Loading.JsonInput.Parse(text, p => new BenchmarkFormatException(path, line, "malformed JSON: " + p)))
            root = doc.RootElement.Clone();
        if (root.ValueKind != JsonValueKind.Object)
            throw new BenchmarkFormatException(path, line, $"expected a JSON object, got {root.ValueKind}");
        return root;
    }

    /// <summary>Write to a temporary file then rename, so a crash never leaves a half-written summary or meta file.</summary>
    public static void WriteAtomic(string path, string text)
    {
        var tmp = path + ".tmp";
        File.WriteAllText(tmp, text);
        File.Move(tmp, path, overwrite: true);
    }
}
