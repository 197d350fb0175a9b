using System.Text.Json;

namespace AutoPrune.Tests.Cli;

/// <summary>`autoprune bench` on the embedded model's shape: the JSON has the documented fields with sane values.
/// (A functional test, not a timing assertion: speed is measured by running the benchmark, never asserted here.)</summary>
public sealed class BenchCliTests
{
    [Fact]
    public void BenchJsonHasPrefillDecodeAndPolicyFields()
    {
        var (code, stdout, stderr) = CliTests.Run("bench", "--shape", TestPaths.TinyModel, "--layers", "8", "--no-gemm", "--reps", "1",
            "--decode-steps", "2", "--visual", "28,256", "--policy", "autoprune", "--budget", "57", "--json");
        Assert.True(code == 0, stderr);
        using var doc = JsonDocument.Parse(stdout);
        var r = doc.RootElement;
        var prefill = r.GetProperty("prefill");
        Assert.Equal(2, prefill.GetArrayLength());
        Assert.Equal(28, prefill[0].GetProperty("visual_tokens").GetInt32());
        Assert.Equal(256 + 60, prefill[1].GetProperty("total_tokens").GetInt32());
        Assert.True(prefill[1].GetProperty("ms_per_layer").GetDouble() > 0);
        Assert.True(prefill[1].GetProperty("flops_per_layer").GetDouble() > prefill[0].GetProperty("flops_per_layer").GetDouble());
        Assert.True(r.GetProperty("decode_ms_per_token").GetDouble() > 0);
        Assert.True(r.GetProperty("peak_rss_mb").GetDouble() > 0);
        var p = r.GetProperty("policy");
        Assert.Equal("autoprune", p.GetProperty("policy").GetString());
        Assert.True(p.GetProperty("flop_ratio").GetDouble() > 1);   // pruning removed work
        Assert.True(p.GetProperty("prefill_ms_pruned").GetDouble() > 0 && p.GetProperty("prefill_ms_unpruned").GetDouble() > 0);
        Assert.Equal(8, p.GetProperty("visual_tokens_per_layer").GetArrayLength());
        Assert.False(r.TryGetProperty("gemm", out _));
    }

    [Fact]
    public void NextFolderTimesItsTilesAndSeveralBudgetsAgainstOneUnprunedRun()
    {
        // The tiny NeXT model's largest tiling is the base view + 2x2 tiles of 16 tokens: 80 visual tokens.
        var (code, stdout, stderr) = CliTests.Run("bench", "--shape", NextGolden.ModelDir, "--no-gemm", "--reps", "1", "--decode-steps", "1",
            "--visual", "80", "--policy", "fastv", "--budgets", "60,40", "--json");
        Assert.True(code == 0, stderr);
        using var doc = JsonDocument.Parse(stdout);
        var r = doc.RootElement;
        Assert.Equal(80 + 60, r.GetProperty("prefill")[0].GetProperty("total_tokens").GetInt32());
        Assert.Equal(5, r.GetProperty("vision").GetProperty("tiles").GetInt32());
        Assert.True(r.GetProperty("vision").GetProperty("vision_ms").GetDouble() > 0);
        Assert.True(r.GetProperty("vision").GetProperty("gemm_gflop").GetDouble() > 0);
        var ps = r.GetProperty("policies");
        Assert.Equal(2, ps.GetArrayLength());
        Assert.Equal(ps[0].GetProperty("prefill_ms_unpruned").GetDouble(), ps[1].GetProperty("prefill_ms_unpruned").GetDouble());
        Assert.True(ps[0].GetProperty("mean_visual_tokens").GetDouble() > ps[1].GetProperty("mean_visual_tokens").GetDouble());

        var only = CliTests.Run("bench", "--shape", NextGolden.ModelDir, "--policy-only", "--reps", "1", "--policy", "fastv", "--budget", "40", "--json");
        Assert.True(only.code == 0, only.stderr);
        using var d2 = JsonDocument.Parse(only.stdout);
        Assert.False(d2.RootElement.TryGetProperty("prefill", out _));
        Assert.False(d2.RootElement.TryGetProperty("vision", out _));
        Assert.True(d2.RootElement.GetProperty("policy").GetProperty("flop_ratio").GetDouble() > 1);

        var both = CliTests.Run("bench", "--shape", "tiny", "--no-gemm", "--policy", "fastv", "--budget", "40", "--budgets", "40,30");
        Assert.Equal(2, both.code);
        Assert.Contains("--budgets and --budget", both.stderr);
    }

    [Fact]
    public void UnknownShapeIsOneLine()
    {
        var (code, _, stderr) = CliTests.Run("bench", "--shape", Path.Combine(TestPaths.TempDir(), "nope"), "--no-gemm");
        Assert.NotEqual(0, code);
        Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }
}
