using System.Text.Json;
using AutoPrune.Cli;

namespace AutoPrune.Tests.Cli;

/// <summary>The CLI end to end: real model, real images; every bad input is one line on stderr and a non-zero exit.</summary>
public sealed class CliTests
{
    internal static (int code, string stdout, string stderr) Run(params string[] args)
    {
        var o = new StringWriter(); var e = new StringWriter();
        int code = global::AutoPrune.Cli.Cli.Run(global::AutoPrune.Cli.Cli.BuildRoot(), args, o, e);
        return (code, o.ToString(), e.ToString());
    }

    private static string Case(int i) => Path.Combine(TestPaths.Golden, $"case{i}.png");

    [Fact]
    public void AskJsonHasTheDocumentedFields()
    {
        var (code, stdout, stderr) = Run("ask", "--image", Case(0), "Is there a yellow square?", "--model", TestPaths.TinyModel, "--json");
        Assert.True(code == 0, stderr);
        using var doc = JsonDocument.Parse(stdout);
        var r = doc.RootElement;
        Assert.Equal("yes", r.GetProperty("answer").GetString());   // the golden greedy answer of case 0
        Assert.Equal(15, r.GetProperty("prompt_tokens").GetInt32());
        Assert.Equal(256, r.GetProperty("visual_tokens").GetInt32());
        Assert.True(r.GetProperty("prefill_ms").GetDouble() > 0);
        Assert.True(r.GetProperty("decode_ms").GetDouble() >= 0);
        Assert.Equal(8, r.GetProperty("trace").GetProperty("visual_tokens_per_layer").GetArrayLength());
        Assert.Equal("f32", r.GetProperty("kv_cache").GetString());
    }

    [Fact]
    public void InspectReportsParameterCountAndDtypes()
    {
        var (code, stdout, stderr) = Run("inspect", "--model", TestPaths.TinyModel, "--json");
        Assert.True(code == 0, stderr);
        using var doc = JsonDocument.Parse(stdout);
        Assert.Equal(7_740_032, doc.RootElement.GetProperty("parameters").GetInt64());   // the model card's total
        Assert.Equal(166, doc.RootElement.GetProperty("tensors").GetInt32());
        Assert.True(doc.RootElement.GetProperty("dtypes").TryGetProperty("F32", out _));
    }

    [Theory]
    [InlineData("missing-model")]
    [InlineData("missing-image")]
    [InlineData("not-an-image")]
    [InlineData("empty-question")]
    [InlineData("unknown-policy")]
    [InlineData("bad-budget")]
    public void BadInputIsOneLineAndNonZeroExit(string kind)
    {
        var dir = TestPaths.TempDir();
        var junk = Path.Combine(dir, "junk.png");
        File.WriteAllText(junk, "this is not a PNG");
        string[] args = kind switch
        {
            "missing-model" => ["ask", "--image", Case(0), "Q?", "--model", Path.Combine(dir, "nope")],
            "missing-image" => ["ask", "--image", Path.Combine(dir, "nope.png"), "Q?", "--model", TestPaths.TinyModel],
            "not-an-image" => ["ask", "--image", junk, "Q?", "--model", TestPaths.TinyModel],
            "empty-question" => ["ask", "--image", Case(0), "  ", "--model", TestPaths.TinyModel],
            "unknown-policy" => ["ask", "--image", Case(0), "Q?", "--model", TestPaths.TinyModel, "--policy", "magic"],
            _ => ["ask", "--image", Case(0), "Q?", "--model", TestPaths.TinyModel, "--budget", "-3"],
        };
        var (code, stdout, stderr) = Run(args);
        Assert.NotEqual(0, code);
        Assert.Equal("", stdout);
        var lines = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        Assert.StartsWith("error: ", lines[0]);
        Assert.DoesNotContain("   at ", stderr);
    }

    [Fact]
    public void CorruptWeightsFileIsOneLine()
    {
        var dir = TestPaths.TempDir();
        foreach (var f in Directory.EnumerateFiles(TestPaths.TinyModel))
            if (!f.EndsWith(".safetensors")) File.Copy(f, Path.Combine(dir, Path.GetFileName(f)));
        var bytes = File.ReadAllBytes(Path.Combine(TestPaths.TinyModel, "model.safetensors"));
        File.WriteAllBytes(Path.Combine(dir, "model.safetensors"), bytes.AsSpan(0, bytes.Length / 2).ToArray());   // truncated
        var (code, _, stderr) = Run("ask", "--image", Case(0), "Q?", "--model", dir);
        Assert.Equal(1, code);
        Assert.Contains("model.safetensors", stderr);
        Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    [Fact]
    public void HelpListsEveryVerb()
    {
        var (code, stdout, _) = Run("--help");
        Assert.Equal(0, code);
        foreach (var verb in new[] { "ask", "inspect" }) Assert.Contains(verb, stdout);
    }

    [Fact]
    public void SummaryLineCountsTokensIntoTheDecoderAndImageTime()
    {
        var (code, _, stderr) = Run("ask", "--image", Case(0), "Is there a yellow square?", "--model", TestPaths.TinyModel,
            "--policy", "fastervlm", "--budget", "57", "--max-new-tokens", "2");
        Assert.True(code == 0, stderr);
        Assert.Contains("57 of 256 visual tokens", stderr);     // not "256 visual tokens" for a pre-decoder policy
        Assert.Matches(@"\| image \d+\.\d ms \|", stderr);
        (code, _, stderr) = Run("ask", "--image", Case(0), "Is there a yellow square?", "--model", TestPaths.TinyModel, "--max-new-tokens", "2");
        Assert.True(code == 0, stderr);
        Assert.Contains("+ 256 visual tokens)", stderr);
    }

    [Theory]
    [InlineData("autoprune")]
    [InlineData("fastv")]
    [InlineData("divprune")]
    public void ABudgetAtOrAboveTheVisualTokensMeansNoPruningForEveryPolicy(string policy)
    {
        var (code, stdout, stderr) = Run("ask", "--image", Case(0), "Is there a yellow square?", "--model", TestPaths.TinyModel,
            "--policy", policy, "--budget", "1000000", "--max-new-tokens", "1", "--trace");
        Assert.True(code == 0, stderr);
        Assert.Contains("note: budget 1000000 >= the 256 visual tokens of the image: no pruning", stdout);
        Assert.Contains("mean visual tokens/layer 256.0", stderr);
    }
}
