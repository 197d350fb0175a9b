using System.Text.Json;
using AutoPrune.Evaluation;

namespace AutoPrune.Tests.Evaluation;

public class EvalResultTests
{
    private static string Out() => Path.Combine(TestPaths.TempDir(), "preds.jsonl");

    [Fact]
    public void Summary_numbers_on_a_hand_made_set()
    {
        // 6 questions, categories c0 c1 c2 c0 c1 c2; right on indices 0, 1, 3 -> 50%, c0 100%, c1 50%, c2 0%.
        var set = EvalFixtures.Simple(6);
        var right = new HashSet<int> { 0, 1, 3 };
        var preds = set.Questions.ToDictionary(q => q.QuestionId, q => right.Contains(q.Index) ? " A" + q.Index + ". " : "no");
        var r = EvalRunner.Run(set, EvalFixtures.Settings(), Out(), EvalFixtures.Fake(preds));

        Assert.Equal(50, r.Accuracy!.Value, 9);
        Assert.Equal(new Dictionary<string, double> { ["c0"] = 100, ["c1"] = 50, ["c2"] = 0 }, r.ByCategory);
        Assert.Equal(6, r.N);
        // Fake: mean tokens 6 for even, 6.5 for odd index; flops 100+k of 200+2k; prefill 10+k; decode 1.
        Assert.Equal(6.25, r.MeanVisualTokens, 9);
        Assert.Equal(615.0, r.FlopsTotal);
        Assert.Equal(1230.0, r.FlopsUnprunedTotal);
        Assert.Equal(50, r.FlopsReduction, 9);
        Assert.Equal(12.5, r.PrefillMsMean, 9);
        Assert.Equal(1, r.DecodeMsMean, 9);
        Assert.Null(r.F1);
        Assert.Null(r.AccPlus);
    }

    [Fact]
    public void Summary_json_is_snake_case_and_round_trips()
    {
        var set = EvalFixtures.Simple(3, i => i == 0 ? "yes" : "no");
        var preds = new Dictionary<string, string> { ["q0"] = "Yes", ["q1"] = "Yes", ["q2"] = "No, it is not." };
        var r = EvalRunner.Run(set, EvalFixtures.Settings(scorer: "pope"), Out(), EvalFixtures.Fake(preds));
        var json = r.ToJson();
        using var doc = JsonDocument.Parse(json);
        var root = doc.RootElement;
        foreach (var name in new[] { "accuracy", "by_category", "n", "policy", "budget", "model", "scorer", "mean_visual_tokens",
                     "flops_reduction", "prefill_ms_mean", "decode_ms_mean", "precision", "recall", "f1", "yes_ratio" })
            Assert.True(root.TryGetProperty(name, out _), name);
        Assert.False(root.TryGetProperty("acc_plus", out _));
        Assert.Equal(100 * 2.0 / 3, root.GetProperty("accuracy").GetDouble(), 9);
        Assert.Equal(50, root.GetProperty("precision").GetDouble(), 9);
        Assert.Equal(100, root.GetProperty("recall").GetDouble(), 9);
        Assert.True(root.GetProperty("by_category").TryGetProperty("c0", out _));

        var file = Path.Combine(TestPaths.TempDir(), "result.json");
        r.Save(file);
        Assert.Equal(json, EvalResult.Load(file).ToJson());
    }

    [Fact]
    public void Vqa_records_store_a_score_not_a_bool()
    {
        var dir = EvalFixtures.WriteBenchmark(
            ["""{"question_id": 1, "image": "a.png", "text": "How many?"}"""],
            ["""{"question_id": 1, "answer": ["2", "2", "2", "3", "3", "3", "3", "3", "3", "3"]}"""], ["a.png"]);
        var path = Out();
        var r = EvalRunner.Run(EvalFixtures.Load(dir), EvalFixtures.Settings(scorer: "vqa"), path,
            EvalFixtures.Fake(new Dictionary<string, string> { ["1"] = "two" }));
        Assert.Equal(90, r.Accuracy!.Value, 9);
        Assert.Contains("\"correct\":0.9", File.ReadAllText(path));
        Assert.Contains("\"question_id\":1,", File.ReadAllText(path));
    }

    [Fact]
    public void Without_answers_accuracy_is_null()
    {
        var dir = EvalFixtures.WriteBenchmark(["""{"question_id": 1, "image": "a.png", "text": "t"}"""], null, ["a.png"]);
        var set = BenchmarkSet.Load(Path.Combine(dir, "questions.jsonl"), null, Path.Combine(dir, "images"));
        var r = EvalRunner.Run(set, EvalFixtures.Settings(), Out(), EvalFixtures.Fake(new Dictionary<string, string>()));
        Assert.Null(r.Accuracy);
        Assert.Equal(1, r.N);
    }

    [Fact]
    public void Merged_shards_equal_the_unsharded_run()
    {
        var set = EvalFixtures.Simple(11);
        var preds = set.Questions.ToDictionary(q => q.QuestionId, q => q.Index % 4 == 0 ? "wrong" : "a" + q.Index);
        var full = Out();
        var expected = EvalRunner.Run(set, EvalFixtures.Settings(), full, EvalFixtures.Fake(preds));
        // Shards given out of order on purpose: the merge restores file order.
        var shards = new[] { 2, 0, 1 }.Select(i =>
        {
            var p = Out();
            EvalRunner.Run(set, EvalFixtures.Settings(shard: $"{i}/3"), p, EvalFixtures.Fake(preds));
            return p;
        }).ToArray();
        var merged = Path.Combine(TestPaths.TempDir(), "merged.jsonl");
        var r = EvalMerge.Merge(merged, shards);
        Assert.Equal(expected.ToJson(), r.ToJson());
        Assert.Equal(File.ReadAllText(full), File.ReadAllText(merged));
        Assert.Equal(expected.ToJson(), EvalResult.FromPredictions(merged).ToJson());
    }

    [Fact]
    public void Merge_refuses_conflicts_and_incomplete_shard_sets()
    {
        var set = EvalFixtures.Simple(4);
        var preds = set.Questions.ToDictionary(q => q.QuestionId, q => "a" + q.Index);
        string Run(EvalRunSettings s, Dictionary<string, string> p)
        {
            var path = Out();
            EvalRunner.Run(set, s, path, EvalFixtures.Fake(p));
            return path;
        }
        var a = Run(EvalFixtures.Settings(), preds);
        var sameAsA = Run(EvalFixtures.Settings(), preds);
        var differs = Run(EvalFixtures.Settings(), preds.ToDictionary(kv => kv.Key, kv => "x"));
        var otherPolicy = Run(EvalFixtures.Settings(policy: "fastv"), preds);
        var shard0 = Run(EvalFixtures.Settings(shard: "0/2"), preds);
        string Dest() => Path.Combine(TestPaths.TempDir(), "m.jsonl");

        Assert.Equal(4, EvalMerge.Merge(Dest(), a, sameAsA).N); // identical duplicates are fine
        Assert.Contains("different records", Assert.Throws<EvalSettingsException>(() => EvalMerge.Merge(Dest(), a, differs)).Message);
        Assert.Contains("policy", Assert.Throws<EvalSettingsException>(() => EvalMerge.Merge(Dest(), a, otherPolicy)).Message);
        Assert.Contains("missing shard(s) 1/2", Assert.Throws<EvalSettingsException>(() => EvalMerge.Merge(Dest(), shard0)).Message);
        Assert.Contains("twice", Assert.Throws<EvalSettingsException>(() => EvalMerge.Merge(Dest(), shard0, shard0)).Message);
        Assert.Throws<EvalSettingsException>(() => EvalMerge.Merge(Dest(), a, shard0));
    }
}
