using System.Text.Json;

namespace AutoPrune.Loading;

/// <summary>Reads a model folder's JSON file (config, preprocessor config), reporting every failure as a <see cref="ModelLoadException"/>.</summary>
internal static class JsonFile
{
    public static JsonDocument Read(string path, string what)
    {
        if (!File.Exists(path)) throw new ModelLoadException($"{what} not found: {path}");
        try { return JsonDocument.Parse(File.ReadAllBytes(path)); }
        catch (JsonException e) { throw new ModelLoadException($"{path}: invalid JSON: {e.Message}", e); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new ModelLoadException($"{path}: cannot read: {e.Message}", e); }
    }
}
