using System.Net;
using System.Text.Json.Nodes;
using AutoPrune.Models;
using AutoPrune.Server;

namespace AutoPrune.Tests.Server;

/// <summary>The wire format as raw HTTP: server-sent events, models, health, routes, shutdown, local images.</summary>
[Collection(ServerCollection.Name)]
public sealed class ServerProtocolTests(ServerFixture fx)
{
    [Fact]
    public async Task StreamIsServerSentEventsInOpenAiChunkFormat()
    {
        var body = ServerFixture.Question("How many objects are there?", ServerFixture.Scene2,
            new JsonObject { ["stream"] = true, ["stream_options"] = new JsonObject { ["include_usage"] = true } });
        using var res = await fx.Http.PostAsync("/v1/chat/completions", new StringContent(body.ToJsonString()));
        Assert.Equal(HttpStatusCode.OK, res.StatusCode);
        Assert.Equal("text/event-stream", res.Content.Headers.ContentType!.MediaType);
        var lines = (await res.Content.ReadAsStringAsync()).Split('\n');
        var events = lines.Where(l => l.StartsWith("data: ")).Select(l => l[6..]).ToList();
        Assert.Equal("[DONE]", events[^1]);
        Assert.All(lines.Where(l => l.Length > 0), l => Assert.StartsWith("data: ", l));
        var chunks = events[..^1].Select(e => JsonNode.Parse(e)!).ToList();
        Assert.All(chunks, c => Assert.Equal("chat.completion.chunk", c["object"]!.GetValue<string>()));
        Assert.Single(chunks.Select(c => c["id"]!.GetValue<string>()).Distinct());
        Assert.Equal("assistant", chunks[0]["choices"]![0]!["delta"]!["role"]!.GetValue<string>());
        var text = string.Concat(chunks.Where(c => c["choices"]!.AsArray().Count > 0)
            .Select(c => c["choices"]![0]!["delta"]!["content"]?.GetValue<string>() ?? ""));
        var expected = Generator.Ask(fx.Model, Path.Combine(TestPaths.Samples, "scene2.png"), "How many objects are there?");
        Assert.Equal(expected.Text, text);
        var final = chunks[^2];
        Assert.Equal("stop", final["choices"]![0]!["finish_reason"]!.GetValue<string>());
        Assert.Equal(256.0, final["autoprune"]!["mean_visual_tokens"]!.GetValue<double>());
        var usage = chunks[^1];
        Assert.Empty(usage["choices"]!.AsArray());
        Assert.Equal(expected.OutputIds.Length, usage["usage"]!["completion_tokens"]!.GetValue<int>());
    }

    [Fact]
    public async Task SamplingFieldsAreHonored()
    {
        static JsonObject Seeded() => new() { ["temperature"] = 1.5, ["top_k"] = 50, ["top_p"] = 0.95, ["seed"] = 7, ["max_tokens"] = 12,
            ["logit_bias"] = new JsonObject { ["2"] = -100 } };
        var a = (await fx.PostAsync(ServerFixture.Question("What color is the triangle?", extra: Seeded()))).json!;
        var b = (await fx.PostAsync(ServerFixture.Question("What color is the triangle?", extra: Seeded()))).json!;
        Assert.Equal(a["choices"]![0]!["message"]!["content"]!.GetValue<string>(), b["choices"]![0]!["message"]!["content"]!.GetValue<string>());
        Assert.Equal("length", a["choices"]![0]!["finish_reason"]!.GetValue<string>());
        Assert.Equal(12, a["usage"]!["completion_tokens"]!.GetValue<int>());

        var expected = Generator.Chat(fx.Model, [new Turn(Speaker.User, "What color is the triangle?", [new ImageInput(ServerFixture.Scene1, "s")])],
            new GenerationOptions { Temperature = 1.5f, TopK = 50, TopP = 0.95f, Seed = 7, MaxNewTokens = 12, LogitBias = new Dictionary<int, float> { [2] = -100 } });
        Assert.Equal(expected.Text, a["choices"]![0]!["message"]!["content"]!.GetValue<string>());

        // A stop sequence cuts the answer before it.
        var full = expected.Text;
        if (full.Length > 3)
        {
            var stop = full.Substring(full.Length / 2, 2);
            var cut = (await fx.PostAsync(ServerFixture.Question("What color is the triangle?", extra: Seeded().Also("stop", stop)))).json!;
            Assert.Equal(full[..full.IndexOf(stop, StringComparison.Ordinal)].TrimEnd(), cut["choices"]![0]!["message"]!["content"]!.GetValue<string>());
            Assert.Equal("stop", cut["choices"]![0]!["finish_reason"]!.GetValue<string>());
        }
    }

    [Fact]
    public async Task ModelsHealthAndUnknownRoutes()
    {
        var models = JsonNode.Parse(await fx.Http.GetStringAsync("/v1/models"))!;
        Assert.Equal("list", models["object"]!.GetValue<string>());
        Assert.Equal(fx.Server.ModelId, models["data"]![0]!["id"]!.GetValue<string>());
        var health = JsonNode.Parse(await fx.Http.GetStringAsync("/health"))!;
        Assert.Equal("ok", health["status"]!.GetValue<string>());
        using var missing = await fx.Http.GetAsync("/v1/completions");
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        Assert.NotNull(JsonNode.Parse(await missing.Content.ReadAsStringAsync())!["error"]);
        using var wrongMethod = await fx.Http.GetAsync("/v1/chat/completions");
        Assert.InRange((int)wrongMethod.StatusCode, 400, 499);
    }

    [Fact]
    public async Task ShutdownFinishesRequestsInFlight()
    {
        var server = new AutoPruneServer(fx.Model, ServerFixture.Options);
        await server.StartAsync();
        using var http = new HttpClient { BaseAddress = new Uri(server.Url), Timeout = TimeSpan.FromSeconds(120) };
        var slow = ServerFixture.Question("What color is the triangle?", extra: new JsonObject
        {
            ["max_tokens"] = 64, ["logit_bias"] = new JsonObject { ["2"] = -100 },
        });
        var inFlight = ServerFixture.PostAsync(http, slow.ToJsonString());
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (server.Admitted == 0 && DateTime.UtcNow < deadline) await Task.Delay(5);
        await server.DisposeAsync();
        var (status, json, _) = await inFlight;
        Assert.Equal(200, status);
        Assert.Equal(64, json!["usage"]!["completion_tokens"]!.GetValue<int>());
        await Assert.ThrowsAsync<HttpRequestException>(() => http.GetAsync("/health"));
    }

    [Fact]
    public async Task LocalImagePathsOnlyWhenAllowed()
    {
        var path = Path.Combine(TestPaths.Samples, "scene1.png");
        var body = ServerFixture.Question("What color is the triangle?");
        body["messages"]![0]!["content"]![0]!["image_url"]!["url"] = path;
        var refused = await fx.PostAsync(body);
        Assert.Equal(400, refused.status);

        await using var server = new AutoPruneServer(fx.Model, ServerFixture.Options with { AllowLocalImages = true });
        await server.StartAsync();
        using var http = new HttpClient { BaseAddress = new Uri(server.Url) };
        var (status, json, _) = await ServerFixture.PostAsync(http, body.ToJsonString());
        Assert.Equal(200, status);
        Assert.Equal(Generator.Ask(fx.Model, path, "What color is the triangle?").Text, json!["choices"]![0]!["message"]!["content"]!.GetValue<string>());
    }
}
