using System.Text.Json.Nodes;

namespace AutoPrune.Tests.Support;

/// <summary>
/// A temporary copy of the embedded model's folder with edited JSON files. The weights are symbolic links to
/// the originals (read-only memory maps), so a copy costs a few kilobytes, not 46 MB.
/// </summary>
public static class TinyModelCopy
{
    public static string Create(IReadOnlyDictionary<string, Action<JsonObject>>? edits = null, bool linkWeights = true)
    {
        var dir = TestPaths.TempDir();
        foreach (var f in Directory.EnumerateFiles(TestPaths.TinyModel))
        {
            var dest = Path.Combine(dir, Path.GetFileName(f));
            if (f.EndsWith(".safetensors", StringComparison.Ordinal))
            {
                if (linkWeights) File.CreateSymbolicLink(dest, f);
            }
            else File.Copy(f, dest);
        }
        foreach (var (file, edit) in edits ?? new Dictionary<string, Action<JsonObject>>())
        {
            var p = Path.Combine(dir, file);
            var o = File.Exists(p) ? JsonNode.Parse(File.ReadAllText(p))!.AsObject() : new JsonObject();
            edit(o);
            File.WriteAllText(p, o.ToJsonString());
        }
        return dir;
    }

    /// <summary>
    /// A copy whose BF16 weights (model.bf16.safetensors, copied, not linked) hold <paramref name="bits"/> as the first
    /// element of <paramref name="tensor"/>; the F32 file is left out so the folder has one weights file.
    /// </summary>
    public static string WithPoisonedBf16(string tensor, ushort bits)
    {
        var dir = Create(linkWeights: false);
        var bytes = File.ReadAllBytes(Path.Combine(TestPaths.TinyModel, "model.bf16.safetensors"));
        long n = BitConverter.ToInt64(bytes, 0);
        var header = JsonNode.Parse(bytes.AsSpan(8, (int)n))!.AsObject();
        long begin = header[tensor]!["data_offsets"]![0]!.GetValue<long>();
        BitConverter.TryWriteBytes(bytes.AsSpan((int)(8 + n + begin), 2), bits);
        File.WriteAllBytes(Path.Combine(dir, "model.bf16.safetensors"), bytes);
        return dir;
    }

    public static string WithFile(string file, Action<JsonObject> edit) =>
        Create(new Dictionary<string, Action<JsonObject>> { [file] = edit });

    public static string WithRawFile(string file, string text)
    {
        var dir = Create();
        File.WriteAllText(Path.Combine(dir, file), text);
        return dir;
    }
}
