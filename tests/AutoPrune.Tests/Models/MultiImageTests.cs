using AutoPrune.Models;
using AutoPrune.Pruning;

namespace AutoPrune.Tests.Models;

/// <summary>Prompts with several &lt;image&gt; placeholders: merge, one visual set for the policy, per-image accounting.</summary>
public sealed class MultiImageTests(TinyModelFixture fx) : IClassFixture<TinyModelFixture>
{
    private (TokenizedPrompt Prompt, ImageFeatures A, ImageFeatures B) TwoImages()
    {
        var m = fx.F32;
        var a = m.EncodeImage(m.PreprocessImage(new GoldenReference("case0").ImagePath));
        var b = m.EncodeImage(m.PreprocessImage(new GoldenReference("case1").ImagePath));
        return (m.Tokenize("What color is the triangle?", images: 2), a, b);
    }

    [Fact]
    public void EachImageLandsAtItsPlaceholder()
    {
        var m = fx.F32;
        var (prompt, a, b) = TwoImages();
        Assert.Equal(2, prompt.Images);
        Assert.All(prompt.ImagePositions, p => Assert.Equal(m.Config.ImageTokenIndex, prompt.Ids[p]));
        int d = m.Config.Text.HiddenSize, n0 = m.ImageTokens;
        var run = m.StartRun(prompt, [a, b]);
        float[] merged = [];
        run.OnMerged = (h, n) => merged = h[..(n * d)];
        run.Prefill();

        Assert.Equal((prompt.Ids.Length - 2 + 2 * n0) * d, merged.Length);
        int rowA = prompt.ImagePositions[0], rowB = prompt.ImagePositions[1] + n0 - 1;
        Assert.Equal(a.Features, merged[(rowA * d)..((rowA + n0) * d)]);
        Assert.Equal(b.Features, merged[(rowB * d)..((rowB + n0) * d)]);
        // The text between the images is the embedding of the tokens between the placeholders.
        int between = prompt.ImagePositions[1] - prompt.ImagePositions[0] - 1;
        Assert.True(between > 0);
        var text = new float[between * d];
        m.LanguageModel.Embed(prompt.Ids.AsSpan(prompt.ImagePositions[0] + 1, between), text);
        Assert.Equal(text, merged[((rowA + n0) * d)..(rowB * d)]);

        Assert.Equal([new ImageSpan(0, 0, n0, rowA), new ImageSpan(1, n0, n0, rowB)], run.Spans);
        Assert.All(run.Trace.VisualTokensPerLayer, v => Assert.Equal(2 * n0, v));
        Assert.All(run.Trace.ImageVisualTokensPerLayer, perLayer => Assert.All(perLayer, v => Assert.Equal(n0, v)));
        Assert.Equal(2 * n0, run.Trace.VisualTokensIn);
    }

    /// <summary>Causal attention: the rows up to the end of the first image see the same prefix as a one-image prompt.</summary>
    [Fact]
    public void FirstImageRowsMatchTheOneImagePrompt()
    {
        var m = fx.F32;
        var (two, a, b) = TwoImages();
        var one = m.Tokenize("What color is the triangle?");
        int d = m.Config.Text.HiddenSize, rows = one.ImagePositions[0] + m.ImageTokens;
        Assert.Equal(one.Ids[..one.ImagePositions[0]], two.Ids[..two.ImagePositions[0]]);
        float[] Last(TokenizedPrompt p, ImageFeatures[] images)
        {
            var run = m.StartRun(p, images);
            float[] last = [];
            run.OnLayerOutput = (l, h, n) => { if (l == m.Config.Text.NumHiddenLayers - 1) last = h[..(rows * d)]; };
            run.Prefill();
            return last;
        }
        Compare.Close("first image rows", Last(two, [a, b]), Last(one, [a]), 1e-5, 0.999999);
    }

    [Theory]
    [InlineData("autoprune", 100.0)]
    [InlineData("fastv", 100.0)]
    [InlineData("sparsevlm", 100.0)]
    [InlineData("divprune", 100.0)]
    [InlineData("visionzip", 100.0)]
    public void PoliciesPruneBothImagesAsOneSet(string name, double budget)
    {
        var m = fx.F32;
        var (prompt, a, b) = TwoImages();
        var run = m.StartRun(prompt, [a, b], PolicyFactory.Create(name, new PolicyOptions { Budget = budget }), reserveForDecode: 4);
        var ids = run.Generate(4, l => Sampling.Argmax(l), m.Tokenizer.EosId);
        Assert.NotEmpty(ids);
        var t = run.Trace;
        int L = m.Config.Text.NumHiddenLayers;
        Assert.True(t.VisualTokensPerLayer[^1] < 2 * m.ImageTokens);
        for (int l = 0; l < L; l++)
        {
            Assert.Equal(t.VisualTokensPerLayer[l], t.ImageVisualTokensPerLayer[0][l] + t.ImageVisualTokensPerLayer[1][l]);
            // Every layer's cache holds the text and exactly the visual tokens it processed (plus the decoded tokens).
            Assert.Equal(prompt.TextTokens + t.VisualTokensPerLayer[l] + run.DecodedTokens, run.Cache.Layers[l].Length);
        }
        Assert.InRange(t.MeanVisualTokens, budget - 1, budget + 1);   // the budget is what the layers process, for every policy
        var spans = run.Spans;
        Assert.Equal(t.VisualTokensPerLayer[^1], spans[0].Count + spans[1].Count);
        Assert.Equal(spans[0].Row + spans[0].Count + (prompt.ImagePositions[1] - prompt.ImagePositions[0] - 1), spans[1].Row);
    }

    [Fact]
    public void PlaceholderAndImageCountsMustAgree()
    {
        var m = fx.F32;
        var (prompt, a, _) = TwoImages();
        Assert.Throws<InvalidPromptException>(() => m.StartRun(prompt, [a]));
        Assert.Throws<InvalidPromptException>(() => m.Prefill(new float[3], prompt));
    }

    /// <summary>A text-only turn runs under any policy: there is nothing to prune.</summary>
    [Fact]
    public void PromptWithoutImagesRuns()
    {
        var m = fx.F32;
        var prompt = m.TokenizePrompt("USER: What is a triangle? ASSISTANT:");
        Assert.Equal(0, prompt.Images);
        var run = m.StartRun(prompt, [], PolicyFactory.Create("autoprune", new PolicyOptions { Budget = 57 }));
        Assert.NotEmpty(run.Generate(3, l => Sampling.Argmax(l), m.Tokenizer.EosId));
        Assert.All(run.Trace.VisualTokensPerLayer, v => Assert.Equal(0, v));
    }

    /// <summary>One policy and one model shared by concurrent runs give exactly the answers of sequential runs.</summary>
    [Fact]
    public void PolicyAndModelAreSafeToShareAcrossThreads()
    {
        var m = fx.F32;
        var policy = PolicyFactory.Create("autoprune", new PolicyOptions { Budget = 57 });
        var cases = new[] { "case0", "case1", "case2", "case0" }.Select(c => new GoldenReference(c)).ToArray();
        Answer Ask(GoldenReference g) => Generator.Ask(m, g.ImagePath, g.Question, new GenerationOptions { Policy = policy, MaxNewTokens = 4 });
        var sequential = cases.Select(Ask).ToArray();
        var concurrent = new Answer[cases.Length];
        Parallel.For(0, cases.Length, new ParallelOptions { MaxDegreeOfParallelism = cases.Length }, i => concurrent[i] = Ask(cases[i]));
        for (int i = 0; i < cases.Length; i++)
        {
            Assert.Equal(sequential[i].OutputIds, concurrent[i].OutputIds);
            Assert.Equal(sequential[i].Trace.VisualTokensPerLayer, concurrent[i].Trace.VisualTokensPerLayer);
            Assert.Equal(sequential[i].Trace.Values["k"], concurrent[i].Trace.Values["k"]);
        }
    }
}
