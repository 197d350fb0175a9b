using AutoPrune.Evaluation;
using AutoPrune.Models;

namespace AutoPrune.Tests.Models;

/// <summary>Prompt length against the context, max new tokens, non-finite logits and weights changed under a loaded model.</summary>
public sealed class RunLimitsTests(TinyModelFixture fx) : IClassFixture<TinyModelFixture>
{
    private static string Image => Path.Combine(TestPaths.Golden, "case0.png");

    [Theory]
    [InlineData(0)]
    [InlineData(-5)]
    [InlineData(513)]          // the tiny model's context is 512
    [InlineData(10_000_000)]
    public void MaxNewTokensOutOfRangeIsTyped(int maxNew)
    {
        var e = Assert.Throws<GenerationOptionException>(() =>
            Generator.Ask(fx.F32, Image, "What color?", new GenerationOptions { MaxNewTokens = maxNew }));
        Assert.Contains($"max new tokens {maxNew}", e.Message);
        Assert.Contains("512", e.Message);
    }

    [Fact]
    public void BadSamplingSettingsAreTyped()
    {
        Assert.Throws<GenerationOptionException>(() => Generator.Ask(fx.F32, Image, "Q?", new GenerationOptions { Temperature = float.NaN }));
        Assert.Throws<GenerationOptionException>(() => Generator.Ask(fx.F32, Image, "Q?", new GenerationOptions { TopP = 0 }));
    }

    [Fact]
    public void APromptLongerThanTheContextIsRefusedBeforeAnyWork()
    {
        var words = string.Join(" ", Enumerable.Repeat("red", 600)); // about 600 tokens: within the character bound, over the positions
        var e = Assert.Throws<InvalidPromptException>(() => Generator.Ask(fx.F32, Image, words));
        Assert.Contains("max_position_embeddings of 512", e.Message);
        Assert.Contains("256 visual", e.Message);
    }

    [Fact]
    public void MegabytesOfQuestionAreRefusedWithoutTokenizing()
    {
        var huge = new string('x', 10_000_000);
        var sw = System.Diagnostics.Stopwatch.StartNew();
        var e = Assert.Throws<InvalidPromptException>(() => fx.F32.Tokenize(huge));
        Assert.Contains("characters", e.Message);
        Assert.True(sw.Elapsed.TotalSeconds < 5, "the length check must come before tokenization");
    }

    /// <summary>A question whose prompt leaves exactly <paramref name="room"/> positions for the answer.</summary>
    private string QuestionLeaving(int room)
    {
        int context = fx.F32.Config.Text.MaxPositionEmbeddings, visual = fx.F32.ImageTokens;
        for (int n = 1; n < 400; n++)
        {
            var q = "Is it " + string.Join(" ", Enumerable.Repeat("red", n)) + "?";
            int left = context - fx.F32.Tokenize(q).TextTokens - visual;
            if (left == room) return q;
            if (left < room) break;
        }
        throw new InvalidOperationException($"no question leaves exactly {room} positions");
    }

    [Fact]
    public void PromptPlusAnswerOverTheContextIsRefusedOrCutWhenAsked()
    {
        var q = QuestionLeaving(3);
        var e = Assert.Throws<InvalidPromptException>(() => Generator.Ask(fx.F32, Image, q, new GenerationOptions { MaxNewTokens = 8 }));
        Assert.Contains("at most 3 new tokens", e.Message);
        var cut = Generator.Ask(fx.F32, Image, q, new GenerationOptions { MaxNewTokens = 8, FitToContext = true });
        Assert.InRange(cut.OutputIds.Length, 1, 3);
        Assert.Equal(cut.OutputIds, Generator.Ask(fx.F32, Image, q, new GenerationOptions { MaxNewTokens = 3 }).OutputIds);
    }

    [Fact]
    public void EvalOfAHugeQuestionIsATypedErrorNotACrash()
    {
        var dir = EvalFixtures.WriteBenchmark([$"{{\"question_id\": 1, \"image\": \"a.png\", \"text\": \"{new string('y', 200_000)}\"}}"],
            ["{\"question_id\": 1, \"answer\": \"red\"}"], []);
        File.Copy(Image, Path.Combine(dir, "images", "a.png"));
        var set = EvalFixtures.Load(dir);
        var preds = Path.Combine(TestPaths.TempDir(), "p.jsonl");
        Assert.Throws<InvalidPromptException>(() => EvalRunner.Run(set, EvalFixtures.Settings(), preds, ModelAnswerer.Create(fx.F32, null, null)));
    }

    [Fact]
    public void NanWeightsAreAnErrorNotAnEmptyAnswer()
    {
        using var m = LlavaModel.Load(TinyModelCopy.WithPoisonedBf16("language_model.model.norm.weight", 0x7FC0));
        var e = Assert.Throws<NonFiniteValueException>(() => Generator.Ask(m, Image, "What color is the triangle?"));
        Assert.Contains("after the prefill", e.Message);
        Assert.Equal("language_model.model.norm.weight", m.Weights.FindNonFinite()!.Value.Tensor);
    }

    [Fact]
    public void WeightsRewrittenUnderALoadedModelAreReportedAtTheNextRun()
    {
        var dir = TinyModelCopy.WithPoisonedBf16("language_model.model.norm.weight", 0x3F80); // 1.0: a copy, still finite
        var file = Path.Combine(dir, "model.bf16.safetensors");
        using var m = LlavaModel.Load(dir);
        Assert.NotEmpty(Generator.Ask(m, Image, "What color?").OutputIds);
        File.SetLastWriteTimeUtc(file, DateTime.UtcNow.AddMinutes(5)); // what an in-place rewrite does
        var e = Assert.Throws<ModelLoadException>(() => Generator.Ask(m, Image, "What color?"));
        Assert.Contains(file, e.Message);
        Assert.Contains("modified since the model was loaded", e.Message);
    }
}
