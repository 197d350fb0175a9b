using System.Text.Json;

namespace AutoPrune.Server;

/// <summary>A request the server refuses, answered as an OpenAI error object with this status.</summary>
public sealed class ApiError : Exception
{
    public int Status { get; }
    public string Type { get; }
    public string? Param { get; }
    public string? Code { get; }
    /// <summary>Seconds for a Retry-After header (429, 503).</summary>
    public int? RetryAfter { get; init; }

    public ApiError(int status, string message, string? param = null, string? code = null, string? type = null) : base(message)
    {
        Status = status; Param = param; Code = code;
        Type = type ?? (status switch
        {
            401 => "authentication_error",
            404 => "not_found_error",
            429 => "rate_limit_error",
            >= 500 => "server_error",
            _ => "invalid_request_error",
        });
    }

    public static ApiError BadRequest(string message, string? param = null, string? code = null) => new(400, message, param, code);

    /// <summary><c>{"error": {"message", "type", "param", "code"}}</c>.</summary>
    public void Write(Utf8JsonWriter w)
    {
        w.WriteStartObject();
        w.WriteStartObject("error");
        w.WriteString("message", Message);
        w.WriteString("type", Type);
        if (Param != null) w.WriteString("param", Param); else w.WriteNull("param");
        if (Code != null) w.WriteString("code", Code); else w.WriteNull("code");
        w.WriteEndObject();
        w.WriteEndObject();
    }
}
