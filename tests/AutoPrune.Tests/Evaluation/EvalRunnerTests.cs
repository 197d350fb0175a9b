using AutoPrune.Evaluation;

namespace AutoPrune.Tests.Evaluation;

public class EvalRunnerTests
{
    private static Dictionary<string, string> Predictions(BenchmarkSet set, Func<int, bool> right) =>
        set.Questions.ToDictionary(q => q.QuestionId, q => right(q.Index) ? set.Answers![q.QuestionId][0] : "wrong");

    private static string Out() => Path.Combine(TestPaths.TempDir(), "preds.jsonl");

    [Fact]
    public void Shards_are_disjoint_cover_the_list_and_keep_file_order()
    {
        var set = EvalFixtures.Simple(23);
        foreach (var n in new[] { 1, 2, 3, 7, 23, 30 })
        {
            var parts = Enumerable.Range(0, n).Select(i => EvalRunner.Select(set.Questions, null, new ShardSpec(i, n))).ToList();
            var all = parts.SelectMany(p => p.Select(q => q.Index)).ToList();
            Assert.Equal(23, all.Count);
            Assert.Equal(Enumerable.Range(0, 23), all.Order());
            foreach (var p in parts) Assert.Equal(p.Select(q => q.Index).Order(), p.Select(q => q.Index));
        }
        Assert.Equal([1, 4, 7], EvalRunner.Select(set.Questions, 9, new ShardSpec(1, 3)).Select(q => q.Index));
        Assert.Equal(5, EvalRunner.Select(set.Questions, 5, null).Count);
    }

    [Theory]
    [InlineData("3/3")]
    [InlineData("-1/2")]
    [InlineData("1/0")]
    [InlineData("a/b")]
    [InlineData("1")]
    public void Bad_shard_specs_are_refused(string spec) => Assert.Throws<EvalSettingsException>(() => ShardSpec.Parse(spec));

    [Fact]
    public void Run_writes_one_record_per_question_and_summary()
    {
        var set = EvalFixtures.Simple(6);
        var path = Out();
        var calls = new List<string>();
        var progress = new List<EvalProgress>();
        var result = EvalRunner.Run(set, EvalFixtures.Settings(), path, EvalFixtures.Fake(Predictions(set, i => i % 2 == 0), calls),
            new EvalRunOptions { Progress = new SyncProgress(progress) });

        Assert.Equal(set.Questions.Select(q => q.QuestionId), calls);
        var recs = PredictionsFile.Read(path);
        Assert.Equal(calls, recs.Select(r => r.QuestionId));
        Assert.Equal([true, false, true, false, true, false], recs.Select(r => r.Score == 1));
        Assert.Equal(50, result.Accuracy);
        Assert.Equal(6, result.N);
        Assert.Equal([0, 1, 2, 3, 4, 5, 6], progress.Select(p => p.Done));
        Assert.All(progress, p => Assert.Equal(6, p.Total));
        Assert.Equal(TimeSpan.Zero, progress[^1].Eta);
        Assert.True(progress[^1].RatePerSecond > 0);
        var line = File.ReadLines(path).First();
        foreach (var field in new[] { "question_id", "prediction", "answer", "correct", "category", "visual_tokens_per_layer",
                     "mean_visual_tokens", "flops", "prefill_ms", "decode_ms" })
            Assert.Contains($"\"{field}\":", line);
        Assert.Contains("\"correct\":true", line);
        Assert.True(File.Exists(path + ".meta.json"));
    }

    [Fact]
    public void Resume_after_crash_with_truncated_last_line_yields_each_id_once()
    {
        var set = EvalFixtures.Simple(10);
        var preds = Predictions(set, i => i % 3 != 0);
        var fullPath = Out();
        var expected = EvalRunner.Run(set, EvalFixtures.Settings(), fullPath, EvalFixtures.Fake(preds));

        // Simulate a crash: the engine dies on the 5th question after writing 4 records, the 5th half-written.
        var path = Out();
        int seen = 0;
        Assert.Throws<InvalidOperationException>(() => EvalRunner.Run(set, EvalFixtures.Settings(), path, (q, ct) =>
            ++seen == 5 ? throw new InvalidOperationException("boom") : EvalFixtures.Fake(preds)(q, ct)));
        var fifth = File.ReadLines(fullPath).ElementAt(4);
        File.AppendAllText(path, fifth[..(fifth.Length / 2)]);
        Assert.Equal(4, File.ReadLines(path).Count(l => l.EndsWith('}')));
        Assert.Throws<BenchmarkFormatException>(() => PredictionsFile.Read(path)); // strict reading names the partial line

        var calls = new List<string>();
        var resumed = EvalRunner.Run(set, EvalFixtures.Settings(), path, EvalFixtures.Fake(preds, calls));
        Assert.Equal(set.Questions.Skip(4).Select(q => q.QuestionId), calls);
        var ids = PredictionsFile.Read(path).Select(r => r.QuestionId).ToList();
        Assert.Equal(set.Questions.Select(q => q.QuestionId), ids);
        Assert.Equal(File.ReadAllText(fullPath), File.ReadAllText(path)); // byte-identical to an uninterrupted run
        Assert.Equal(expected.ToJson(), resumed.ToJson());

        // A finished file resumes to nothing.
        calls.Clear();
        EvalRunner.Run(set, EvalFixtures.Settings(), path, EvalFixtures.Fake(preds, calls));
        Assert.Empty(calls);
    }

    [Fact]
    public void Complete_last_line_missing_only_its_newline_is_kept()
    {
        var set = EvalFixtures.Simple(4);
        var preds = Predictions(set, _ => true);
        var path = Out();
        EvalRunner.Run(set, EvalFixtures.Settings(), path, EvalFixtures.Fake(preds), new EvalRunOptions { Limit = 2 });
        File.WriteAllText(path, File.ReadAllText(path).TrimEnd('\n'));
        var calls = new List<string>();
        EvalRunner.Run(set, EvalFixtures.Settings(), path, EvalFixtures.Fake(preds, calls));
        Assert.Equal(["q2", "q3"], calls);
        Assert.Equal(["q0", "q1", "q2", "q3"], PredictionsFile.Read(path).Select(r => r.QuestionId));
    }

    [Fact]
    public void Malformed_middle_line_is_not_silently_dropped()
    {
        var set = EvalFixtures.Simple(4);
        var path = Out();
        EvalRunner.Run(set, EvalFixtures.Settings(), path, EvalFixtures.Fake(new Dictionary<string, string>()));
        var lines = File.ReadAllLines(path);
        lines[1] = lines[1][..10];
        File.WriteAllLines(path, lines);
        var e = Assert.Throws<BenchmarkFormatException>(() =>
            EvalRunner.Run(set, EvalFixtures.Settings(), path, EvalFixtures.Fake(new Dictionary<string, string>())));
        Assert.Equal(2, e.LineNumber);
    }

    [Theory]
    [InlineData("policy")]
    [InlineData("budget")]
    [InlineData("model")]
    [InlineData("shard")]
    [InlineData("option")]
    public void Resume_refuses_other_settings(string change)
    {
        var set = EvalFixtures.Simple(4);
        var path = Out();
        var fake = EvalFixtures.Fake(new Dictionary<string, string>());
        EvalRunner.Run(set, EvalFixtures.Settings(), path, fake, new EvalRunOptions { Limit = 1 });
        var other = change switch
        {
            "policy" => EvalFixtures.Settings(policy: "fastv"),
            "budget" => EvalFixtures.Settings(budget: "28"),
            "model" => EvalFixtures.Settings() with { Model = "other" },
            "shard" => EvalFixtures.Settings(shard: "0/2"),
            _ => EvalFixtures.Settings() with { Options = new() { ["positions"] = "original" } },
        };
        var e = Assert.Throws<EvalSettingsException>(() => EvalRunner.Run(set, other, path, fake));
        Assert.Contains(change, e.Message);
        Assert.Single(File.ReadLines(path)); // nothing appended
    }

    [Fact]
    public void Predictions_without_meta_are_not_appended_to()
    {
        var set = EvalFixtures.Simple(2);
        var path = Out();
        File.WriteAllText(path, "{\"question_id\": \"q0\"}\n"); // content of unknown origin (an empty file is simply reused)
        Assert.Throws<EvalSettingsException>(() =>
            EvalRunner.Run(set, EvalFixtures.Settings(), path, EvalFixtures.Fake(new Dictionary<string, string>())));
    }

    [Fact]
    public void Cancellation_stops_between_questions_and_keeps_finished_records()
    {
        var set = EvalFixtures.Simple(6);
        var path = Out();
        using var cts = new CancellationTokenSource();
        int n = 0;
        var fake = EvalFixtures.Fake(new Dictionary<string, string>());
        Assert.ThrowsAny<OperationCanceledException>(() => EvalRunner.Run(set, EvalFixtures.Settings(), path, (q, ct) =>
        {
            if (++n == 3) cts.Cancel();
            return fake(q, ct);
        }, cancellationToken: cts.Token));
        Assert.Equal(["q0", "q1", "q2"], PredictionsFile.Read(path).Select(r => r.QuestionId));
    }

    [Fact]
    public void Answers_the_scorer_cannot_use_fail_before_any_inference()
    {
        var set = EvalFixtures.Simple(3, i => i == 2 ? "maybe" : "yes");
        var calls = new List<string>();
        var e = Assert.Throws<BenchmarkFormatException>(() =>
            EvalRunner.Run(set, EvalFixtures.Settings(scorer: "pope"), Out(), EvalFixtures.Fake(new Dictionary<string, string>(), calls)));
        Assert.Equal(3, e.LineNumber);
        Assert.Contains("q2", e.Message);
        Assert.Empty(calls);
    }

    [Fact]
    public void Bad_engine_numbers_are_reported_with_the_question()
    {
        var set = EvalFixtures.Simple(2);
        var e = Assert.Throws<InvalidOperationException>(() => EvalRunner.Run(set, EvalFixtures.Settings(), Out(),
            (q, _) => new EvalAnswer("x", [1], double.NaN, 1, 1, 1, 1)));
        Assert.Contains("q0", e.Message);
    }

    /// <summary>Progress&lt;T&gt; posts asynchronously; tests need the reports in order, on the calling thread.</summary>
    private sealed class SyncProgress(List<EvalProgress> sink) : IProgress<EvalProgress>
    {
        public void Report(EvalProgress value) => sink.Add(value);
    }
}

/// <summary>The predictions file under crashes and concurrent writers.</summary>
public class PredictionsFileSafetyTests
{
    private static string Out() => Path.Combine(TestPaths.TempDir(), "preds.jsonl");

    private static Dictionary<string, string> Right(BenchmarkSet set) =>
        set.Questions.ToDictionary(q => q.QuestionId, q => set.Answers![q.QuestionId][0]);

    [Fact]
    public void A_second_writer_is_refused_and_the_first_run_is_intact()
    {
        var set = EvalFixtures.Simple(5);
        var preds = Right(set);
        var path = Out();
        EvalSettingsException? second = null;
        int n = 0;
        var result = EvalRunner.Run(set, EvalFixtures.Settings(), path, (q, ct) =>
        {
            if (++n == 3)
                second = Assert.Throws<EvalSettingsException>(() => EvalRunner.Run(set, EvalFixtures.Settings(), path, EvalFixtures.Fake(preds)));
            return EvalFixtures.Fake(preds)(q, ct);
        });
        Assert.NotNull(second);
        Assert.Contains("being written by another eval run", second!.Message);
        Assert.Contains(path, second.Message);
        Assert.Equal(set.Questions.Select(q => q.QuestionId), PredictionsFile.Read(path).Select(r => r.QuestionId));
        Assert.Equal(5, result.N);
        // A reader while a run writes gets a clear error too, not a half-written line.
        using (new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.None))
            Assert.Contains("being written", Assert.Throws<BenchmarkFormatException>(() => PredictionsFile.Read(path)).Message);
    }

    [Theory]
    [InlineData(0)]    // NULs right after the last complete line
    [InlineData(40)]   // a partial line, then NULs
    public void A_nul_filled_tail_is_repaired_on_resume(int partialChars)
    {
        var set = EvalFixtures.Simple(6);
        var preds = Right(set);
        var full = Out();
        EvalRunner.Run(set, EvalFixtures.Settings(), full, EvalFixtures.Fake(preds));
        var lines = File.ReadAllLines(full);

        var path = Out();
        File.Copy(full + ".meta.json", path + ".meta.json");
        var damaged = string.Join("\n", lines.Take(3)) + "\n" + lines[3][..partialChars];
        File.WriteAllBytes(path, System.Text.Encoding.UTF8.GetBytes(damaged).Concat(new byte[300]).ToArray());
        Assert.Throws<BenchmarkFormatException>(() => PredictionsFile.Read(path));

        var calls = new List<string>();
        EvalRunner.Run(set, EvalFixtures.Settings(), path, EvalFixtures.Fake(preds, calls));
        Assert.Equal(set.Questions.Skip(3).Select(q => q.QuestionId), calls);
        Assert.Equal(File.ReadAllText(full), File.ReadAllText(path));
    }

    [Fact]
    public void An_empty_file_left_before_its_meta_starts_afresh()
    {
        var set = EvalFixtures.Simple(2);
        var path = Out();
        File.WriteAllBytes(path, []);
        EvalRunner.Run(set, EvalFixtures.Settings(), path, EvalFixtures.Fake(Right(set)));
        Assert.Equal(2, PredictionsFile.Read(path).Count);
    }
}
