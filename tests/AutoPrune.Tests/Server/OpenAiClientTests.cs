#pragma warning disable SCME0001 // JsonPatch (extension fields) is marked experimental in the OpenAI library
using System.ClientModel;
using System.ClientModel.Primitives;
using System.Text;
using System.Text.Json;
using AutoPrune.Models;
using AutoPrune.Pruning;
using Microsoft.Extensions.AI;
using OpenAI;
using OpenAI.Chat;
using ChatMessage = OpenAI.Chat.ChatMessage;
using ChatFinishReason = OpenAI.Chat.ChatFinishReason;

namespace AutoPrune.Tests.Server;

/// <summary>The official OpenAI .NET library and Microsoft.Extensions.AI.OpenAI against the server on loopback.</summary>
[Collection(ServerCollection.Name)]
public sealed class OpenAiClientTests(ServerFixture fx)
{
    private const string Q = "What color is the triangle?";

    private ChatClient Client() => new("llava-shapes-tiny", new ApiKeyCredential("unused"),
        new OpenAIClientOptions { Endpoint = new Uri(fx.Url + "/v1"), RetryPolicy = new ClientRetryPolicy(0) });

    private static UserChatMessage Ask(string question, params byte[][] images)
    {
        var parts = new List<ChatMessageContentPart>();
        foreach (var im in images) parts.Add(ChatMessageContentPart.CreateImagePart(BinaryData.FromBytes(im), "image/png"));
        parts.Add(ChatMessageContentPart.CreateTextPart(question));
        return new UserChatMessage(parts);
    }

    private Answer Reference(IReadOnlyList<Turn> turns, IPruningPolicy? policy = null) =>
        Generator.Chat(fx.Model, turns, new GenerationOptions { Policy = policy });

    [Fact]
    public async Task AnswerEqualsAsk()
    {
        var expected = Generator.Ask(fx.Model, Path.Combine(TestPaths.Samples, "scene1.png"), Q);
        ChatCompletion c = await Client().CompleteChatAsync([Ask(Q, ServerFixture.Scene1)]);
        Assert.Equal(expected.Text, c.Content[0].Text);
        Assert.Equal(ChatFinishReason.Stop, c.FinishReason);
        Assert.Equal(expected.OutputIds.Length, c.Usage.OutputTokenCount);
        Assert.Equal(expected.PromptTokens - 1 + 256, c.Usage.InputTokenCount);
        Assert.Equal(fx.Server.ModelId, c.Model);
    }

    [Fact]
    public async Task StreamedAnswerConcatenatesToTheSameText()
    {
        var expected = Generator.Ask(fx.Model, Path.Combine(TestPaths.Samples, "scene2.png"), "How many objects are there?");
        var text = new StringBuilder();
        ChatTokenUsage? usage = null;
        ChatFinishReason? finish = null;
        await foreach (var u in Client().CompleteChatStreamingAsync([Ask("How many objects are there?", ServerFixture.Scene2)]))
        {
            foreach (var part in u.ContentUpdate) text.Append(part.Text);
            usage ??= u.Usage;
            finish ??= u.FinishReason;
        }
        Assert.Equal(expected.Text, text.ToString());
        Assert.Equal(ChatFinishReason.Stop, finish);
        Assert.NotNull(usage);
        Assert.Equal(expected.OutputIds.Length, usage!.OutputTokenCount);
    }

    [Fact]
    public async Task ThreeTurnConversation()
    {
        var q1 = "What color is the triangle?";
        var a1 = Reference([new Turn(Speaker.User, q1, [new ImageInput(ServerFixture.Scene3, "scene3")])]).Text;
        var q2 = "How many objects are there?";
        var turns2 = new List<Turn> { new(Speaker.User, q1, [new ImageInput(ServerFixture.Scene3, "scene3")]), new(Speaker.Assistant, a1), new(Speaker.User, q2) };
        var a2 = Reference(turns2).Text;
        var q3 = "Is there a red shape?";
        var turns3 = new List<Turn>(turns2) { new(Speaker.Assistant, a2), new(Speaker.User, q3) };
        var expected = Reference(turns3);

        ChatMessage[] messages = [Ask(q1, ServerFixture.Scene3), new AssistantChatMessage(a1), new UserChatMessage(q2), new AssistantChatMessage(a2), new UserChatMessage(q3)];
        ChatCompletion c = await Client().CompleteChatAsync(messages);
        Assert.Equal(expected.Text, c.Content[0].Text);
        Assert.Equal(expected.PromptTokens - 1 + 256, c.Usage.InputTokenCount);
    }

    [Fact]
    public async Task TwoImagePrompt()
    {
        const string q = "Which picture has more objects?";
        var policy = PolicyFactory.Create("autoprune", new PolicyOptions { Budget = 86 });
        var expected = Reference([new Turn(Speaker.User, q, [new ImageInput(ServerFixture.Scene1, "a"), new ImageInput(ServerFixture.Scene2, "b")])], policy);
        var options = new ChatCompletionOptions();
        options.Patch.Set("$.autoprune"u8, BinaryData.FromString("""{"policy": "autoprune", "budget": 86}"""));
        ClientResult<ChatCompletion> r = await Client().CompleteChatAsync([Ask(q, ServerFixture.Scene1, ServerFixture.Scene2)], options);
        Assert.Equal(expected.Text, r.Value.Content[0].Text);
        Assert.Equal(expected.PromptTokens - 2 + 512, r.Value.Usage.InputTokenCount);
        using var doc = JsonDocument.Parse(r.GetRawResponse().Content);
        var ap = doc.RootElement.GetProperty("autoprune");
        Assert.Equal(512, ap.GetProperty("visual_tokens").GetInt32());
        Assert.Equal(expected.Trace.MeanVisualTokens, ap.GetProperty("mean_visual_tokens").GetDouble(), 3);
        var perImage = ap.GetProperty("image_visual_tokens_per_layer").EnumerateArray().ToList();
        Assert.Equal(2, perImage.Count);
        Assert.Equal(256, perImage[0][0].GetInt32());
        // The images' counts add up to the prompt's at every layer.
        var total = ap.GetProperty("visual_tokens_per_layer").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        for (int l = 0; l < total.Length; l++) Assert.Equal(total[l], perImage[0][l].GetInt32() + perImage[1][l].GetInt32());
    }

    [Fact]
    public async Task PruningExtensionIsHonored()
    {
        var expected = Generator.Ask(fx.Model, Path.Combine(TestPaths.Samples, "scene1.png"), Q,
            new GenerationOptions { Policy = PolicyFactory.Create("autoprune", new PolicyOptions { Budget = 57 }) });
        var options = new ChatCompletionOptions();
        options.Patch.Set("$.autoprune"u8, BinaryData.FromString("""{"policy": "autoprune", "budget": 57}"""));
        ClientResult<ChatCompletion> r = await Client().CompleteChatAsync([Ask(Q, ServerFixture.Scene1)], options);
        Assert.Equal(expected.Text, r.Value.Content[0].Text);
        using var doc = JsonDocument.Parse(r.GetRawResponse().Content);
        var ap = doc.RootElement.GetProperty("autoprune");
        Assert.Equal("autoprune", ap.GetProperty("policy").GetString());
        Assert.Equal(expected.Trace.MeanVisualTokens, ap.GetProperty("mean_visual_tokens").GetDouble(), 3);
        Assert.Equal(expected.Trace.VisualTokensPerLayer, ap.GetProperty("visual_tokens_per_layer").EnumerateArray().Select(e => e.GetInt32()));
        Assert.True(ap.GetProperty("flops_reduction").GetDouble() > 50);
    }

    [Fact]
    public async Task ErrorsAreClientErrors()
    {
        var options = new ChatCompletionOptions();
        options.Patch.Set("$.autoprune"u8, BinaryData.FromString("""{"policy": "fastv", "budget": 5}"""));
        var e = await Assert.ThrowsAsync<ClientResultException>(() => Client().CompleteChatAsync([Ask(Q, ServerFixture.Scene1)], options));
        Assert.Equal(400, e.Status);
        Assert.Contains("infeasible", e.Message);

        var bad = await Assert.ThrowsAsync<ClientResultException>(() => Client().CompleteChatAsync(
            [new UserChatMessage(ChatMessageContentPart.CreateImagePart(BinaryData.FromString("not an image"), "image/png"), ChatMessageContentPart.CreateTextPart(Q))]));
        Assert.Equal(400, bad.Status);
        Assert.Contains("image 1 of the request", bad.Message);

        var remote = await Assert.ThrowsAsync<ClientResultException>(() => Client().CompleteChatAsync(
            [new UserChatMessage(ChatMessageContentPart.CreateImagePart(new Uri("https://example.com/a.png")), ChatMessageContentPart.CreateTextPart(Q))]));
        Assert.Equal(400, remote.Status);
        Assert.Contains("remote image URLs are not fetched", remote.Message);
    }

    [Fact]
    public async Task MicrosoftExtensionsAiClient()
    {
        var expected = Generator.Ask(fx.Model, Path.Combine(TestPaths.Samples, "scene3.png"), Q);
        IChatClient chat = new OpenAIClient(new ApiKeyCredential("unused"),
                new OpenAIClientOptions { Endpoint = new Uri(fx.Url + "/v1"), RetryPolicy = new ClientRetryPolicy(0) })
            .GetChatClient("llava-shapes-tiny").AsIChatClient();
        var r = await chat.GetResponseAsync([new Microsoft.Extensions.AI.ChatMessage(ChatRole.User,
            [new DataContent(ServerFixture.Scene3, "image/png"), new TextContent(Q)])]);
        Assert.Equal(expected.Text, r.Text);
        Assert.Equal(expected.OutputIds.Length, r.Usage!.OutputTokenCount);

        var streamed = new StringBuilder();
        await foreach (var u in chat.GetStreamingResponseAsync([new Microsoft.Extensions.AI.ChatMessage(ChatRole.User,
            [new DataContent(ServerFixture.Scene3, "image/png"), new TextContent(Q)])]))
            streamed.Append(u.Text);
        Assert.Equal(expected.Text, streamed.ToString());

        var models = await new OpenAIClient(new ApiKeyCredential("unused"), new OpenAIClientOptions { Endpoint = new Uri(fx.Url + "/v1") })
            .GetOpenAIModelClient().GetModelsAsync();
        Assert.Equal(fx.Server.ModelId, Assert.Single(models.Value).Id);
    }
}
