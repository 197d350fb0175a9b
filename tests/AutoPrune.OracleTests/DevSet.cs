using System.Text.Json;

namespace AutoPrune.OracleTests;

/// <summary>One benchmark question: its id, the image file and the question text.</summary>
public sealed record DevQuestion(int Id, string Image, string Text);

/// <summary>
/// The shapes-vqa dev set (600 questions) when the shared data folder is beside the repository, else the
/// repository's own five-question fixture (the first five dev questions), so the tests run either way.
/// <c>AUTOPRUNE_ORACLE_DATA</c> names another folder in the same layout (questions.jsonl, images/).
/// </summary>
public static class DevSet
{
    public static string Dir { get; } = Find();

    public static List<DevQuestion> Load(int max = int.MaxValue)
    {
        var list = new List<DevQuestion>();
        foreach (var line in File.ReadLines(Path.Combine(Dir, "questions.jsonl")))
        {
            if (list.Count == max) break;
            if (string.IsNullOrWhiteSpace(line)) continue;
            using var doc = JsonDocument.Parse(line);
            var r = doc.RootElement;
            list.Add(new DevQuestion(r.GetProperty("question_id").GetInt32(),
                Path.Combine(Dir, "images", r.GetProperty("image").GetString()!), r.GetProperty("text").GetString()!));
        }
        return list;
    }

    private static string Find()
    {
        if (Environment.GetEnvironmentVariable("AUTOPRUNE_ORACLE_DATA") is { Length: > 0 } env)
            return Directory.Exists(env) ? env : throw new DirectoryNotFoundException($"AUTOPRUNE_ORACLE_DATA: no folder {env}");
        var dev = Path.GetFullPath(Path.Combine(ConvertedModels.RepoRoot, "..", "shared", "data", "shapes-vqa", "dev"));
        return Directory.Exists(dev) ? dev : Path.Combine(ConvertedModels.RepoRoot, "tests", "AutoPrune.Tests", "Fixtures", "shapes-mini");
    }
}
