using System.Text.Json;

namespace AutoPrune.Tests.Cli;

/// <summary>`ask --policy autoprune` end to end through the CLI.</summary>
public sealed class AutoPruneCliTests
{
    private static string Case0 => Path.Combine(TestPaths.Golden, "case0.png");

    [Fact]
    public void AskJsonHasTheTraceFields()
    {
        var (code, stdout, stderr) = CliTests.Run("ask", "--image", Case0, "Is there a yellow square?", "--model", TestPaths.TinyModel,
            "--policy", "autoprune", "--budget", "57", "--json");
        Assert.True(code == 0, stderr);
        using var doc = JsonDocument.Parse(stdout);
        var t = doc.RootElement.GetProperty("trace");
        foreach (var key in new[] { "visual_tokens_per_layer", "mean_visual_tokens", "flops", "flops_unpruned", "flops_reduction", "mi0", "mi1", "k",
                                    "scale", "preselected", "budget_mean_accounted", "retention_curve", "planned_visual_tokens" })
            Assert.True(t.TryGetProperty(key, out _), $"trace lacks {key}");
        Assert.Equal("autoprune", doc.RootElement.GetProperty("policy").GetString());
        Assert.Equal(57, t.GetProperty("budget").GetDouble());
        Assert.True(t.GetProperty("flops_reduction").GetDouble() > 0);
        Assert.True(t.GetProperty("flops").GetDouble() < t.GetProperty("flops_unpruned").GetDouble());
    }

    [Fact]
    public void AskTracePrintsTheTable()
    {
        var (code, stdout, stderr) = CliTests.Run("ask", "--image", Case0, "Is there a yellow square?", "--model", TestPaths.TinyModel,
            "--policy", "autoprune", "--budget", "57", "--trace");
        Assert.True(code == 0, stderr);
        Assert.Contains("policy autoprune budget 57", stdout);
        Assert.Contains("\nlayer ", stdout);
        Assert.Contains("\nvisual ", stdout);
        Assert.Contains("mean visual tokens/layer", stdout);
        Assert.Contains("mi0 ", stdout);
        Assert.Contains("| k ", stdout);
    }

    [Fact]
    public void DedicatedFlagsReachThePolicy()
    {
        var (code, stdout, stderr) = CliTests.Run("ask", "--image", Case0, "Is there a yellow square?", "--model", TestPaths.TinyModel,
            "--policy", "autoprune", "--budget", "57", "--budget-mode", "strict", "--mi-norm", "mean", "--k0", "0.6", "--gamma", "0.05",
            "--x0", "20", "--no-recycle", "--json");
        Assert.True(code == 0, stderr);
        using var doc = JsonDocument.Parse(stdout);
        var t = doc.RootElement.GetProperty("trace");
        double mi1 = t.GetProperty("mi1").GetDouble(), sum = t.GetProperty("mi1_sum").GetDouble();
        var config = AutoPrune.Loading.LlavaConfig.Load(Path.Combine(TestPaths.TinyModel, "config.json")).Text;
        int heads = config.NumAttentionHeads, layers = config.NumHiddenLayers;
        Assert.True(Math.Abs(mi1 * heads - sum) < 1e-9 * Math.Max(1, sum));
        Assert.Equal(Math.Max(0.6 - 0.05 * mi1, 0), t.GetProperty("k").GetDouble(), 9);
        Assert.Equal(20.0 * layers / 32, t.GetProperty("x0").GetDouble(), 12);
        // strict: the plain mean is the accounted one
        Assert.Equal(t.GetProperty("mean_visual_tokens").GetDouble(), t.GetProperty("budget_mean_accounted").GetDouble(), 3);
    }

    [Theory]
    [InlineData("--budget-mode", "strict", "--budget", "30", "lowest feasible budget is")]
    [InlineData("--mi-norm", "median", "--budget", "57", "mi-norm")]
    [InlineData("--k0", "-1", "--budget", "57", "k0")]
    public void BadFlagsAreOneLineErrors(string flag, string value, string flag2, string value2, string expected)
    {
        var (code, stdout, stderr) = CliTests.Run("ask", "--image", Case0, "Q?", "--model", TestPaths.TinyModel, "--policy", "autoprune",
            flag, value, flag2, value2);
        Assert.NotEqual(0, code);
        Assert.Equal("", stdout);
        var lines = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        Assert.StartsWith("error: ", lines[0]);
        Assert.Contains(expected, lines[0]);
    }
}
