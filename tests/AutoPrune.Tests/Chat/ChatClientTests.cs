using AutoPrune.Chat;
using AutoPrune.Pruning;
using Microsoft.Extensions.AI;

namespace AutoPrune.Tests.Chat;

/// <summary>The engine behind Microsoft.Extensions.AI's IChatClient, on the golden cases.</summary>
public sealed class ChatClientTests(TinyModelFixture fx) : IClassFixture<TinyModelFixture>
{
    private static ChatMessage Ask(int golden, string question) => new(ChatRole.User,
    [
        new DataContent(File.ReadAllBytes(Path.Combine(TestPaths.Golden, $"case{golden}.png")), "image/png"),
        new TextContent(question),
    ]);

    [Fact]
    public async Task AnswersLikeTheGenerator()
    {
        var g = new GoldenReference("case0");
        IChatClient client = new LlavaChatClient(fx.F32);
        var r = await client.GetResponseAsync([Ask(0, g.Question)]);
        Assert.Equal(g.GreedyText, r.Text);
        Assert.Equal(ChatFinishReason.Stop, r.FinishReason);
        Assert.Equal(g.GreedyIds.Length, r.Usage!.OutputTokenCount);
        Assert.Equal(256.0, (double)r.AdditionalProperties!["mean_visual_tokens"]!);
    }

    [Fact]
    public async Task StreamingConcatenatesToTheSameText()
    {
        var g = new GoldenReference("case2");
        IChatClient client = new LlavaChatClient(fx.F32);
        var text = "";
        UsageDetails? usage = null;
        await foreach (var u in client.GetStreamingResponseAsync([Ask(2, g.Question)]))
        {
            text += u.Text;
            foreach (var c in u.Contents) if (c is UsageContent uc) usage = uc.Details;
        }
        Assert.Equal(g.GreedyText, text);
        Assert.NotNull(usage);
    }

    [Fact]
    public async Task PolicyIsApplied()
    {
        IChatClient client = new LlavaChatClient(fx.F32, () => PolicyFactory.Create("fastervlm", new PolicyOptions { Budget = 57 }));
        var r = await client.GetResponseAsync([Ask(1, "How many objects are there?")]);
        Assert.Equal(57.0, (double)r.AdditionalProperties!["mean_visual_tokens"]!);
        Assert.True((double)r.AdditionalProperties!["flops_reduction"]! > 50);
    }

    [Fact]
    public async Task MessagesWithoutAnImageOrWithTwoTurnsAreRefused()
    {
        IChatClient client = new LlavaChatClient(fx.F32);
        await Assert.ThrowsAsync<InvalidPromptException>(() => client.GetResponseAsync([new ChatMessage(ChatRole.User, "hello")]));
        await Assert.ThrowsAsync<InvalidPromptException>(() => client.GetResponseAsync([Ask(0, "a?"), Ask(1, "b?")]));
        Assert.NotNull(client.GetService(typeof(ChatClientMetadata)));
    }
}
