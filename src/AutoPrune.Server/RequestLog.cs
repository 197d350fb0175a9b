using AutoPrune.Models;
using Microsoft.AspNetCore.Http;

namespace AutoPrune.Server;

/// <summary>What one request's log line reports; filled as the request goes.</summary>
internal sealed class RequestLog
{
    public string Id { get; } = Guid.NewGuid().ToString("N")[..12];
    public int Status { get; set; }
    public string? Policy { get; set; }
    public bool Stream { get; set; }
    public string? Error { get; set; }
    public int PromptTokens { get; private set; }
    public int CompletionTokens { get; private set; }
    public double MeanVisualTokens { get; private set; }
    public double PrefillMs { get; private set; }

    public void Record(Answer a)
    {
        PromptTokens = a.PromptTokens;
        CompletionTokens = a.OutputIds.Length;
        MeanVisualTokens = a.Trace.MeanVisualTokens;
        PrefillMs = a.Trace.PrefillMs;
    }

    public static RequestLog Of(HttpContext http) =>
        http.Items[typeof(RequestLog)] as RequestLog ?? throw new InvalidOperationException("request log middleware missing");
}
