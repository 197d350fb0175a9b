using AutoPrune.Models;

namespace AutoPrune.Tests.Models;

/// <summary>Token choice on hand-checkable logits, and stop sequences on the real tokenizer.</summary>
public sealed class SamplingTests(TinyModelFixture fx) : IClassFixture<TinyModelFixture>
{
    private static Sampling Make(GenerationOptions o, int vocab = 4, params int[] prompt) => new(o, vocab, prompt);

    [Fact]
    public void GreedyIsArgmaxWithinTheVocabulary()
    {
        // Id 4 is beyond the tokenizer's 4 ids (a padded lm_head row): never chosen even though it is largest.
        Assert.Equal(2, Make(new GenerationOptions()).Next([0f, 1f, 3f, 2f, 9f]));
    }

    [Fact]
    public void RepetitionPenaltyDividesPositiveAndMultipliesNegativeLogits()
    {
        // Id 2 (logit 3) was in the prompt: 3 / 2 = 1.5 < 2, so id 3 wins.
        Assert.Equal(3, Make(new GenerationOptions { RepetitionPenalty = 2 }, 4, 2).Next([0f, 1f, 3f, 2f]));
        // Negative logits move away from zero: id 0 (-1 * 3 = -3) loses to id 1 (-2).
        Assert.Equal(1, Make(new GenerationOptions { RepetitionPenalty = 3 }, 2, 0).Next([-1f, -2f]));
        // Generated ids count too: the second greedy step avoids the first choice.
        var s = Make(new GenerationOptions { RepetitionPenalty = 2 }, 3);
        Assert.Equal(0, s.Next([3f, 2f, 0f]));
        Assert.Equal(1, s.Next([3f, 2f, 0f]));
    }

    [Fact]
    public void LogitBiasIsAdded() =>
        Assert.Equal(1, Make(new GenerationOptions { LogitBias = new Dictionary<int, float> { [2] = -100, [1] = 1.5f } }).Next([0f, 1f, 3f, 2f]));

    [Fact]
    public void TopKOneAndTinyTopPAreGreedy()
    {
        float[] logits = [0.5f, 1f, 3f, 2.9f];
        for (int seed = 0; seed < 20; seed++)
        {
            Assert.Equal(2, Make(new GenerationOptions { Temperature = 5, TopK = 1, Seed = seed }).Next(logits));
            Assert.Equal(2, Make(new GenerationOptions { Temperature = 5, TopP = 0.01f, Seed = seed }).Next(logits));
        }
    }

    [Fact]
    public void DrawFollowsTheSoftmax()
    {
        // Logits 0 and ln 3 at temperature 1: probabilities 1/4 and 3/4. 4000 draws: 3000 expected, sd 27.
        var s = Make(new GenerationOptions { Temperature = 1, Seed = 5 }, 2);
        int ones = 0;
        for (int i = 0; i < 4000; i++) ones += s.Next([0f, MathF.Log(3)]);
        Assert.InRange(ones, 2850, 3150);
        // Temperature 0.5 squares the odds: 9:1.
        var t = Make(new GenerationOptions { Temperature = 0.5f, Seed = 5 }, 2);
        ones = 0;
        for (int i = 0; i < 4000; i++) ones += t.Next([0f, MathF.Log(3)]);
        Assert.InRange(ones, 3500, 3700);
        // top-k 2 of 3 leaves only ids 1 and 2.
        var k = Make(new GenerationOptions { Temperature = 1, TopK = 2, Seed = 1 }, 3);
        for (int i = 0; i < 500; i++) Assert.NotEqual(0, k.Next([0f, 0.1f, 0.2f]));
    }

    [Fact]
    public void SameSeedSameDraws()
    {
        var rng = new Random(1);
        var logits = new float[100];
        for (int i = 0; i < logits.Length; i++) logits[i] = (float)rng.NextDouble() * 4;
        var o = new GenerationOptions { Temperature = 1.2f, TopP = 0.9f, TopK = 40, Seed = 42 };
        var a = Make(o, 100); var b = Make(o, 100); var c = Make(o with { Seed = 43 }, 100);
        var da = Enumerable.Range(0, 50).Select(_ => a.Next(logits)).ToArray();
        Assert.Equal(da, Enumerable.Range(0, 50).Select(_ => b.Next(logits)).ToArray());
        Assert.NotEqual(da, Enumerable.Range(0, 50).Select(_ => c.Next(logits)).ToArray());
    }

    [Theory]
    [InlineData(0, 0f, 1f, 0, 1f)]
    [InlineData(8, -1f, 1f, 0, 1f)]
    [InlineData(8, float.NaN, 1f, 0, 1f)]
    [InlineData(8, 1f, 0f, 0, 1f)]
    [InlineData(8, 1f, 1.5f, 0, 1f)]
    [InlineData(8, 1f, 1f, -1, 1f)]
    [InlineData(8, 1f, 1f, 0, 0f)]
    [InlineData(8, 1f, 1f, 0, float.PositiveInfinity)]
    public void OutOfRangeSettingsAreTypedErrors(int maxNew, float temperature, float topP, int topK, float penalty) =>
        Assert.Throws<GenerationOptionException>(() => Sampling.Validate(new GenerationOptions
        {
            MaxNewTokens = maxNew, Temperature = temperature, TopP = topP, TopK = topK, RepetitionPenalty = penalty,
        }));

    [Fact]
    public void StopSequenceEndsTheTextAndIsHeldBackWhileIncomplete()
    {
        var tok = fx.F32.Tokenizer;
        var ids = tok.EncodePrompt("the red circle is left of the blue square")[1..];   // without BOS
        var stream = new TextStream(tok, ["of the"]);
        var pieces = new List<string>();
        int pushed = 0;
        foreach (var id in ids)
        {
            pieces.Add(stream.Push(id));
            pushed++;
            if (stream.Stopped) break;
        }
        pieces.Add(stream.Flush());
        Assert.True(stream.Stopped);
        Assert.True(pushed < ids.Length);
        Assert.Equal("the red circle is left", stream.Text);
        Assert.Equal(stream.Text, string.Concat(pieces));
        Assert.DoesNotContain(pieces, p => p.Contains("of", StringComparison.Ordinal));

        var plain = new TextStream(tok);
        var all = string.Concat(ids.Select(plain.Push)) + plain.Flush();
        Assert.Equal("the red circle is left of the blue square", all);
        Assert.Equal(all, plain.Text);
    }
}
