using System.Text.Json;
using AutoPrune.Cli.Commands;

namespace AutoPrune.Tests.Cli;

/// <summary>The CLI on a LLaVA-NeXT folder: the same verbs, the family read from config.json.</summary>
public sealed class NextCliTests : TempDirTest
{
    private static string Model => NextGolden.ModelDir;
    private static string Case(int i) => Path.Combine(NextGolden.Dir, $"case{i}.png");

    [Fact]
    public void AskAnswersWithTheGoldenGreedyTokens()
    {
        var g = new NextGolden("case0");
        var (code, stdout, stderr) = CliTests.Run("ask", "--model", Model, "--image", Case(0), g["question"].GetString()!,
            "--max-new-tokens", "5", "--json");
        Assert.True(code == 0, stderr);
        using var doc = JsonDocument.Parse(stdout);
        var r = doc.RootElement;
        Assert.Equal(g.Ints("hf_generate_ids"), GoldenReference.Ints(r.GetProperty("output_ids")));
        Assert.Equal(g.Int("num_image_tokens"), r.GetProperty("visual_tokens").GetInt32());
    }

    [Fact]
    public void InspectNamesTheNextArchitecture()
    {
        var (code, stdout, stderr) = CliTests.Run("inspect", "--model", Model, "--json");
        Assert.True(code == 0, stderr);
        using var doc = JsonDocument.Parse(stdout);
        Assert.Equal("LlavaNextForConditionalGeneration", doc.RootElement.GetProperty("architecture").GetString());
    }

    [Fact]
    public void PadToSquareIsRefusedForNext()
    {
        var (code, stdout, stderr) = CliTests.Run("ask", "--model", Model, "--image", Case(0), "Q?", "--pad-to-square");
        Assert.Equal(1, code);
        Assert.Equal("", stdout);
        Assert.StartsWith("error: ", stderr);
        Assert.Contains("LLaVA-NeXT tiles the image", stderr);
        Assert.Single(stderr.Trim().Split('\n'));
    }

    [Fact]
    public void ExplainDrawsTileAndBaseViewsOfTheOriginalImage()
    {
        var (code, stdout, stderr) = CliTests.Run("explain", "What is it?", "--model", Model, "--image", Case(3),
            "--policy", "fastervlm", "--budget", "20", "--output", Dir);
        Assert.True(code == 0, stderr);
        Assert.Contains("visual tokens per layer 20 20 20 20", stdout);
        Assert.True(File.Exists(Path.Combine(Dir, ExplainCommand.FigureFile)));
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(Dir, ExplainCommand.TraceFile)));
        Assert.Equal(52, doc.RootElement.GetProperty("visual_tokens_in").GetInt32());
    }
}
