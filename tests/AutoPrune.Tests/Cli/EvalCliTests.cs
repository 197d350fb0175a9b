using System.Text.Json;

namespace AutoPrune.Tests.Cli;

/// <summary>`autoprune eval / sweep / merge` end to end on the committed 5-question ShapeWorld copy with the real model.</summary>
public sealed class EvalCliTests
{
    private static string Mini => TestPaths.ShapesMini;

    [Fact]
    public void EvalWritesSummaryAndPredictionsAndIsDeterministicOnRerun()
    {
        var dir = TestPaths.TempDir();
        var out1 = Path.Combine(dir, "a.json");
        var (code, stdout, stderr) = CliTests.Run("eval", "--model", TestPaths.TinyModel, "--data", Mini, "--output", out1);
        Assert.True(code == 0, stderr);
        Assert.Contains("accuracy", stdout);
        using (var doc = JsonDocument.Parse(File.ReadAllText(out1)))
        {
            var r = doc.RootElement;
            Assert.Equal(5, r.GetProperty("n").GetInt32());
            Assert.Equal("none", r.GetProperty("policy").GetString());
            Assert.Equal(256, r.GetProperty("mean_visual_tokens").GetDouble());
            Assert.Equal(0, r.GetProperty("flops_reduction").GetDouble());
            Assert.True(r.GetProperty("prefill_ms_mean").GetDouble() > 0);
            Assert.True(r.TryGetProperty("by_category", out _));
            Assert.InRange(r.GetProperty("accuracy").GetDouble(), 0, 100);
        }
        var preds1 = File.ReadAllLines(Path.Combine(dir, "a.predictions.jsonl"));
        Assert.Equal(5, preds1.Length);

        // Re-running the same command resumes: nothing to do, nothing duplicated.
        (code, _, stderr) = CliTests.Run("eval", "--model", TestPaths.TinyModel, "--data", Mini, "--output", out1);
        Assert.True(code == 0, stderr);
        Assert.Equal(preds1, File.ReadAllLines(Path.Combine(dir, "a.predictions.jsonl")));

        // A fresh run gives the same predictions.
        var out2 = Path.Combine(dir, "b.json");
        (code, _, stderr) = CliTests.Run("eval", "--model", TestPaths.TinyModel, "--data", Mini, "--output", out2);
        Assert.True(code == 0, stderr);
        static string[] Predictions(string path) =>
            File.ReadAllLines(path).Select(l => JsonDocument.Parse(l).RootElement.GetProperty("prediction").GetString()!).ToArray();
        Assert.Equal(Predictions(Path.Combine(dir, "a.predictions.jsonl")), Predictions(Path.Combine(dir, "b.predictions.jsonl")));
    }

    [Fact]
    public void ShardsMergeToTheWholeRun()
    {
        var dir = TestPaths.TempDir();
        for (int i = 0; i < 2; i++)
        {
            var (c, _, e) = CliTests.Run("eval", "--model", TestPaths.TinyModel, "--data", Mini, "--shard", $"{i}/2", "--output", Path.Combine(dir, $"s{i}.json"));
            Assert.True(c == 0, e);
        }
        var (code, stdout, stderr) = CliTests.Run("merge", Path.Combine(dir, "s0.predictions.jsonl"), Path.Combine(dir, "s1.predictions.jsonl"),
            "--output", Path.Combine(dir, "merged.json"));
        Assert.True(code == 0, stderr);
        Assert.Equal(5, File.ReadAllLines(Path.Combine(dir, "merged.predictions.jsonl")).Length);
        Assert.Contains("n 5", stdout);
    }

    [Fact]
    public void SweepWritesTheTable()
    {
        var dir = TestPaths.TempDir();
        var (code, stdout, stderr) = CliTests.Run("sweep", "--model", TestPaths.TinyModel, "--data", Mini, "--limit", "2",
            "--policies", "none", "--budgets", "64", "--output", dir);
        Assert.True(code == 0, stderr);
        Assert.True(File.Exists(Path.Combine(dir, "sweep.md")));
        Assert.True(File.Exists(Path.Combine(dir, "sweep.json")));
        Assert.Contains("none", File.ReadAllText(Path.Combine(dir, "sweep.md")));
    }

    [Fact]
    public void ResumingWithOtherPolicySettingsIsRefused()
    {
        var dir = TestPaths.TempDir();
        var output = Path.Combine(dir, "ap.json");
        string[] common = ["eval", "--model", TestPaths.TinyModel, "--data", Mini, "--limit", "2", "--policy", "autoprune", "--budget", "57", "--output", output];
        var (code, _, stderr) = CliTests.Run([.. common, "--mi-norm", "mean"]);
        Assert.True(code == 0, stderr);
        (code, _, stderr) = CliTests.Run([.. common, "--mi-norm", "sum"]);
        Assert.NotEqual(0, code);
        Assert.Contains("other settings", stderr);
        (code, _, stderr) = CliTests.Run([.. common, "--set", "mi-norm=mean"]);   // the same setting spelled differently resumes
        Assert.True(code == 0, stderr);
    }

    [Theory]
    [InlineData("no-data")]
    [InlineData("missing-folder")]
    [InlineData("bad-shard")]
    public void BadEvalInputIsOneLine(string kind)
    {
        var dir = TestPaths.TempDir();
        string[] args = kind switch
        {
            "no-data" => ["eval", "--model", TestPaths.TinyModel, "--output", Path.Combine(dir, "r.json")],
            "missing-folder" => ["eval", "--model", TestPaths.TinyModel, "--data", Path.Combine(dir, "nope"), "--output", Path.Combine(dir, "r.json")],
            _ => ["eval", "--model", TestPaths.TinyModel, "--data", Mini, "--shard", "3/2", "--output", Path.Combine(dir, "r.json")],
        };
        var (code, _, stderr) = CliTests.Run(args);
        Assert.NotEqual(0, code);
        Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("error: ", stderr);
    }

    [Fact]
    public void QuestionIdsKeepTheirJsonTypeInPredictionsMergesAndSweeps()
    {
        var dir = TestPaths.TempDir();
        try
        {
            // A copy of the mini set whose ids are strings ("0", "1", ...): outputs must keep them strings, while the
            // original integer ids stay integers.
            var strData = Path.Combine(dir, "str");
            Directory.CreateDirectory(strData);
            File.WriteAllLines(Path.Combine(strData, "questions.jsonl"), File.ReadAllLines(Path.Combine(Mini, "questions.jsonl"))
                .Where(l => l.Length > 0).Select(l => System.Text.RegularExpressions.Regex.Replace(l, "\"question_id\": (\\d+)", "\"question_id\": \"$1\"")));
            File.WriteAllLines(Path.Combine(strData, "answers.jsonl"), File.ReadAllLines(Path.Combine(Mini, "answers.jsonl"))
                .Where(l => l.Length > 0).Select(l => System.Text.RegularExpressions.Regex.Replace(l, "\"question_id\": (\\d+)", "\"question_id\": \"$1\"")));
            CopyDir(Path.Combine(Mini, "images"), Path.Combine(strData, "images"));

            static JsonValueKind IdKind(string predictions) =>
                JsonDocument.Parse(File.ReadLines(predictions).First()).RootElement.GetProperty("question_id").ValueKind;

            foreach (var (data, kind) in new[] { (Mini, JsonValueKind.Number), (strData, JsonValueKind.String) })
            {
                var name = kind.ToString();
                for (int i = 0; i < 2; i++)
                {
                    var (c, _, e) = CliTests.Run("eval", "--model", TestPaths.TinyModel, "--data", data, "--limit", "2", "--max-new-tokens", "2",
                        "--shard", $"{i}/2", "--output", Path.Combine(dir, $"{name}{i}.json"));
                    Assert.True(c == 0, e);
                    Assert.Equal(kind, IdKind(Path.Combine(dir, $"{name}{i}.predictions.jsonl")));
                }
                var (code, _, stderr) = CliTests.Run("merge", Path.Combine(dir, $"{name}0.predictions.jsonl"), Path.Combine(dir, $"{name}1.predictions.jsonl"),
                    "--output", Path.Combine(dir, $"{name}-merged.json"));
                Assert.True(code == 0, stderr);
                Assert.Equal(kind, IdKind(Path.Combine(dir, $"{name}-merged.predictions.jsonl")));
            }
            var (sc, _, se) = CliTests.Run("sweep", "--model", TestPaths.TinyModel, "--data", Mini, "--limit", "1", "--max-new-tokens", "2",
                "--policies", "random", "--budgets", "64", "--timing-questions", "0", "--output", Path.Combine(dir, "sweep"));
            Assert.True(sc == 0, se);
            Assert.Equal(JsonValueKind.Number, IdKind(Path.Combine(dir, "sweep", "random_64.predictions.jsonl")));
        }
        finally { Directory.Delete(dir, true); }
    }

    private static void CopyDir(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var f in Directory.EnumerateFiles(from)) File.Copy(f, Path.Combine(to, Path.GetFileName(f)));
    }
}
