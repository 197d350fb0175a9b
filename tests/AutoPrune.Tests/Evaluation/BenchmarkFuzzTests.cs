using AutoPrune.Evaluation;
using Xunit.Abstractions;

namespace AutoPrune.Tests.Evaluation;

/// <summary>Seeded fuzzing of benchmark questions/answers files and predictions files (see <see cref="Fuzz"/>).</summary>
public sealed class BenchmarkFuzzTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData("questions.jsonl")]
    [InlineData("answers.jsonl")]
    public void BenchmarkFiles(string file)
    {
        var set = EvalFixtures.Simple(4);
        var dir = Path.GetDirectoryName(set.QuestionsPath)!;
        var path = Path.Combine(dir, file);
        var text = File.ReadAllText(path);
        Fuzz.Run(file, Fuzz.Cases(), m => m.Json(text), bytes =>
        {
            File.WriteAllBytes(path, bytes);
            EvalFixtures.Load(dir);
        }, output);
    }

    [Fact]
    public void PredictionsFiles()
    {
        var set = EvalFixtures.Simple(4);
        var path = Path.Combine(TestPaths.TempDir(), "preds.jsonl");
        EvalRunner.Run(set, EvalFixtures.Settings(), path, EvalFixtures.Fake(new Dictionary<string, string>()));
        var text = File.ReadAllText(path);
        var copy = Path.Combine(TestPaths.TempDir(), "mutated.jsonl");
        Fuzz.Run("predictions", Fuzz.Cases(), m => m.Next(2) == 0 ? m.Json(text) : m.Bytes(System.Text.Encoding.UTF8.GetBytes(text)), bytes =>
        {
            File.WriteAllBytes(copy, bytes);
            try { PredictionsFile.Read(copy); }
            catch (BenchmarkFormatException) { }
            // Resuming repairs what a crash can leave and refuses the rest with a typed error.
            using var fs = new FileStream(copy, FileMode.Open, FileAccess.ReadWrite, FileShare.None);
            PredictionsFile.ReadForResume(fs, copy, out _);
        }, output);
    }
}
