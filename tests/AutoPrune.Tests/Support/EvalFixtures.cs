using AutoPrune.Evaluation;

namespace AutoPrune.Tests.Support;

/// <summary>Tiny hand-made benchmarks in temp folders and a deterministic fake engine.</summary>
internal static class EvalFixtures
{
    /// <summary>Writes questions.jsonl / answers.jsonl (raw lines, as given) and empty image files; returns the folder.</summary>
    public static string WriteBenchmark(IEnumerable<string> questionLines, IEnumerable<string>? answerLines, IEnumerable<string> images)
    {
        var dir = TestPaths.TempDir();
        Directory.CreateDirectory(Path.Combine(dir, "images"));
        foreach (var img in images) File.WriteAllBytes(Path.Combine(dir, "images", img), [0]);
        File.WriteAllText(Path.Combine(dir, "questions.jsonl"), string.Join("\n", questionLines) + "\n");
        if (answerLines is not null)
            File.WriteAllText(Path.Combine(dir, "answers.jsonl"), string.Join("\n", answerLines) + "\n");
        return dir;
    }

    /// <summary>A set of n questions q0..q{n-1}, answer "a{i}", category "c{i%3}", one image each.</summary>
    public static BenchmarkSet Simple(int n, Func<int, string>? answer = null)
    {
        var dir = WriteBenchmark(
            Enumerable.Range(0, n).Select(i => $"{{\"question_id\": \"q{i}\", \"image\": \"i{i}.png\", \"text\": \"t{i}\", \"category\": \"c{i % 3}\"}}"),
            Enumerable.Range(0, n).Select(i => $"{{\"question_id\": \"q{i}\", \"answer\": \"{answer?.Invoke(i) ?? "a" + i}\"}}"),
            Enumerable.Range(0, n).Select(i => $"i{i}.png"));
        return Load(dir);
    }

    public static BenchmarkSet Load(string dir) =>
        BenchmarkSet.Load(Path.Combine(dir, "questions.jsonl"), Path.Combine(dir, "answers.jsonl"), Path.Combine(dir, "images"));

    /// <summary>Deterministic engine: answers from the dictionary ("?" otherwise), numbers derived from the question index.</summary>
    public static Func<EvalQuestion, CancellationToken, EvalAnswer> Fake(IReadOnlyDictionary<string, string> predictions, List<string>? calls = null) =>
        (q, _) =>
        {
            calls?.Add(q.QuestionId);
            int k = q.Index;
            return new EvalAnswer(predictions.GetValueOrDefault(q.QuestionId, "?"), [8, 4 + k % 2], 6 + (k % 2) / 2.0,
                Flops: 100 + k, FlopsUnpruned: 200 + 2 * k, PrefillMs: 10 + k, DecodeMs: 1);
        };

    public static EvalRunSettings Settings(string policy = "autoprune", string? budget = "57", string scorer = "exact", string? shard = null) =>
        new() { Model = "fake-model", Policy = policy, Budget = budget, Scorer = scorer, Benchmark = "mini", Shard = shard };
}
