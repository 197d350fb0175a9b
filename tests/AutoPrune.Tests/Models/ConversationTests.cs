using AutoPrune.Models;
using AutoPrune.Pruning;

namespace AutoPrune.Tests.Models;

/// <summary>Conversations with several turns and images: the template, the feature cache, pruning over all images.</summary>
public sealed class ConversationTests(TinyModelFixture fx) : IClassFixture<TinyModelFixture>
{
    private static readonly Lazy<LlavaModel> LongContext = new(() => LlavaModel.Load(TinyModelCopy.LongContext()));

    private static ImageInput Image(string name) => ImageInput.FromFile(Path.Combine(TestPaths.Samples, name));

    [Fact]
    public void TemplateJoinsTurnsAsLlavaHf()
    {
        var turns = new List<Turn>
        {
            new(Speaker.System, "Answer briefly."),
            new(Speaker.User, "What color is the triangle?", [Image("scene1.png"), Image("scene2.png")]),
            new(Speaker.Assistant, "green"),
            new(Speaker.User, "And the circle?"),
        };
        Assert.Equal("Answer briefly. USER: <image>\n<image>\nWhat color is the triangle? ASSISTANT: green USER: And the circle? ASSISTANT:",
            ChatTemplate.Format(turns));
        Assert.Equal("[INST] <image>\n<image>\nWhat color is the triangle? [/INST] green [INST] And the circle? [/INST]",
            ChatTemplate.Format(turns[1..], "mistral"));
        Assert.Throws<InvalidPromptException>(() => ChatTemplate.Format(turns[..3]));
        Assert.Equal(4, fx.F32.TokenizeConversation(turns).Images + 2);
    }

    [Fact]
    public void CachedImagesGiveTheSameAnswerWithoutReEncoding()
    {
        var m = LongContext.Value;
        var cache = new ImageFeatureCache(m);
        var policy = () => PolicyFactory.Create("autoprune", new PolicyOptions { Budget = 86 });
        var turns = new List<Turn> { new(Speaker.User, "What color is the triangle?", [Image("scene3.png")]) };
        var first = Generator.Chat(m, turns, new GenerationOptions { Policy = policy() }, cache);
        Assert.Equal((0, 1), (cache.Hits, cache.Misses));
        turns.AddRange([new(Speaker.Assistant, first.Text), new(Speaker.User, "How many objects are there?", [Image("scene1.png")])]);

        var cached = Generator.Chat(m, turns, new GenerationOptions { Policy = policy() }, cache);
        Assert.Equal((1, 2), (cache.Hits, cache.Misses));
        var fresh = Generator.Chat(m, turns, new GenerationOptions { Policy = policy() });
        Assert.Equal(fresh.OutputIds, cached.OutputIds);
        Assert.Equal(fresh.Trace.VisualTokensPerLayer, cached.Trace.VisualTokensPerLayer);
        Assert.Equal(2, cached.Trace.ImageVisualTokensPerLayer.Length);
        Assert.Equal(512, cached.VisualTokens);

        // The same bytes under another name are the same image.
        Generator.Chat(m, [new Turn(Speaker.User, "Is there a red shape?", [new ImageInput(File.ReadAllBytes(Path.Combine(TestPaths.Samples, "scene3.png")), "copy")])],
            null, cache);
        Assert.Equal(2, cache.Hits);
        Assert.Throws<ArgumentException>(() => cache.GetOrEncode(fx.Bf16, Image("scene1.png")));
    }
}
