using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using AutoPrune.Models;
using AutoPrune.Server;

namespace AutoPrune.Tests.Server;

/// <summary>Server tests share one model and run one after another (each server they start binds a loopback port).</summary>
[CollectionDefinition(Name)]
public sealed class ServerCollection : ICollectionFixture<ServerFixture> { public const string Name = "server"; }

/// <summary>
/// The embedded model (with room in its context for two images) served on 127.0.0.1 at a free port for the whole
/// collection; stopped at the end.
/// </summary>
public sealed class ServerFixture : IAsyncLifetime
{
    public LlavaModel Model { get; } = LlavaModel.Load(TinyModelCopy.LongContext());
    public AutoPruneServer Server { get; private set; } = null!;
    public HttpClient Http { get; private set; } = null!;
    public string Url => Server.Url;

    public static readonly byte[] Scene1 = File.ReadAllBytes(Path.Combine(TestPaths.Samples, "scene1.png"));
    public static readonly byte[] Scene2 = File.ReadAllBytes(Path.Combine(TestPaths.Samples, "scene2.png"));
    public static readonly byte[] Scene3 = File.ReadAllBytes(Path.Combine(TestPaths.Samples, "scene3.png"));

    public static ServerOptions Options => new() { Port = 0, LogFormat = "none", MaxPromptTokens = 1200 };

    public async Task InitializeAsync()
    {
        Server = new AutoPruneServer(Model, Options);
        await Server.StartAsync();
        Http = new HttpClient { BaseAddress = new Uri(Url), Timeout = TimeSpan.FromSeconds(60) };
    }

    public async Task DisposeAsync()
    {
        Http.Dispose();
        await Server.DisposeAsync();
        Model.Dispose();
    }

    public static string DataUrl(byte[] png) => "data:image/png;base64," + Convert.ToBase64String(png);

    /// <summary>A one-question request body: the image, then the question.</summary>
    public static JsonObject Question(string question, byte[]? image = null, JsonObject? extra = null)
    {
        var body = new JsonObject
        {
            ["model"] = "llava-shapes-tiny",
            ["messages"] = new JsonArray(new JsonObject
            {
                ["role"] = "user",
                ["content"] = new JsonArray(
                    new JsonObject { ["type"] = "image_url", ["image_url"] = new JsonObject { ["url"] = DataUrl(image ?? Scene1) } },
                    new JsonObject { ["type"] = "text", ["text"] = question }),
            }),
        };
        foreach (var (k, v) in extra ?? []) body[k] = v?.DeepClone();
        return body;
    }

    public static async Task<(int status, JsonNode? json, HttpResponseMessage res)> PostAsync(HttpClient http, string body, CancellationToken ct = default)
    {
        var res = await http.PostAsync("/v1/chat/completions", new StringContent(body, Encoding.UTF8, "application/json"), ct);
        var text = await res.Content.ReadAsStringAsync(ct);
        JsonNode? json = null;
        try { json = JsonNode.Parse(text); } catch (JsonException) { }
        return ((int)res.StatusCode, json, res);
    }

    public Task<(int status, JsonNode? json, HttpResponseMessage res)> PostAsync(JsonObject body, CancellationToken ct = default) =>
        PostAsync(Http, body.ToJsonString(), ct);
}

internal static class JsonObjectExtensions
{
    public static JsonObject Also(this JsonObject o, string key, JsonNode? value) { o[key] = value; return o; }
}
