using System.Text.Json.Nodes;
using AutoPrune.Loading;
using AutoPrune.Models.LlavaNext;
using AutoPrune.Pruning;
using AutoPrune.Tests.Support;

namespace AutoPrune.Tests.Models.LlavaNext;

/// <summary>
/// Pruning over NeXT's packed sequence. image_newline tokens are visual tokens: they are part of HF's image-token count,
/// sit in the image span, cost decoder FLOPs and can be pruned; they have no tile, hence no [CLS] attention.
/// </summary>
public sealed class NextPruningTests(NextModelFixture fx) : IClassFixture<NextModelFixture>
{
    public static IEnumerable<object[]> Baselines() =>
        [["fastv"], ["pdrop"], ["sparsevlm"], ["fastervlm"], ["visionzip"], ["divprune"], ["random"], ["uniform"]];

    private (AnyresFeatures Image, global::AutoPrune.Models.TokenizedPrompt Prompt) Input(string name = "case2")
    {
        var g = new NextGolden(name);
        return (fx.Model.EncodeAnyres(ImageLoader.Load(g.ImagePath)), fx.Model.Tokenize(g["question"].GetString()!));
    }

    private static IPruningPolicy Create(string name, double budget) => PolicyFactory.Create(name, new PolicyOptions { Budget = budget });

    [Fact]
    public void NewlineTokensAreVisualTokensWithoutClsAttention()
    {
        var (image, prompt) = Input("case0"); // 16 base + 32 grid + 4 newlines
        Assert.Equal(52, image.Tokens);
        var newlines = Enumerable.Range(0, image.Tokens).Where(k => image.Layout.Tokens[k].IsNewline).ToArray();
        Assert.Equal([24, 33, 42, 51], newlines);
        Assert.All(newlines, k => Assert.Equal(0f, image.ClsAttention[k]));
        // Every other token carries its own tile's [CLS] attention at its patch.
        var t = image.Layout.Tokens[30];
        Assert.Equal(image.PerTile[t.Tile].ClsAttention[t.Patch], image.ClsAttention[30]);
        Assert.NotEqual(image.PerTile[0].ClsAttention[t.Patch], image.ClsAttention[30]);

        var pre = fx.Model.Prefill(image, prompt);
        Assert.Equal(52, pre.Trace.VisualTokensIn);
        Assert.All(pre.Trace.VisualTokensPerLayer, c => Assert.Equal(52, c));
    }

    [Fact]
    public void FasterVlmKeepsTheTopTokensByTheirTilesClsAttention()
    {
        var (image, prompt) = Input("case0");
        var pre = fx.Model.Prefill(image, prompt, Create("fastervlm", 20));
        var expected = Enumerable.Range(0, image.Tokens).OrderByDescending(k => image.ClsAttention[k]).ThenBy(k => k).Take(20).Order().ToArray();
        Assert.Equal(expected, pre.Trace.VisualIdsPerLayer[0].Order().ToArray());
        Assert.DoesNotContain(pre.Trace.VisualIdsPerLayer[0], k => image.Layout.Tokens[k].IsNewline);
    }

    [Theory, MemberData(nameof(Baselines))]
    public void FullBudgetGivesTheUnprunedLogitsExactly(string name)
    {
        var (image, prompt) = Input();
        var reference = fx.Model.Prefill(image, prompt);
        var pruned = fx.Model.Prefill(image, prompt, Create(name, image.Tokens));
        Assert.Equal(reference.Logits, pruned.Logits);
    }

    [Theory]
    [InlineData("autoprune", 30.0)]
    [InlineData("fastv", 70.0)]
    [InlineData("visionzip", 30.0)]
    [InlineData("divprune", 30.0)]
    public void PoliciesMeetTheBudgetOnThePackedSequence(string name, double budget)
    {
        var (image, prompt) = Input(); // 88 visual tokens, 4 layers
        var pre = fx.Model.Prefill(image, prompt, name == "autoprune"
            ? PolicyFactory.Create(name, new PolicyOptions { Budget = budget, Settings = new Dictionary<string, string> { ["budget-mode"] = "strict" } })
            : Create(name, budget));
        Assert.InRange(pre.Trace.MeanVisualTokens, budget - 1, budget + 1);
        Assert.True(pre.Trace.Flops < pre.Trace.FlopsUnpruned);
        Assert.Equal(4, NextDecoderParityTests.NextGreedy(fx.Model, image, prompt, 4, Create(name, budget)).Length);
    }

    [Fact]
    public void SpatialPackingRunsThroughTheDecoder()
    {
        var g = new NextGolden("case0");
        var image = fx.Spatial.EncodeAnyres(ImageLoader.Load(g.ImagePath));
        var pre = fx.Spatial.Prefill(image, fx.Spatial.Tokenize(g["question"].GetString()!), Create("autoprune", 30));
        Assert.Equal(80, pre.Trace.VisualTokensIn);
        Assert.All(pre.Logits, v => Assert.True(float.IsFinite(v)));
    }
}

public sealed class NextContextTests : TempDirTest
{
    [Fact]
    public void MoreImageTokensThanTheContextIsATypedError()
    {
        foreach (var f in Directory.GetFiles(NextGolden.ModelDir))
            File.Copy(f, Path.Combine(Dir, Path.GetFileName(f)));
        var cfg = JsonNode.Parse(File.ReadAllText(Path.Combine(Dir, "config.json")))!.AsObject();
        cfg["text_config"]!["max_position_embeddings"] = 64;
        File.WriteAllText(Path.Combine(Dir, "config.json"), cfg.ToJsonString());
        using var m = LlavaNextModel.Load(Dir);
        var g = new NextGolden("case2"); // 88 image tokens
        var image = m.EncodeAnyres(ImageLoader.Load(g.ImagePath));
        var e = Assert.Throws<InvalidPromptException>(() => m.Prefill(image, m.Tokenize("What is it?")));
        Assert.Contains("88 visual tokens", e.Message);
        Assert.Contains("context of 64", e.Message);
        // A small image still fits.
        var small = m.EncodeAnyres(new RgbImage(2, 2, new byte[12]));
        Assert.True(small.Tokens < 40);
        Assert.NotNull(m.Prefill(small, m.Tokenize("What is it?"), reserveForDecode: 4));
    }
}
