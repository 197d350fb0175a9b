using System.Buffers;
using System.Diagnostics;
using System.Text.Json;
using System.Threading.Channels;
using AutoPrune.Models;
using AutoPrune.Pruning;
using Microsoft.AspNetCore.Http;

namespace AutoPrune.Server;

/// <summary>POST /v1/chat/completions: parse and check, queue, generate, answer as JSON or as server-sent events.</summary>
internal sealed class ChatCompletions(AutoPruneServer server)
{
    private static readonly JsonWriterOptions WriterOptions = new() { Indented = false };

    public async Task HandleAsync(HttpContext http)
    {
        var log = RequestLog.Of(http);
        if (server.Stopping)
            throw new ApiError(503, "the server is shutting down", code: "shutting_down") { RetryAfter = 5 };
        var body = await ReadBodyAsync(http.Request, server.Options.MaxBodyBytes, http.RequestAborted);
        var req = ChatRequestParser.Parse(body, server.Options);
        var (options, policyName) = Prepare(req);
        log.Policy = policyName;
        log.Stream = req.Stream;

        using var ticket = server.Queue.Enter();
        using var timeout = new CancellationTokenSource(server.Options.RequestTimeout);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(http.RequestAborted, timeout.Token);
        var queued = Stopwatch.StartNew();
        try { await ticket.RunAsync(linked.Token); }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested && !http.RequestAborted.IsCancellationRequested)
        {
            throw new ApiError(503, $"the request waited {server.Options.RequestTimeout.TotalSeconds:F0} s in the queue; retry later", code: "queue_timeout")
            { RetryAfter = server.Queue.RetryAfterSeconds };
        }
        double queueMs = queued.Elapsed.TotalMilliseconds;
        var id = "chatcmpl-" + Guid.NewGuid().ToString("N")[..24];
        long created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        try
        {
            if (req.Stream) await StreamAsync(http, req, options, id, created, queueMs, log, linked.Token);
            else
            {
                var answer = await Task.Run(() => server.Generate(req.Turns, options with { Cancellation = linked.Token }), linked.Token);
                log.Record(answer);
                http.Response.ContentType = "application/json";
                await WriteJsonAsync(http.Response, w => WriteCompletion(w, id, created, answer, req.ImageCount, queueMs), http.RequestAborted);
            }
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested && !http.RequestAborted.IsCancellationRequested)
        {
            throw new ApiError(504, $"the request took longer than {server.Options.RequestTimeout.TotalSeconds:F0} s", code: "timeout");
        }
    }

    /// <summary>Pruning (request fields over server defaults) and decoding settings; bad values are 400s now, not later.</summary>
    private (GenerationOptions, string) Prepare(ChatRequest req)
    {
        var o = server.Options;
        string policy = req.Policy ?? o.DefaultPolicy;
        // The server's budget, settings and positions belong to its default policy; another policy starts from its own.
        bool defaults = req.Policy == null || string.Equals(req.Policy, o.DefaultPolicy, StringComparison.OrdinalIgnoreCase);
        var settings = defaults ? new Dictionary<string, string>(o.DefaultSettings, StringComparer.OrdinalIgnoreCase)
            : new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var (k, v) in req.Settings ?? new Dictionary<string, string>()) settings[k] = v;
        PositionMode? positions = req.Positions switch
        {
            null => defaults ? o.DefaultPositions : null,
            "compact" => PositionMode.Compact,
            "original" => PositionMode.Original,
            _ => throw ApiError.BadRequest("autoprune.positions must be 'compact' or 'original'", "autoprune.positions"),
        };
        var policyOptions = new PolicyOptions
        {
            Budget = req.Budget ?? (defaults ? o.DefaultBudget : null),
            Positions = positions,
            Settings = settings,
        };
        IPruningPolicy created;
        try { created = PolicyFactory.Create(policy, policyOptions); }
        catch (AutoPruneException e) { throw ApiError.BadRequest(e.Message, "autoprune", "invalid_pruning"); }
        var gen = new GenerationOptions
        {
            MaxNewTokens = req.MaxTokens, Temperature = req.Temperature, TopP = req.TopP, TopK = req.TopK, Seed = req.Seed,
            RepetitionPenalty = req.RepetitionPenalty, Stop = req.Stop, LogitBias = req.LogitBias, Policy = created,
        };
        try { Sampling.Validate(gen, server.VocabSize); }
        catch (GenerationOptionException e) { throw ApiError.BadRequest(e.Message); }
        server.CheckPrompt(req.Turns, req.MaxTokens);
        return (gen, created.Name);
    }

    private async Task StreamAsync(HttpContext http, ChatRequest req, GenerationOptions options, string id, long created, double queueMs,
        RequestLog log, CancellationToken ct)
    {
        var res = http.Response;
        var pieces = Channel.CreateUnbounded<string>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var run = Task.Run(() =>
        {
            try { return server.Generate(req.Turns, options with { Cancellation = stop.Token, OnText = t => pieces.Writer.TryWrite(t) }); }
            finally { pieces.Writer.TryComplete(); }
        }, stop.Token);
        try { await SendAsync(); }
        finally
        {
            // A failed write (the client went away) must not release the slot while the model is still generating.
            stop.Cancel();
            try { await run; } catch (Exception) { }
        }

        async Task SendAsync()
        {
            // Headers go out with the first piece of text: until then an error (a bad image, an infeasible budget) is still a
            // plain JSON error with its status code.
            bool started = false;
            await foreach (var piece in pieces.Reader.ReadAllAsync(CancellationToken.None))
            {
                if (!started) { await StartAsync(); started = true; }
                await EventAsync(w => WriteChunk(w, id, created, piece, null, null, req.ImageCount, queueMs));
            }
            Answer answer;
            try { answer = await run; }
            catch (Exception e) when (started && e is not OperationCanceledException)
            {
                // Too late for a status code: report the error as an event, as OpenAI does, and end the stream.
                var err = e as ApiError ?? AutoPruneServer.ToApiError(e);
                log.Status = err.Status;
                await EventAsync(err.Write);
                return;
            }
            log.Record(answer);
            if (!started) await StartAsync();
            await EventAsync(w => WriteChunk(w, id, created, null, answer, null, req.ImageCount, queueMs));
            if (req.IncludeUsage) await EventAsync(w => WriteChunk(w, id, created, null, null, answer, req.ImageCount, queueMs));
            await res.WriteAsync("data: [DONE]\n\n", http.RequestAborted);
            await res.Body.FlushAsync(http.RequestAborted);
        }

        async Task StartAsync()
        {
            res.ContentType = "text/event-stream";
            res.Headers.CacheControl = "no-cache";
            res.Headers["X-Accel-Buffering"] = "no";
            // First chunk: the role, as OpenAI sends it.
            await EventAsync(w => WriteChunk(w, id, created, "", null, null, req.ImageCount, queueMs, role: true));
        }

        async Task EventAsync(Action<Utf8JsonWriter> write)
        {
            var buf = new ArrayBufferWriter<byte>(256);
            buf.Write("data: "u8);
            using (var w = new Utf8JsonWriter(buf, WriterOptions)) write(w);
            buf.Write("\n\n"u8);
            await res.Body.WriteAsync(buf.WrittenMemory, http.RequestAborted);
            await res.Body.FlushAsync(http.RequestAborted);
        }
    }

    /// <summary>Opens a response object: id, object type, creation time, model.</summary>
    private void WriteHead(Utf8JsonWriter w, string id, string type, long created)
    {
        w.WriteStartObject();
        w.WriteString("id", id);
        w.WriteString("object", type);
        w.WriteNumber("created", created);
        w.WriteString("model", server.ModelId);
    }

    private void WriteCompletion(Utf8JsonWriter w, string id, long created, Answer a, int images, double queueMs)
    {
        WriteHead(w, id, "chat.completion", created);
        w.WriteStartArray("choices");
        w.WriteStartObject();
        w.WriteNumber("index", 0);
        w.WriteStartObject("message");
        w.WriteString("role", "assistant");
        w.WriteString("content", a.Text);
        w.WriteNull("refusal");
        w.WriteEndObject();
        w.WriteNull("logprobs");
        w.WriteString("finish_reason", Finish(a));
        w.WriteEndObject();
        w.WriteEndArray();
        WriteUsage(w, a, images);
        WriteAccounting(w, a, queueMs);
        w.WriteEndObject();
    }

    /// <summary>One chat.completion.chunk: a text delta, the final chunk (finish reason and accounting), or the usage chunk.</summary>
    private void WriteChunk(Utf8JsonWriter w, string id, long created, string? text, Answer? final, Answer? usage, int images, double queueMs, bool role = false)
    {
        WriteHead(w, id, "chat.completion.chunk", created);
        w.WriteStartArray("choices");
        if (usage == null)
        {
            w.WriteStartObject();
            w.WriteNumber("index", 0);
            w.WriteStartObject("delta");
            if (role) w.WriteString("role", "assistant");
            if (text != null) w.WriteString("content", text);
            w.WriteEndObject();
            w.WriteNull("logprobs");
            if (final != null) w.WriteString("finish_reason", Finish(final)); else w.WriteNull("finish_reason");
            w.WriteEndObject();
        }
        w.WriteEndArray();
        if (usage != null) WriteUsage(w, usage, images);
        if (final != null) WriteAccounting(w, final, queueMs);
        w.WriteEndObject();
    }

    private static string Finish(Answer a) => a.FinishReason == FinishReason.Stop ? "stop" : "length";

    /// <summary>Prompt tokens count the text tokens and every visual token the images became (before pruning).</summary>
    private static void WriteUsage(Utf8JsonWriter w, Answer a, int images)
    {
        int prompt = a.PromptTokens - images + a.VisualTokens;   // the ids hold one placeholder per image
        w.WriteStartObject("usage");
        w.WriteNumber("prompt_tokens", prompt);
        w.WriteNumber("completion_tokens", a.OutputIds.Length);
        w.WriteNumber("total_tokens", prompt + a.OutputIds.Length);
        w.WriteEndObject();
    }

    /// <summary>The extension object with what pruning did and cost.</summary>
    private static void WriteAccounting(Utf8JsonWriter w, Answer a, double queueMs)
    {
        var t = a.Trace;
        w.WriteStartObject("autoprune");
        w.WriteString("policy", t.Policy);
        if (t.Budget is double b) w.WriteNumber("budget", b); else w.WriteNull("budget");
        w.WriteNumber("visual_tokens", a.VisualTokens);
        w.WriteNumber("mean_visual_tokens", Math.Round(t.MeanVisualTokens, 4));
        w.WriteStartArray("visual_tokens_per_layer");
        foreach (var v in t.VisualTokensPerLayer) w.WriteNumberValue(v);
        w.WriteEndArray();
        if (t.ImageVisualTokensPerLayer.Length > 1)
        {
            w.WriteStartArray("image_visual_tokens_per_layer");
            foreach (var im in t.ImageVisualTokensPerLayer)
            {
                w.WriteStartArray();
                foreach (var v in im) w.WriteNumberValue(v);
                w.WriteEndArray();
            }
            w.WriteEndArray();
        }
        w.WriteNumber("flops_reduction", Math.Round(t.FlopsReduction, 4));
        w.WriteNumber("vision_ms", Math.Round(t.VisionMs, 3));
        w.WriteNumber("prefill_ms", Math.Round(t.PrefillMs, 3));
        w.WriteNumber("decode_ms", Math.Round(t.DecodeMs, 3));
        w.WriteNumber("queue_ms", Math.Round(queueMs, 3));
        w.WriteEndObject();
    }

    internal static async Task WriteJsonAsync(HttpResponse res, Action<Utf8JsonWriter> write, CancellationToken ct)
    {
        var buf = new ArrayBufferWriter<byte>(1024);
        using (var w = new Utf8JsonWriter(buf, WriterOptions)) write(w);
        res.ContentLength = buf.WrittenCount;
        await res.Body.WriteAsync(buf.WrittenMemory, ct);
    }

    /// <summary>The body up to the limit; 413 beyond it.</summary>
    private static async Task<byte[]> ReadBodyAsync(HttpRequest req, long max, CancellationToken ct)
    {
        if (req.ContentLength > max) throw new ApiError(413, $"the request body is larger than {max} bytes", code: "request_too_large");
        var ms = new MemoryStream(req.ContentLength is long n and > 0 ? (int)n : 4096);
        var buf = ArrayPool<byte>.Shared.Rent(64 * 1024);
        try
        {
            int read;
            while ((read = await req.Body.ReadAsync(buf, ct)) > 0)
            {
                if (ms.Length + read > max) throw new ApiError(413, $"the request body is larger than {max} bytes", code: "request_too_large");
                ms.Write(buf, 0, read);
            }
        }
        finally { ArrayPool<byte>.Shared.Return(buf); }
        return ms.ToArray();
    }
}
