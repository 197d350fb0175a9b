using System.Text;
using System.Text.Json.Nodes;

namespace AutoPrune.Tests.Server;

/// <summary>Hundreds of malformed requests, each answered with a 4xx OpenAI error; the server then still answers.</summary>
[Collection(ServerCollection.Name)]
public sealed class MalformedRequestTests(ServerFixture fx)
{
    private static readonly byte[] Png = ServerFixture.Scene1;

    private static string Valid(JsonObject? extra = null) => ServerFixture.Question("What color is the triangle?", Png, extra).ToJsonString();

    /// <summary>A valid body with the value at a JSON path replaced (the path's last step is set, or removed when value is "REMOVE").</summary>
    private static string With(string path, JsonNode? value)
    {
        var body = ServerFixture.Question("What color is the triangle?", Png);
        body["autoprune"] = new JsonObject { ["policy"] = "autoprune", ["budget"] = 57 };
        var steps = path.Split('.');
        JsonNode node = body;
        foreach (var s in steps[..^1]) node = int.TryParse(s, out var i) ? node[i]! : node[s]!;
        var last = steps[^1];
        if (int.TryParse(last, out var idx)) node[idx] = value; else node[last] = value;
        return body.ToJsonString();
    }

    private static IEnumerable<(string name, byte[] body)> Cases()
    {
        static (string, byte[]) C(string name, string body) => (name, Encoding.UTF8.GetBytes(body));
        var valid = Valid();

        // Truncated JSON: 80 prefixes spread over the body (a proper prefix of an object is never valid JSON).
        for (int i = 0; i < 80; i++) yield return C($"truncated at {i}", valid[..(int)((long)valid.Length * i / 80)]);

        // Known fields with values of the wrong type.
        var wrongTypes = new (string path, JsonNode?[] values)[]
        {
            ("messages", [JsonValue.Create(1), JsonValue.Create("hi"), new JsonObject(), JsonValue.Create(true), null]),
            ("model", [JsonValue.Create(1), new JsonArray(), new JsonObject(), JsonValue.Create(false)]),
            ("stream", [JsonValue.Create("yes"), JsonValue.Create(1), new JsonArray()]),
            ("max_tokens", [JsonValue.Create("8"), JsonValue.Create(1.5), new JsonArray(), JsonValue.Create(true), JsonValue.Create(1e20)]),
            ("max_completion_tokens", [JsonValue.Create("8"), new JsonObject()]),
            ("temperature", [JsonValue.Create("0"), new JsonArray(), JsonValue.Create(true)]),
            ("top_p", [JsonValue.Create("1"), new JsonObject()]),
            ("top_k", [JsonValue.Create("5"), JsonValue.Create(2.5)]),
            ("seed", [JsonValue.Create("1"), JsonValue.Create(0.5), new JsonArray()]),
            ("repetition_penalty", [JsonValue.Create("1.1"), new JsonArray()]),
            ("stop", [JsonValue.Create(1), new JsonArray(JsonValue.Create(1)), new JsonObject(), JsonValue.Create(true)]),
            ("logit_bias", [JsonValue.Create(1), new JsonArray(), JsonValue.Create("2:-100"), new JsonObject { ["2"] = "x" }]),
            ("n", [JsonValue.Create("1"), JsonValue.Create(1.5)]),
            ("stream_options", [JsonValue.Create(1), JsonValue.Create("x"), new JsonObject { ["include_usage"] = "yes" }]),
            ("autoprune", [JsonValue.Create(1), JsonValue.Create("autoprune"), new JsonArray()]),
            ("autoprune.policy", [JsonValue.Create(1), new JsonArray(), JsonValue.Create(true)]),
            ("autoprune.budget", [JsonValue.Create("57"), new JsonArray(), JsonValue.Create(true)]),
            ("autoprune.settings", [JsonValue.Create(1), JsonValue.Create("x0=3"), new JsonObject { ["x0"] = new JsonArray() }]),
            ("autoprune.positions", [JsonValue.Create(1), JsonValue.Create("sideways")]),
            ("messages.0", [JsonValue.Create(1), JsonValue.Create("user"), new JsonArray(), null]),
            ("messages.0.role", [JsonValue.Create(1), JsonValue.Create("robot"), JsonValue.Create("tool"), null, new JsonObject()]),
            ("messages.0.content", [JsonValue.Create(1), new JsonObject(), JsonValue.Create(true), null]),
            ("messages.0.content.0", [JsonValue.Create(1), JsonValue.Create("image"), null]),
            ("messages.0.content.0.type", [JsonValue.Create(1), JsonValue.Create("video"), null]),
            ("messages.0.content.0.image_url", [JsonValue.Create(1), new JsonArray(), null, new JsonObject()]),
            ("messages.0.content.0.image_url.url", [JsonValue.Create(1), new JsonArray(), null, JsonValue.Create("")]),
            ("messages.0.content.1.text", [JsonValue.Create(1), new JsonArray(), null]),
        };
        foreach (var (path, values) in wrongTypes)
            foreach (var v in values) yield return C($"{path} = {v?.ToJsonString() ?? "null"}", With(path, v));

        // Values out of range or features the engine lacks.
        var outOfRange = new (string path, JsonNode? value)[]
        {
            ("max_tokens", 0), ("max_tokens", -5), ("max_tokens", 100000), ("temperature", -1), ("temperature", 3), ("top_p", 0),
            ("top_p", 1.5), ("top_k", -1), ("n", 2), ("repetition_penalty", 0), ("repetition_penalty", -1), ("repetition_penalty", 11),
            ("logit_bias", new JsonObject { ["x"] = 1 }), ("logit_bias", new JsonObject { ["2"] = 500 }), ("logit_bias", new JsonObject { ["99999"] = 1 }),
            ("logit_bias", new JsonObject { ["-3"] = 1 }), ("stop", new JsonArray("a", "b", "c", "d", "e")), ("stop", ""), ("stop", new string('x', 65)),
            ("autoprune.budget", 0), ("autoprune.budget", -3), ("autoprune.policy", "nope"), ("autoprune.settings", new JsonObject { ["x0"] = "abc" }),
            ("autoprune.settings", new JsonObject { ["no-such-setting"] = 1 }), ("frequency_penalty", 0.5), ("presence_penalty", -1), ("logprobs", true),
            ("tools", new JsonArray(new JsonObject())), ("tool_choice", "auto"), ("response_format", new JsonObject { ["type"] = "json_object" }),
            ("messages", new JsonArray()), ("messages.0.role", "assistant"), ("messages.0.role", "system"),
            ("messages.0.content.1.text", " "), ("messages.0.content.1.text", "compare <image> with that"),
        };
        foreach (var (path, v) in outOfRange) yield return C($"{path} = {v?.ToJsonString()}", With(path, v));
        yield return C("infeasible budget", With("autoprune", new JsonObject { ["policy"] = "fastv", ["budget"] = 5 }));

        // Huge strings.
        yield return C("40k-character question", With("messages.0.content.1.text", new string('a', 40_000)));
        yield return C("huge role", With("messages.0.role", new string('r', 1_000_000)));
        yield return C("huge model name then bad messages", $$"""{"model":"{{new string('m', 2_000_000)}}","messages":5}""");
        yield return C("33 MB body", $$"""{"messages":[{"role":"user","content":"{{new string('a', 33 * 1024 * 1024)}}"}]}""");
        yield return C("12 MB image", With("messages.0.content.0.image_url.url", "data:image/png;base64," + Convert.ToBase64String(new byte[12 * 1024 * 1024])));

        // Image URLs that are not images.
        foreach (var url in new[]
        {
            "data:image/png;base64,!!!!", "data:image/png;base64,abc", "data:image/png;base64", "data:image/png,plain",
            "data:text/plain;base64," + Convert.ToBase64String(Png), "data:image/png;base64,", "http://example.com/a.png",
            "https://example.com/a.png", "/etc/passwd", "file:///etc/hostname", "relative/path.png", "ftp://x/y.png",
            "data:image/png;base64," + Convert.ToBase64String(Encoding.UTF8.GetBytes("<html>not a png</html>")),
            "data:image/png;base64," + Convert.ToBase64String([.. Png.AsSpan(0, 8), .. new byte[64]]),
        })
            yield return C($"image url {url[..Math.Min(url.Length, 40)]}", With("messages.0.content.0.image_url.url", url));
        // Random bytes under an image media type.
        var rng = new Random(11);
        for (int i = 0; i < 100; i++)
        {
            var bytes = new byte[1 + rng.Next(2000)];
            rng.NextBytes(bytes);
            string mt = (i % 3) switch { 0 => "image/png", 1 => "image/jpeg", _ => "image/gif" };
            yield return C($"random bytes {i}", With("messages.0.content.0.image_url.url", $"data:{mt};base64,{Convert.ToBase64String(bytes)}"));
        }
        // 50 images in one message.
        var many = new JsonArray();
        for (int i = 0; i < 50; i++) many.Add(new JsonObject { ["type"] = "image_url", ["image_url"] = new JsonObject { ["url"] = ServerFixture.DataUrl(Png) } });
        many.Add(new JsonObject { ["type"] = "text", ["text"] = "What is there?" });
        yield return C("50 images", With("messages.0.content", many));

        // Bodies that are not a request object.
        foreach (var b in new[] { "", "[]", "\"hello\"", "1", "null", "{", "}", "{\"messages\":[", "{'messages': []}", "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]} trailing",
            new string('[', 5000) + new string(']', 5000), "{\"a\":" + new string('{', 100) + new string('}', 100) + "}" })
            yield return C($"body {b[..Math.Min(b.Length, 30)]}", b);
        yield return ("invalid UTF-8", [0x7B, 0x22, 0x6D, 0xFF, 0xFE, 0x22, 0x3A, 0x31, 0x7D]);
        // A conversation whose last message is not the user's question.
        yield return C("ends with assistant", """{"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"hello"}]}""");
    }

    [Fact]
    public async Task EveryMalformedRequestGetsA4xxAndTheServerStaysUp()
    {
        int count = 0;
        var failures = new List<string>();
        foreach (var (name, body) in Cases())
        {
            count++;
            using var content = new ByteArrayContent(body);
            content.Headers.ContentType = new("application/json");
            // With Expect: 100-continue an oversized body is refused (413) before it is sent, so the client reads the answer.
            using var req = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = content };
            req.Headers.ExpectContinue = true;
            using var res = await fx.Http.SendAsync(req);
            int status = (int)res.StatusCode;
            var text = await res.Content.ReadAsStringAsync();
            JsonNode? err = null;
            try { err = JsonNode.Parse(text)?["error"]; } catch (System.Text.Json.JsonException) { }
            if (status is < 400 or > 499 || err?["message"] == null || err["type"] == null)
                failures.Add($"{name}: {status} {text[..Math.Min(text.Length, 200)]}");
        }
        Assert.True(count >= 300, $"only {count} cases");
        Assert.Empty(failures);

        var (ok, json, _) = await fx.PostAsync(ServerFixture.Question("What color is the triangle?"));
        Assert.Equal(200, ok);
        Assert.False(string.IsNullOrEmpty(json!["choices"]![0]!["message"]!["content"]!.GetValue<string>()));
    }
}
