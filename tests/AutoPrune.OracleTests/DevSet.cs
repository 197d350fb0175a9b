using System.Text.Json;

namespace AutoPrune.OracleTests;

/// <summary>One benchmark question: its id, the image file and the question text.</summary>
public sealed record DevQuestion(int Id, string Image, string Text);

/// <summary>The repository's shapes-vqa dev set (data/shapes-vqa/dev, 600 questions).</summary>
public static class DevSet
{
    public static string Dir { get; } = Path.Combine(ConvertedModels.RepoRoot, "data", "shapes-vqa", "dev");

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
}
