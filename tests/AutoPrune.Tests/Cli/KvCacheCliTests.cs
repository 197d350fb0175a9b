using System.Text.Json;

namespace AutoPrune.Tests.Cli;

/// <summary>`--kv-cache` on the verbs that generate, and in `bench` (both types in one run); bad values are usage errors.</summary>
public sealed class KvCacheCliTests
{
    private static string Case0 => Path.Combine(TestPaths.Golden, "case0.png");

    [Fact]
    public void AskAndEvalAnswerWithABf16Cache()
    {
        var (code, stdout, stderr) = CliTests.Run("ask", "--image", Case0, "Is there a yellow square?", "--model", TestPaths.TinyModel, "--kv-cache", "bf16");
        Assert.True(code == 0, stderr);
        Assert.Equal("yes", stdout.Trim());     // case 0's golden answer
        Assert.Contains("KV cache bf16", stderr);   // the summary line says which cache answered

        var json = CliTests.Run("ask", "--image", Case0, "Is there a yellow square?", "--model", TestPaths.TinyModel, "--kv-cache", "bf16", "--json");
        Assert.True(json.code == 0, json.stderr);
        using (var doc = JsonDocument.Parse(json.stdout)) Assert.Equal("bf16", doc.RootElement.GetProperty("kv_cache").GetString());

        var dir = TestPaths.TempDir();
        var output = Path.Combine(dir, "bf16.json");
        var eval = CliTests.Run("eval", "--data", TestPaths.ShapesMini, "--output", output, "--model", TestPaths.TinyModel, "--kv-cache", "bf16");
        Assert.True(eval.code == 0, eval.stderr);
        var meta = File.ReadAllText(Path.Combine(dir, "bf16.predictions.jsonl.meta.json"));
        Assert.Matches("\"kv_cache\": ?\"bf16\"", meta);    // in the run's settings: a resume with the F32 cache is refused
        var resume = CliTests.Run("eval", "--data", TestPaths.ShapesMini, "--output", output, "--model", TestPaths.TinyModel);
        Assert.Equal(1, resume.code);
        Assert.Contains("kv_cache", resume.stderr);
    }

    [Fact]
    public void BenchTimesBothCacheTypesInOneRun()
    {
        var (code, stdout, stderr) = CliTests.Run("bench", "--shape", "tiny", "--layers", "2", "--no-gemm", "--reps", "1", "--decode-steps", "2",
            "--visual", "64", "--kv-cache", "f32,bf16", "--json");
        Assert.True(code == 0, stderr);
        using var doc = JsonDocument.Parse(stdout);
        var r = doc.RootElement;
        Assert.Equal("f32,bf16", r.GetProperty("kv_cache").GetString());
        Assert.Equal("f32", r.GetProperty("decode").GetProperty("kv_cache").GetString());
        var rows = r.GetProperty("decode_by_kv_cache");
        Assert.Equal(2, rows.GetArrayLength());
        Assert.Equal("bf16", rows[1].GetProperty("kv_cache").GetString());
        Assert.True(rows[1].GetProperty("attention_ms").GetDouble() > 0 && rows[1].GetProperty("ms_per_token").GetDouble() > 0);
    }

    [Theory]
    [InlineData("ask", "f16")]
    [InlineData("chat", "q8_0")]
    [InlineData("serve", "BF16")]
    [InlineData("bench", "f32,f16")]
    [InlineData("bench", "bf16,bf16")]
    public void BadValuesAreOneUsageErrorLine(string verb, string value)
    {
        string[] args = verb == "ask" ? ["ask", "--image", Case0, "Q?", "--kv-cache", value] : [verb, "--kv-cache", value];
        var (code, stdout, stderr) = CliTests.Run(args);
        Assert.Equal(2, code);
        Assert.Equal("", stdout);
        var lines = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        Assert.StartsWith("error: --kv-cache", lines[0]);
    }
}
