using System.Text.Json;

namespace AutoPrune.Evaluation;

/// <summary>
/// A benchmark in the LLaVA eval layout: questions .jsonl, optional answers .jsonl, image folder.
/// Every defect is reported with file and line; nothing is skipped silently, because a dropped
/// question would change accuracy without anyone noticing.
/// </summary>
public sealed class BenchmarkSet
{
    public string Name { get; }
    public string QuestionsPath { get; }
    public string? AnswersPath { get; }
    public string ImagesDir { get; }

    /// <summary>Questions in file order.</summary>
    public IReadOnlyList<EvalQuestion> Questions { get; }

    /// <summary>Reference answers by question id (one or several human answers), null without an answers file.</summary>
    public IReadOnlyDictionary<string, IReadOnlyList<string>>? Answers { get; }

    /// <summary>Line of each answer in the answers file, for error messages raised later (e.g. by a scorer).</summary>
    internal IReadOnlyDictionary<string, int> AnswerLines { get; init; } = new Dictionary<string, int>();

    private BenchmarkSet(string name, string questionsPath, string? answersPath, string imagesDir,
        IReadOnlyList<EvalQuestion> questions, IReadOnlyDictionary<string, IReadOnlyList<string>>? answers)
    {
        Name = name;
        QuestionsPath = questionsPath;
        AnswersPath = answersPath;
        ImagesDir = imagesDir;
        Questions = questions;
        Answers = answers;
    }

    /// <summary>Benchmark name from the path: "shapes-vqa/dev" for .../shapes-vqa/dev/questions.jsonl, else the file stem.</summary>
    public static string NameFromPath(string questionsPath)
    {
        var full = Path.GetFullPath(questionsPath);
        var stem = Path.GetFileNameWithoutExtension(full);
        if (!stem.Equals("questions", StringComparison.OrdinalIgnoreCase))
            return stem;
        var dir = Path.GetDirectoryName(full);
        var d1 = dir is null ? null : Path.GetFileName(dir);
        var parent = dir is null ? null : Path.GetDirectoryName(dir);
        var d2 = parent is null ? null : Path.GetFileName(parent);
        if (string.IsNullOrEmpty(d1)) return stem;
        return string.IsNullOrEmpty(d2) ? d1 : $"{d2}/{d1}";
    }

    public static BenchmarkSet Load(string questionsJsonl, string? answersJsonl, string imagesDir, string? name = null)
    {
        var qPath = Path.GetFullPath(questionsJsonl);
        var imgDir = Path.GetFullPath(imagesDir);
        if (!Directory.Exists(imgDir))
            throw new BenchmarkFormatException(imgDir, null, "image folder not found");

        var questions = new List<EvalQuestion>();
        var lineOf = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var (line, root) in ReadJsonLines(qPath))
        {
            var id = ReadId(root, qPath, line, out var idIsNumber);
            var image = ReadString(root, "image", qPath, line, required: true)!;
            var text = ReadString(root, "text", qPath, line, required: true)!;
            var category = ReadString(root, "category", qPath, line, required: false);
            if (lineOf.TryGetValue(id, out var first))
                throw new BenchmarkFormatException(qPath, line, $"duplicate question_id {id} (first on line {first})");
            if (image.AsSpan().IndexOfAny(Path.GetInvalidPathChars()) >= 0)
                throw new BenchmarkFormatException(qPath, line, $"'image' of question {id} is not a usable file name: {JsonSerializer.Serialize(image)}");
            var imagePath = Path.GetFullPath(Path.Combine(imgDir, image));
            if (!File.Exists(imagePath))
                throw new BenchmarkFormatException(qPath, line, $"image '{image}' of question {id} not found at {imagePath}");
            lineOf[id] = line;
            questions.Add(new EvalQuestion(id, imagePath, text, category, questions.Count) { Image = image, IdIsNumber = idIsNumber });
        }
        if (questions.Count == 0)
            throw new BenchmarkFormatException(qPath, null, "no questions");

        Dictionary<string, IReadOnlyList<string>>? answers = null;
        string? aPath = null;
        var answerLines = new Dictionary<string, int>(StringComparer.Ordinal);
        if (answersJsonl is not null)
        {
            aPath = Path.GetFullPath(answersJsonl);
            answers = new Dictionary<string, IReadOnlyList<string>>(StringComparer.Ordinal);
            var byId = questions.ToDictionary(q => q.QuestionId, StringComparer.Ordinal);
            foreach (var (line, root) in ReadJsonLines(aPath))
            {
                var id = ReadId(root, aPath, line);
                if (!byId.TryGetValue(id, out var q))
                    throw new BenchmarkFormatException(aPath, line, $"answer for unknown question_id {id}");
                if (answerLines.TryGetValue(id, out var first))
                    throw new BenchmarkFormatException(aPath, line, $"duplicate answer for question_id {id} (first on line {first})");
                answerLines[id] = line;
                answers[id] = ReadAnswer(root, aPath, line);
                var category = ReadString(root, "category", aPath, line, required: false);
                if (category is not null)
                {
                    if (q.Category is null)
                        questions[q.Index] = q with { Category = category };
                    else if (q.Category != category)
                        throw new BenchmarkFormatException(aPath, line,
                            $"category '{category}' of question_id {id} differs from '{q.Category}' in {qPath}:{lineOf[id]}");
                }
            }
            foreach (var q in questions)
                if (!answers.ContainsKey(q.QuestionId))
                    throw new BenchmarkFormatException(qPath, lineOf[q.QuestionId], $"question_id {q.QuestionId} has no answer in {aPath}");
        }

        return new BenchmarkSet(name ?? NameFromPath(qPath), qPath, aPath, imgDir, questions, answers) { AnswerLines = answerLines };
    }

    /// <summary>Non-blank lines parsed as JSON objects, with 1-based line numbers.</summary>
    internal static IEnumerable<(int Line, JsonElement Root)> ReadJsonLines(string path)
    {
        if (!File.Exists(path))
            throw new BenchmarkFormatException(path, null, "file not found");
        int n = 0;
        foreach (var text in File.ReadLines(path))
        {
            n++;
            if (string.IsNullOrWhiteSpace(text)) continue;
            yield return (n, EvalJson.ParseObjectLine(text, path, n));
        }
    }

    /// <summary>question_id as text: numbers keep their raw JSON text ("0"), strings their value.</summary>
    internal static string ReadId(JsonElement root, string path, int line) => ReadId(root, path, line, out _);

    /// <param name="isNumber">Whether the file wrote the id as a JSON number, so outputs can write it back the same way.</param>
    internal static string ReadId(JsonElement root, string path, int line, out bool isNumber)
    {
        if (!root.TryGetProperty("question_id", out var v))
            throw new BenchmarkFormatException(path, line, "missing field 'question_id'");
        isNumber = v.ValueKind == JsonValueKind.Number;
        var id = v.ValueKind switch
        {
            JsonValueKind.Number => v.GetRawText(),
            JsonValueKind.String => v.GetString()!,
            _ => throw new BenchmarkFormatException(path, line, $"'question_id' must be a number or string, got {v.ValueKind}"),
        };
        if (id.Length == 0)
            throw new BenchmarkFormatException(path, line, "'question_id' is empty");
        return id;
    }

    private static string? ReadString(JsonElement root, string field, string path, int line, bool required)
    {
        if (!root.TryGetProperty(field, out var v) || v.ValueKind == JsonValueKind.Null)
            return required ? throw new BenchmarkFormatException(path, line, $"missing field '{field}'") : null;
        if (v.ValueKind != JsonValueKind.String)
            throw new BenchmarkFormatException(path, line, $"'{field}' must be a string, got {v.ValueKind}");
        var s = v.GetString()!;
        if (required && s.Trim().Length == 0)
            throw new BenchmarkFormatException(path, line, $"'{field}' is empty");
        return s;
    }

    /// <summary>"answer": a string, a number (kept as raw text) or a non-empty list of those.</summary>
    internal static IReadOnlyList<string> ReadAnswer(JsonElement root, string path, int line)
    {
        if (!root.TryGetProperty("answer", out var v) || v.ValueKind == JsonValueKind.Null)
            throw new BenchmarkFormatException(path, line, "missing field 'answer'");
        if (v.ValueKind == JsonValueKind.Array)
        {
            var list = new List<string>();
            foreach (var e in v.EnumerateArray())
                list.Add(AnswerText(e, path, line));
            if (list.Count == 0)
                throw new BenchmarkFormatException(path, line, "'answer' is an empty list");
            return list;
        }
        return [AnswerText(v, path, line)];
    }

    private static string AnswerText(JsonElement e, string path, int line) => e.ValueKind switch
    {
        JsonValueKind.String => e.GetString()!,
        JsonValueKind.Number => e.GetRawText(),
        _ => throw new BenchmarkFormatException(path, line, $"'answer' must be a string or a list of strings, got {e.ValueKind}"),
    };
}
