using AutoPrune.Evaluation;

namespace AutoPrune.Tests.Evaluation;

/// <summary>Runs the real shapes-vqa files: the committed dev set.</summary>
public class RealBenchmarkTests
{
    [Fact]
    public void Shapes_vqa_loads_and_scores_with_an_oracle_and_a_constant_engine()
    {
        var dir = TestPaths.DevSet;
        Assert.True(File.Exists(Path.Combine(dir, "questions.jsonl")), $"benchmark missing at {dir}");
        var q = Path.Combine(dir, "questions.jsonl");
        var set = BenchmarkSet.Load(q, Path.Combine(dir, "answers.jsonl"), Path.Combine(dir, "images"));

        int lines = File.ReadLines(q).Count(l => l.Trim().Length > 0);
        Assert.Equal(lines, set.Questions.Count);
        Assert.True(set.Questions.Count >= 5);
        Assert.All(set.Questions, x => Assert.True(File.Exists(x.ImagePath)));
        Assert.All(set.Questions, x => Assert.False(string.IsNullOrEmpty(x.Category)));
        Assert.Equal("0", set.Questions[0].QuestionId);
        Assert.Equal("exact", Scorers.Default(q).Name);

        // An oracle gets 100%, a constant answer gets exactly its share of the reference answers.
        var oracle = set.Questions.ToDictionary(x => x.QuestionId, x => set.Answers![x.QuestionId][0] + ".");
        var settings = EvalFixtures.Settings() with { Benchmark = set.Name };
        var r = EvalRunner.Run(set, settings, Path.Combine(TestPaths.TempDir(), "p.jsonl"), EvalFixtures.Fake(oracle),
            new EvalRunOptions { Limit = 50 });
        Assert.Equal(100, r.Accuracy);
        Assert.Equal(Math.Min(50, set.Questions.Count), r.N);

        var constant = set.Answers!.Values.Select(a => a[0]).GroupBy(a => a).OrderByDescending(g => g.Count()).First().Key;
        int share = set.Questions.Take(50).Count(x => set.Answers[x.QuestionId][0] == constant);
        var c = EvalRunner.Run(set, settings with { Policy = "constant" }, Path.Combine(TestPaths.TempDir(), "c.jsonl"),
            EvalFixtures.Fake(set.Questions.ToDictionary(x => x.QuestionId, _ => constant)), new EvalRunOptions { Limit = 50 });
        Assert.Equal(100.0 * share / r.N, c.Accuracy!.Value, 9);
        Assert.True(c.Accuracy < 100);
    }
}
