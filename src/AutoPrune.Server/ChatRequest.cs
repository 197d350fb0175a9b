using System.Text;
using System.Text.Json;
using AutoPrune.Models;

namespace AutoPrune.Server;

/// <summary>A parsed, validated POST /v1/chat/completions body.</summary>
public sealed record ChatRequest
{
    public required IReadOnlyList<Turn> Turns { get; init; }
    public int ImageCount { get { int n = 0; foreach (var t in Turns) n += t.Images.Count; return n; } }
    public string? Model { get; init; }
    public bool Stream { get; init; }
    public bool IncludeUsage { get; init; }
    public int? MaxTokens { get; init; }
    /// <summary>Greedy unless the request sets a temperature (OpenAI's default would be 1).</summary>
    public float Temperature { get; init; }
    public float TopP { get; init; } = 1f;
    public int TopK { get; init; }
    public int Seed { get; init; }
    public float RepetitionPenalty { get; init; } = 1f;
    public IReadOnlyList<string>? Stop { get; init; }
    public IReadOnlyDictionary<int, float>? LogitBias { get; init; }
    /// <summary>The "autoprune" extension object; null fields take the server's defaults.</summary>
    public string? Policy { get; init; }
    public double? Budget { get; init; }
    public IReadOnlyDictionary<string, string>? Settings { get; init; }
    public string? Positions { get; init; }
}

/// <summary>
/// Reads the OpenAI chat-completions request format. Known fields of the wrong type or out of range are 400s naming
/// the field; unknown fields are ignored (clients add their own); features the engine lacks (tools, n &gt; 1,
/// logprobs, remote image URLs) are refused by name.
/// </summary>
public static class ChatRequestParser
{
    public static ChatRequest Parse(ReadOnlySpan<byte> body, ServerOptions limits)
    {
        if (body.IsEmpty) throw ApiError.BadRequest("the request body is empty; expected a JSON object");
        JsonDocument doc;
        try { doc = JsonDocument.Parse(body.ToArray(), new JsonDocumentOptions { MaxDepth = 16 }); }
        catch (JsonException e) { throw ApiError.BadRequest($"the request body is not valid JSON: {e.Message}", code: "invalid_json"); }
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw ApiError.BadRequest("the request body must be a JSON object");
            return Read(root, limits);
        }
    }

    private static ChatRequest Read(JsonElement root, ServerOptions limits)
    {
        foreach (var unsupported in new[] { "tools", "functions", "tool_choice", "function_call", "audio" })
            if (root.TryGetProperty(unsupported, out var u) && u.ValueKind != JsonValueKind.Null)
                throw ApiError.BadRequest($"'{unsupported}' is not supported by this server", unsupported, "unsupported_parameter");
        if (Int(root, "n") is int n && n != 1) throw ApiError.BadRequest("only n = 1 is supported", "n", "unsupported_parameter");
        if (Bool(root, "logprobs") == true) throw ApiError.BadRequest("logprobs are not supported", "logprobs", "unsupported_parameter");
        foreach (var p in new[] { "frequency_penalty", "presence_penalty" })
            if (Number(root, p) is double v && v != 0)
                throw ApiError.BadRequest($"'{p}' is not supported; use 'repetition_penalty' (Hugging Face's multiplicative penalty)", p, "unsupported_parameter");
        if (root.TryGetProperty("response_format", out var rf) && rf.ValueKind != JsonValueKind.Null)
        {
            if (rf.ValueKind != JsonValueKind.Object || Str(rf, "type", "response_format.type") is not (null or "text"))
                throw ApiError.BadRequest("only the 'text' response format is supported", "response_format", "unsupported_parameter");
        }

        int? maxTokens = Int(root, "max_completion_tokens") ?? Int(root, "max_tokens");
        if (maxTokens is int mt && (mt < 1 || mt > limits.MaxNewTokens))
            throw ApiError.BadRequest($"max_tokens must be between 1 and {limits.MaxNewTokens} (got {mt})", "max_tokens");
        float temperature = (float)(Number(root, "temperature") ?? 0);
        if (temperature is < 0 or > 2) throw ApiError.BadRequest($"temperature must be between 0 and 2 (got {temperature})", "temperature");
        float topP = (float)(Number(root, "top_p") ?? 1);
        if (!(topP > 0 && topP <= 1)) throw ApiError.BadRequest($"top_p must be in (0, 1] (got {topP})", "top_p");
        int topK = Int(root, "top_k") ?? 0;
        if (topK < 0) throw ApiError.BadRequest($"top_k must be >= 0 (got {topK})", "top_k");
        float penalty = (float)(Number(root, "repetition_penalty") ?? 1);
        if (!(penalty > 0 && penalty <= 10)) throw ApiError.BadRequest($"repetition_penalty must be in (0, 10] (got {penalty})", "repetition_penalty");
        long seed = Long(root, "seed") ?? 0;

        bool stream = Bool(root, "stream") ?? false, includeUsage = false;
        if (root.TryGetProperty("stream_options", out var so) && so.ValueKind != JsonValueKind.Null)
        {
            if (so.ValueKind != JsonValueKind.Object) throw ApiError.BadRequest("'stream_options' must be an object", "stream_options");
            includeUsage = Bool(so, "include_usage", "stream_options.include_usage") ?? false;
        }

        var req = new ChatRequest
        {
            Turns = Messages(root, limits),
            Model = Str(root, "model"),
            Stream = stream, IncludeUsage = includeUsage,
            MaxTokens = maxTokens, Temperature = temperature, TopP = topP, TopK = topK, RepetitionPenalty = penalty,
            Seed = unchecked((int)seed),
            Stop = Stop(root),
            LogitBias = LogitBias(root),
        };
        if (root.TryGetProperty("autoprune", out var ap) && ap.ValueKind != JsonValueKind.Null)
        {
            if (ap.ValueKind != JsonValueKind.Object)
                throw ApiError.BadRequest("'autoprune' must be an object like {\"policy\": \"autoprune\", \"budget\": 57}", "autoprune");
            double? budget = Number(ap, "budget", "autoprune.budget");
            if (budget is double b && !(b > 0)) throw ApiError.BadRequest($"autoprune.budget must be > 0 (got {b})", "autoprune.budget");
            req = req with
            {
                Policy = Str(ap, "policy", "autoprune.policy"),
                Budget = budget,
                Positions = Str(ap, "positions", "autoprune.positions"),
                Settings = Settings(ap),
            };
        }
        return req;
    }

    private static List<Turn> Messages(JsonElement root, ServerOptions limits)
    {
        if (!root.TryGetProperty("messages", out var msgs)) throw ApiError.BadRequest("'messages' is required", "messages");
        if (msgs.ValueKind != JsonValueKind.Array) throw ApiError.BadRequest("'messages' must be an array", "messages");
        int count = msgs.GetArrayLength();
        if (count == 0) throw ApiError.BadRequest("'messages' is empty", "messages");
        if (count > limits.MaxMessages) throw ApiError.BadRequest($"at most {limits.MaxMessages} messages per request (got {count})", "messages");
        var turns = new List<Turn>(count);
        int images = 0, chars = 0, i = 0;
        foreach (var m in msgs.EnumerateArray())
        {
            string at = $"messages[{i}]";
            if (m.ValueKind != JsonValueKind.Object) throw ApiError.BadRequest($"'{at}' must be an object", at);
            var role = Str(m, "role", at + ".role") ?? throw ApiError.BadRequest($"'{at}.role' is required", at + ".role");
            var speaker = role switch
            {
                "system" or "developer" => Speaker.System,
                "user" => Speaker.User,
                "assistant" => Speaker.Assistant,
                _ => throw ApiError.BadRequest($"'{at}.role' must be system, developer, user or assistant (got '{Clip(role)}')", at + ".role"),
            };
            var text = new StringBuilder();
            var imgs = new List<ImageInput>();
            if (!m.TryGetProperty("content", out var content) || content.ValueKind == JsonValueKind.Null)
            {
                if (speaker != Speaker.Assistant) throw ApiError.BadRequest($"'{at}.content' is required", at + ".content");
            }
            else if (content.ValueKind == JsonValueKind.String) text.Append(content.GetString());
            else if (content.ValueKind == JsonValueKind.Array)
            {
                int j = 0;
                foreach (var part in content.EnumerateArray())
                {
                    string pat = $"{at}.content[{j++}]";
                    if (part.ValueKind != JsonValueKind.Object) throw ApiError.BadRequest($"'{pat}' must be an object", pat);
                    var type = Str(part, "type", pat + ".type");
                    if (type == "text")
                    {
                        var t = Str(part, "text", pat + ".text") ?? throw ApiError.BadRequest($"'{pat}.text' is required", pat + ".text");
                        if (text.Length > 0) text.Append(' ');     // llava-hf's template follows each text part with a space
                        text.Append(t);
                    }
                    else if (type == "image_url")
                    {
                        if (speaker != Speaker.User) throw ApiError.BadRequest($"only user messages may carry images ('{pat}')", pat);
                        if (++images > limits.MaxImages)
                            throw ApiError.BadRequest($"at most {limits.MaxImages} images per request", pat, "too_many_images");
                        imgs.Add(Image(part, pat, images, limits));
                    }
                    else throw ApiError.BadRequest($"'{pat}.type' must be 'text' or 'image_url' (got '{Clip(type)}')", pat + ".type");
                }
            }
            else throw ApiError.BadRequest($"'{at}.content' must be a string or an array of content parts", at + ".content");
            chars += text.Length;
            if (chars > limits.MaxTextChars)
                throw ApiError.BadRequest($"the messages hold more than {limits.MaxTextChars} characters of text", at + ".content", "context_length_exceeded");
            turns.Add(new Turn(speaker, text.ToString(), imgs));
            i++;
        }
        if (turns[^1].Speaker != Speaker.User) throw ApiError.BadRequest("the last message must be the user's", "messages");
        if (string.IsNullOrWhiteSpace(turns[^1].Text)) throw ApiError.BadRequest("the last user message has no text (the question)", "messages");
        return turns;
    }

    private static ImageInput Image(JsonElement part, string at, int n, ServerOptions limits)
    {
        if (!part.TryGetProperty("image_url", out var iu)) throw ApiError.BadRequest($"'{at}.image_url' is required", at + ".image_url");
        // OpenAI's format is {"url": ...}; a bare string is accepted too.
        string? url = iu.ValueKind == JsonValueKind.String ? iu.GetString()
            : iu.ValueKind == JsonValueKind.Object ? Str(iu, "url", at + ".image_url.url")
            : throw ApiError.BadRequest($"'{at}.image_url' must be an object with a 'url'", at + ".image_url");
        if (string.IsNullOrEmpty(url)) throw ApiError.BadRequest($"'{at}.image_url.url' is required", at + ".image_url.url");
        string source = $"image {n} of the request";
        if (url.StartsWith("data:", StringComparison.OrdinalIgnoreCase))
        {
            int comma = url.IndexOf(',');
            if (comma < 0) throw ApiError.BadRequest($"{source}: a data: URL needs a ',' before its data", at + ".image_url.url", "invalid_image");
            var meta = url.AsSpan(5, comma - 5);
            if (!meta.EndsWith(";base64", StringComparison.OrdinalIgnoreCase))
                throw ApiError.BadRequest($"{source}: only base64 data: URLs are accepted (data:image/png;base64,...)", at + ".image_url.url", "invalid_image");
            var mediaType = meta[..^7];
            if (!mediaType.StartsWith("image/", StringComparison.OrdinalIgnoreCase))
                throw ApiError.BadRequest($"{source}: media type '{Clip(mediaType.ToString())}' is not an image", at + ".image_url.url", "invalid_image");
            var b64 = url.AsSpan(comma + 1);
            if ((long)b64.Length / 4 * 3 > limits.MaxImageBytes + 3L)
                throw new ApiError(413, $"{source} is larger than {limits.MaxImageBytes} bytes", at + ".image_url.url", "image_too_large");
            var bytes = new byte[b64.Length / 4 * 3 + 3];
            if (!Convert.TryFromBase64Chars(b64, bytes, out int len))
                throw ApiError.BadRequest($"{source}: the data: URL is not valid base64", at + ".image_url.url", "invalid_image");
            if (len == 0) throw ApiError.BadRequest($"{source} is empty (0 bytes)", at + ".image_url.url", "invalid_image");
            return new ImageInput(bytes[..len], source);
        }
        if (url.StartsWith("http://", StringComparison.OrdinalIgnoreCase) || url.StartsWith("https://", StringComparison.OrdinalIgnoreCase))
            throw ApiError.BadRequest($"{source}: remote image URLs are not fetched; send the image as a base64 data: URL", at + ".image_url.url", "invalid_image");
        if (!limits.AllowLocalImages)
            throw ApiError.BadRequest($"{source}: local image paths are refused (the server was not started with local images allowed); send a base64 data: URL",
                at + ".image_url.url", "invalid_image");
        var path = url.StartsWith("file://", StringComparison.OrdinalIgnoreCase) ? new Uri(url).LocalPath : url;
        if (!Path.IsPathRooted(path)) throw ApiError.BadRequest($"{source}: a local image path must be absolute", at + ".image_url.url", "invalid_image");
        if (!File.Exists(path)) throw ApiError.BadRequest($"{source}: no file at that path", at + ".image_url.url", "invalid_image");
        if (new FileInfo(path).Length > limits.MaxImageBytes)
            throw new ApiError(413, $"{source} is larger than {limits.MaxImageBytes} bytes", at + ".image_url.url", "image_too_large");
        return ImageInput.FromFile(path);
    }

    private static IReadOnlyList<string>? Stop(JsonElement root)
    {
        if (!root.TryGetProperty("stop", out var s) || s.ValueKind == JsonValueKind.Null) return null;
        if (s.ValueKind == JsonValueKind.String) return [NonEmptyStop(s.GetString()!, "stop")];
        if (s.ValueKind != JsonValueKind.Array) throw ApiError.BadRequest("'stop' must be a string or an array of strings", "stop");
        if (s.GetArrayLength() > 4) throw ApiError.BadRequest("at most 4 stop sequences", "stop");
        var list = new List<string>();
        foreach (var e in s.EnumerateArray())
        {
            if (e.ValueKind != JsonValueKind.String) throw ApiError.BadRequest("'stop' must be a string or an array of strings", "stop");
            list.Add(NonEmptyStop(e.GetString()!, "stop"));
        }
        return list;
    }

    private static Dictionary<int, float>? LogitBias(JsonElement root)
    {
        if (!root.TryGetProperty("logit_bias", out var lb) || lb.ValueKind == JsonValueKind.Null) return null;
        if (lb.ValueKind != JsonValueKind.Object) throw ApiError.BadRequest("'logit_bias' must be an object of token id: bias", "logit_bias");
        var d = new Dictionary<int, float>();
        foreach (var p in lb.EnumerateObject())
        {
            if (!int.TryParse(p.Name, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int id))
                throw ApiError.BadRequest($"logit_bias keys must be token ids (got '{Clip(p.Name)}')", "logit_bias");
            if (p.Value.ValueKind != JsonValueKind.Number || !p.Value.TryGetDouble(out var b) || b is < -100 or > 100)
                throw ApiError.BadRequest($"logit_bias values must be numbers from -100 to 100 (token {id})", "logit_bias");
            d[id] = (float)b;
        }
        return d;
    }

    private static string NonEmptyStop(string s, string param) =>
        s.Length is 0 or > 64 ? throw ApiError.BadRequest("a stop sequence must have 1 to 64 characters", param) : s;

    private static Dictionary<string, string>? Settings(JsonElement ap)
    {
        if (!ap.TryGetProperty("settings", out var s) || s.ValueKind == JsonValueKind.Null) return null;
        if (s.ValueKind != JsonValueKind.Object) throw ApiError.BadRequest("'autoprune.settings' must be an object of name: value", "autoprune.settings");
        var d = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var p in s.EnumerateObject())
            d[p.Name] = p.Value.ValueKind switch
            {
                JsonValueKind.String => p.Value.GetString()!,
                JsonValueKind.Number => p.Value.GetRawText(),
                JsonValueKind.True => "true",
                JsonValueKind.False => "false",
                _ => throw ApiError.BadRequest($"autoprune.settings.{Clip(p.Name)} must be a string, number or boolean", "autoprune.settings"),
            };
        return d;
    }

    private static string? Str(JsonElement o, string name, string? param = null)
    {
        if (!o.TryGetProperty(name, out var e) || e.ValueKind == JsonValueKind.Null) return null;
        return e.ValueKind == JsonValueKind.String ? e.GetString() : throw ApiError.BadRequest($"'{param ?? name}' must be a string", param ?? name);
    }

    private static bool? Bool(JsonElement o, string name, string? param = null)
    {
        if (!o.TryGetProperty(name, out var e) || e.ValueKind == JsonValueKind.Null) return null;
        return e.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw ApiError.BadRequest($"'{param ?? name}' must be a boolean", param ?? name),
        };
    }

    private static double? Number(JsonElement o, string name, string? param = null)
    {
        if (!o.TryGetProperty(name, out var e) || e.ValueKind == JsonValueKind.Null) return null;
        if (e.ValueKind == JsonValueKind.Number && e.TryGetDouble(out var v) && double.IsFinite(v)) return v;
        throw ApiError.BadRequest($"'{param ?? name}' must be a number", param ?? name);
    }

    private static long? Long(JsonElement o, string name)
    {
        if (!o.TryGetProperty(name, out var e) || e.ValueKind == JsonValueKind.Null) return null;
        return e.ValueKind == JsonValueKind.Number && e.TryGetInt64(out var v) ? v : throw ApiError.BadRequest($"'{name}' must be an integer", name);
    }

    private static int? Int(JsonElement o, string name)
    {
        if (!o.TryGetProperty(name, out var e) || e.ValueKind == JsonValueKind.Null) return null;
        return e.ValueKind == JsonValueKind.Number && e.TryGetInt32(out var v) ? v : throw ApiError.BadRequest($"'{name}' must be an integer", name);
    }

    /// <summary>Echoes a client value in a message without echoing a megabyte.</summary>
    private static string Clip(string? s) => s == null ? "null" : s.Length <= 40 ? s : string.Concat(s.AsSpan(0, 40), "...");
}
