using System.Collections.Concurrent;
using System.Net;
using System.Text.Json.Nodes;
using AutoPrune.Models;
using AutoPrune.Pruning;
using AutoPrune.Server;

namespace AutoPrune.Tests.Server;

/// <summary>Concurrent clients, queue overflow and client disconnects.</summary>
[Collection(ServerCollection.Name)]
public sealed class ServerLoadTests(ServerFixture fx)
{
    /// <summary>Distinct requests: three images x questions x policies.</summary>
    private static readonly (byte[] image, string question, string policy, double? budget)[] Cases =
    [
        (ServerFixture.Scene1, "What color is the triangle?", "none", null),
        (ServerFixture.Scene2, "How many objects are there?", "autoprune", 57),
        (ServerFixture.Scene3, "Is there a red shape?", "fastervlm", 40),
        (ServerFixture.Scene1, "What shape is the blue object?", "divprune", 86),
        (ServerFixture.Scene2, "What color is the circle?", "none", null),
        (ServerFixture.Scene3, "How many objects are there?", "autoprune", 86),
    ];

    private static JsonObject Body(int i) => ServerFixture.Question(Cases[i].question, Cases[i].image, new JsonObject
    {
        ["max_tokens"] = 8,
        ["autoprune"] = new JsonObject { ["policy"] = Cases[i].policy, ["budget"] = Cases[i].budget },
    });

    [Fact]
    public async Task EightClientsTwoHundredRequestsAnswerAsSequentially()
    {
        var expected = new string[Cases.Length];
        for (int i = 0; i < Cases.Length; i++)
        {
            var (image, q, p, b) = Cases[i];
            expected[i] = Generator.Chat(fx.Model, [new Turn(Speaker.User, q, [new ImageInput(image, "case")])],
                new GenerationOptions { MaxNewTokens = 8, Policy = PolicyFactory.Create(p, new PolicyOptions { Budget = b }) }).Text;
        }

        // A queue as deep as the clients: every request is admitted, none refused.
        await using var server = new AutoPruneServer(fx.Model, ServerFixture.Options with { MaxQueued = 8 });
        await server.StartAsync();
        using var http = new HttpClient { BaseAddress = new Uri(server.Url), Timeout = TimeSpan.FromSeconds(120) };
        var mismatches = new ConcurrentBag<string>();
        int next = -1;
        var clients = Enumerable.Range(0, 8).Select(_ => Task.Run(async () =>
        {
            int n;
            while ((n = Interlocked.Increment(ref next)) < 200)
            {
                int c = n % Cases.Length;
                var (status, json, _) = await ServerFixture.PostAsync(http, Body(c).ToJsonString());
                var text = json?["choices"]?[0]?["message"]?["content"]?.GetValue<string>();
                if (status != 200 || text != expected[c]) mismatches.Add($"request {n} (case {c}): {status} '{text}' expected '{expected[c]}'");
            }
        })).ToArray();
        await Task.WhenAll(clients);
        Assert.Empty(mismatches);
    }

    [Fact]
    public async Task QueueOverflowIsRefusedWithRetryAfterAndTheServerStaysUp()
    {
        await using var server = new AutoPruneServer(fx.Model, ServerFixture.Options with { MaxQueued = 1 });
        await server.StartAsync();
        using var http = new HttpClient { BaseAddress = new Uri(server.Url), Timeout = TimeSpan.FromSeconds(120) };
        // Long answers (end of sequence banned) keep the slot busy while the others arrive.
        var slow = ServerFixture.Question("What color is the triangle?", extra: new JsonObject
        {
            ["max_tokens"] = 48, ["logit_bias"] = new JsonObject { ["2"] = -100 },
        }).ToJsonString();
        var all = await Task.WhenAll(Enumerable.Range(0, 10).Select(_ => ServerFixture.PostAsync(http, slow)));
        var refused = all.Where(r => r.status == 429).ToList();
        Assert.All(all, r => Assert.True(r.status is 200 or 429, $"status {r.status}"));
        Assert.InRange(all.Count(r => r.status == 200), 2, 9);
        Assert.NotEmpty(refused);
        foreach (var r in refused)
        {
            Assert.True(r.res.Headers.RetryAfter?.Delta >= TimeSpan.FromSeconds(1));
            Assert.Equal("rate_limit_error", r.json!["error"]!["type"]!.GetValue<string>());
        }
        var after = await ServerFixture.PostAsync(http, ServerFixture.Question("What color is the triangle?").ToJsonString());
        Assert.Equal(200, after.status);
    }

    [Fact]
    public async Task ClientDisconnectCancelsGeneration()
    {
        await using var server = new AutoPruneServer(fx.Model, ServerFixture.Options);
        await server.StartAsync();
        // No draining of the abandoned response for connection reuse: the client really goes away.
        using var http = new HttpClient(new SocketsHttpHandler { MaxResponseDrainSize = 0 })
        {
            BaseAddress = new Uri(server.Url), Timeout = TimeSpan.FromSeconds(120),
        };
        var endless = ServerFixture.Question("What color is the triangle?", extra: new JsonObject
        {
            ["stream"] = true, ["max_tokens"] = 240, ["logit_bias"] = new JsonObject { ["2"] = -100 },
        }).ToJsonString();
        using (var cts = new CancellationTokenSource())
        {
            var req = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = new StringContent(endless) };
            using var res = await http.SendAsync(req, HttpCompletionOption.ResponseHeadersRead, cts.Token);
            Assert.Equal(HttpStatusCode.OK, res.StatusCode);
            using var reader = new StreamReader(await res.Content.ReadAsStreamAsync(cts.Token));
            for (int events = 0; events < 3;)
                if ((await reader.ReadLineAsync(cts.Token))!.StartsWith("data: ")) events++;
            cts.Cancel();
        }
        // The slot is freed well before 240 tokens would have been generated.
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (server.Admitted > 0 && DateTime.UtcNow < deadline) await Task.Delay(20);
        Assert.Equal(0, server.Admitted);
        Assert.Equal(1, server.Cancelled);
        var after = await ServerFixture.PostAsync(http, ServerFixture.Question("What color is the triangle?").ToJsonString());
        Assert.Equal(200, after.status);
    }
}
