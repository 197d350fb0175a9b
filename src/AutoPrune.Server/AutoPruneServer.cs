using System.Net;
using System.Text.Json;
using AutoPrune.Models;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace AutoPrune.Server;

/// <summary>
/// An OpenAI-compatible HTTP server over one loaded model (ASP.NET Core minimal API on Kestrel):
/// POST /v1/chat/completions (JSON or server-sent events), GET /v1/models, GET /health. Requests are queued with a
/// bound, every refusal is an OpenAI error object with a 4xx/5xx status, and a stop lets requests in flight finish.
/// </summary>
public sealed class AutoPruneServer : IAsyncDisposable
{
    private readonly IVisionLanguageModel _model;
    private readonly ImageFeatureCache _images;
    private readonly WebApplication _app;
    private readonly ILogger _log;
    private int _stopping, _stopped;

    public ServerOptions Options { get; }
    public string ModelId { get; }
    internal AdmissionQueue Queue { get; }
    /// <summary>Requests running or waiting now.</summary>
    public int Admitted => Queue.Admitted;
    /// <summary>Requests ended because their client went away.</summary>
    public int Cancelled => Volatile.Read(ref _cancelled);
    private int _cancelled;
    internal bool Stopping => Volatile.Read(ref _stopping) != 0;

    /// <summary>The model stays the caller's: dispose it after the server.</summary>
    public AutoPruneServer(IVisionLanguageModel model, ServerOptions options)
    {
        _model = model;
        Options = options;
        ModelId = Path.GetFileName(model.Directory.TrimEnd('/', '\\'));
        Queue = new AdmissionQueue(options.MaxConcurrent, options.MaxQueued);
        _images = new ImageFeatureCache(model, options.ImageCacheBytes);

        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ContentRootPath = AppContext.BaseDirectory });
        builder.WebHost.UseKestrel(k =>
        {
            k.Listen(IPAddress.Parse(options.Host), options.Port);
            k.Limits.MaxRequestBodySize = options.MaxBodyBytes + 1;    // our own check answers 413 in OpenAI's format
            k.AddServerHeader = false;
        });
        builder.Services.Configure<HostOptions>(h => h.ShutdownTimeout = options.ShutdownTimeout);
        builder.Logging.ClearProviders();
        // Logs go to stderr: stdout stays for the tool's own output ("listening on ...").
        builder.Services.Configure<Microsoft.Extensions.Logging.Console.ConsoleLoggerOptions>(c => c.LogToStandardErrorThreshold = LogLevel.Trace);
        builder.Logging.AddFilter("Microsoft", LogLevel.Warning);
        builder.Logging.AddFilter("Microsoft.Extensions.Hosting", LogLevel.None);   // a failed bind is reported by StartAsync's caller
        switch (options.LogFormat)
        {
            case "json": builder.Logging.AddJsonConsole(j => j.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ"); break;
            case "text": builder.Logging.AddSimpleConsole(s => { s.SingleLine = true; s.TimestampFormat = "HH:mm:ss.fff "; s.UseUtcTimestamp = true; }); break;
            case "none": break;
            default: throw new ArgumentException($"log format must be text, json or none (got '{options.LogFormat}')");
        }
        _app = builder.Build();
        _log = _app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("AutoPrune.Server");

        var chat = new ChatCompletions(this);
        _app.Use(LogAndCatchAsync);
        _app.MapPost("/v1/chat/completions", chat.HandleAsync);
        _app.MapGet("/v1/models", WriteModelsAsync);
        _app.MapGet("/v1/models/{id}", (HttpContext http, string id) => id == ModelId ? WriteModelsAsync(http)
            : throw new ApiError(404, $"model '{id}' is not served here (this server serves '{ModelId}')", "model", "model_not_found"));
        _app.MapGet("/health", WriteHealthAsync);
        _app.MapFallback(http => throw new ApiError(404, $"no route {http.Request.Method} {http.Request.Path}", code: "not_found"));
    }

    /// <summary>The address it listens on, e.g. http://127.0.0.1:8080 (the real port when 0 was asked).</summary>
    public string Url { get; private set; } = "";

    public async Task StartAsync(CancellationToken ct = default)
    {
        await _app.StartAsync(ct);
        // Ctrl+C and SIGTERM reach the host directly: refuse new requests from then on, let the others finish.
        _app.Lifetime.ApplicationStopping.Register(() =>
        {
            Volatile.Write(ref _stopping, 1);
            _log.LogInformation("stopping: {Admitted} requests in flight", Queue.Admitted);
        });
        _app.Lifetime.ApplicationStopped.Register(() => _log.LogInformation("stopped"));
        var addr = _app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        Url = addr.Replace("[::]", "localhost");
        _log.LogInformation("serving {Model} on {Url} (policy {Policy} budget {Budget}, {Concurrent} concurrent, {Queued} queued)",
            ModelId, Url, Options.DefaultPolicy, Options.DefaultBudget, Options.MaxConcurrent, Options.MaxQueued);
    }

    /// <summary>Refuses new requests (503), lets those in flight finish within the shutdown timeout, then stops.</summary>
    public async Task StopAsync(CancellationToken ct = default)
    {
        if (Interlocked.Exchange(ref _stopped, 1) != 0) return;
        Volatile.Write(ref _stopping, 1);
        await _app.StopAsync(ct);
    }

    /// <summary>After <see cref="StartAsync"/>: returns once the process was asked to stop (Ctrl+C, SIGTERM) and the
    /// requests in flight finished.</summary>
    public Task WaitForShutdownAsync() => _app.WaitForShutdownAsync();

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        await _app.DisposeAsync();
        Queue.Dispose();
    }

    /// <summary>Token ids a logit bias may name.</summary>
    internal int VocabSize => _model.Tokenizer.VocabSize;

    /// <summary>The engine call every request ends in.</summary>
    internal Answer Generate(IReadOnlyList<Turn> turns, GenerationOptions options) => Generator.Chat(_model, turns, options, _images);

    /// <summary>Image encodings reused from the cache and made anew.</summary>
    public (int hits, int misses) ImageCache => (_images.Hits, _images.Misses);

    /// <summary>
    /// Checks what can be checked before queueing: the template and tokens, every image decodes, and the prompt
    /// (text + visual tokens + answer) fits the limit.
    /// </summary>
    internal void CheckPrompt(IReadOnlyList<Turn> turns, int? maxTokens)
    {
        int ids, images = 0;
        try
        {
            ids = _model.TokenizeConversation(turns).Ids.Length;
            foreach (var t in turns)
                foreach (var im in t.Images) { im.Decode(); images++; }
        }
        catch (AutoPruneException e) { throw ToApiError(e); }
        int limit = Options.MaxPromptTokens ?? _model.LanguageModel.Config.MaxPositionEmbeddings;
        int total = ids - images + images * _model.MaxImageTokens + (maxTokens ?? _model.DefaultMaxNewTokens);
        if (total > limit)
            throw ApiError.BadRequest($"the prompt needs {total} positions ({ids - images} text tokens, {images} x {_model.MaxImageTokens} visual tokens " +
                $"and the answer's {maxTokens ?? _model.DefaultMaxNewTokens}); the limit is {limit}", "messages", "context_length_exceeded");
    }

    internal static ApiError ToApiError(Exception e) => e switch
    {
        ApiError a => a,
        ImageLoadException => ApiError.BadRequest(e.Message, "messages", "invalid_image"),
        PruningOptionException => ApiError.BadRequest(e.Message, "autoprune", "invalid_pruning"),
        InvalidPromptException => ApiError.BadRequest(e.Message, "messages", "invalid_prompt"),
        AutoPruneException => ApiError.BadRequest(e.Message),
        BadHttpRequestException b => new ApiError(b.StatusCode, b.Message),
        _ => new ApiError(500, "internal error; see the server log", code: "internal_error"),
    };

    /// <summary>Every request: errors become OpenAI error objects, and one structured log line is written.</summary>
    private async Task LogAndCatchAsync(HttpContext http, RequestDelegate next)
    {
        var log = new RequestLog();
        http.Items[typeof(RequestLog)] = log;
        long start = Environment.TickCount64;
        try
        {
            await next(http);
            log.Status = log.Status == 0 ? http.Response.StatusCode : log.Status;
        }
        catch (Exception) when (http.RequestAborted.IsCancellationRequested)
        {
            log.Status = 499;      // the client went away; nobody to answer
            Interlocked.Increment(ref _cancelled);
            log.Error = "client disconnected";
        }
        catch (Exception e)
        {
            var err = ToApiError(e);
            log.Status = err.Status;
            log.Error = err.Message;
            if (err.Status == 500) _log.LogError(e, "request {RequestId} failed", log.Id);
            if (!http.Response.HasStarted)
            {
                http.Response.Clear();
                http.Response.StatusCode = err.Status;
                if (err.RetryAfter is int s) http.Response.Headers.RetryAfter = s.ToString(System.Globalization.CultureInfo.InvariantCulture);
                http.Response.ContentType = "application/json";
                try { await ChatCompletions.WriteJsonAsync(http.Response, err.Write, http.RequestAborted); }
                catch (Exception) when (http.RequestAborted.IsCancellationRequested) { }
            }
        }
        _log.LogInformation("request {RequestId} {Method} {Path} {Status} {DurationMs} ms policy={Policy} stream={Stream} prompt_tokens={PromptTokens} " +
            "completion_tokens={CompletionTokens} mean_visual_tokens={MeanVisualTokens:F1} prefill_ms={PrefillMs:F1} error={Error}",
            log.Id, http.Request.Method, http.Request.Path.Value, log.Status, Environment.TickCount64 - start, log.Policy, log.Stream,
            log.PromptTokens, log.CompletionTokens, log.MeanVisualTokens, log.PrefillMs, log.Error);
    }

    private Task WriteModelsAsync(HttpContext http)
    {
        http.Response.ContentType = "application/json";
        bool one = http.Request.RouteValues.ContainsKey("id");
        long created = new DateTimeOffset(File.GetLastWriteTimeUtc(Path.Combine(_model.Directory, "config.json"))).ToUnixTimeSeconds();
        return ChatCompletions.WriteJsonAsync(http.Response, w =>
        {
            if (!one) { w.WriteStartObject(); w.WriteString("object", "list"); w.WriteStartArray("data"); }
            w.WriteStartObject();
            w.WriteString("id", ModelId);
            w.WriteString("object", "model");
            w.WriteNumber("created", created);
            w.WriteString("owned_by", "autoprune");
            w.WriteEndObject();
            if (!one) { w.WriteEndArray(); w.WriteEndObject(); }
        }, http.RequestAborted);
    }

    private Task WriteHealthAsync(HttpContext http)
    {
        http.Response.ContentType = "application/json";
        if (Stopping) http.Response.StatusCode = 503;
        return ChatCompletions.WriteJsonAsync(http.Response, w =>
        {
            w.WriteStartObject();
            w.WriteString("status", Stopping ? "stopping" : "ok");
            w.WriteString("model", ModelId);
            w.WriteNumber("requests_admitted", Queue.Admitted);
            w.WriteNumber("max_concurrent", Options.MaxConcurrent);
            w.WriteNumber("max_queued", Options.MaxQueued);
            w.WriteEndObject();
        }, http.RequestAborted);
    }
}
