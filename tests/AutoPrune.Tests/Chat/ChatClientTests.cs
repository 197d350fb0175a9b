using AutoPrune.Chat;
using AutoPrune.Models;
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
    public async Task ConversationAnswersLikeOneFreshPrefill()
    {
        // A three-turn conversation through the client, each answer fed back, against one prefill of the whole
        // conversation with the same policy.
        Func<IPruningPolicy> policy = () => PolicyFactory.Create("autoprune", new PolicyOptions { Budget = 57 });
        IChatClient client = new LlavaChatClient(fx.F32, policy);
        var history = new List<ChatMessage> { Ask(2, "What color is the triangle?") };
        foreach (var q in new[] { "How many objects are there?", "Is there a red shape?" })
        {
            history.Add((await client.GetResponseAsync(history)).Messages[0]);
            history.Add(new ChatMessage(ChatRole.User, q));
        }
        var r = await client.GetResponseAsync(history);
        var expected = Generator.Chat(fx.F32, LlavaChatClient.ToTurns(history), new GenerationOptions { Policy = policy() });
        Assert.Equal(expected.Text, r.Text);
        Assert.Equal(expected.Trace.MeanVisualTokens, (double)r.AdditionalProperties!["mean_visual_tokens"]!);
        Assert.Equal(5, LlavaChatClient.ToTurns(history).Count);
    }

    [Fact]
    public async Task StopSequencesAndTopKReachTheSampler()
    {
        IChatClient client = new LlavaChatClient(fx.F32);
        var full = await client.GetResponseAsync([Ask(0, "Is there a yellow square?")]);
        var greedyK1 = await client.GetResponseAsync([Ask(0, "Is there a yellow square?")], new ChatOptions { Temperature = 2, TopK = 1, Seed = 9 });
        Assert.Equal(full.Text, greedyK1.Text);
        var cut = await client.GetResponseAsync([Ask(0, "Is there a yellow square?")], new ChatOptions { StopSequences = [full.Text[1..]] });
        Assert.Equal(full.Text[..1], cut.Text);
        Assert.Equal(ChatFinishReason.Stop, cut.FinishReason);
    }

    [Fact]
    public async Task TextOnlyQuestionsAnswerAndBadConversationsAreRefused()
    {
        IChatClient client = new LlavaChatClient(fx.F32);
        var text = await client.GetResponseAsync([new ChatMessage(ChatRole.User, "How many objects are there?")]);
        Assert.Equal(Generator.Chat(fx.F32, [new Turn(Speaker.User, "How many objects are there?")]).Text, text.Text);
        Assert.Equal(0.0, (double)text.AdditionalProperties!["mean_visual_tokens"]!);
        await Assert.ThrowsAsync<InvalidPromptException>(() => client.GetResponseAsync([Ask(0, "a?"), new ChatMessage(ChatRole.Assistant, "b")]));
        Assert.NotNull(client.GetService(typeof(ChatClientMetadata)));
    }
}
