namespace AutoPrune.Server;

/// <summary>Where the server listens, its pruning defaults and its limits.</summary>
public sealed record ServerOptions
{
    /// <summary>Address to bind; 127.0.0.1 by default (loopback only), 0.0.0.0 for every interface.</summary>
    public string Host { get; init; } = "127.0.0.1";
    /// <summary>0 picks a free port (see <see cref="AutoPruneServer.Url"/>).</summary>
    public int Port { get; init; } = 8080;

    /// <summary>Policy used when a request names none ("none": unpruned).</summary>
    public string DefaultPolicy { get; init; } = "none";
    public double? DefaultBudget { get; init; }
    public IReadOnlyDictionary<string, string> DefaultSettings { get; init; } = new Dictionary<string, string>();
    public AutoPrune.Pruning.PositionMode? DefaultPositions { get; init; }

    /// <summary>Requests generating at the same time (each already uses every core through the kernels).</summary>
    public int MaxConcurrent { get; init; } = 1;
    /// <summary>Requests that may wait for a slot; beyond that the answer is 429 with Retry-After.</summary>
    public int MaxQueued { get; init; } = 16;
    /// <summary>Wall-clock limit of one request, queueing included: 503 while still queued, 504 once generating.</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(120);
    /// <summary>How long a shutdown waits for requests in flight.</summary>
    public TimeSpan ShutdownTimeout { get; init; } = TimeSpan.FromSeconds(30);

    public long MaxBodyBytes { get; init; } = 32 * 1024 * 1024;
    /// <summary>Largest decoded image.</summary>
    public int MaxImageBytes { get; init; } = 10 * 1024 * 1024;
    public int MaxImages { get; init; } = 8;
    public int MaxMessages { get; init; } = 64;
    /// <summary>Characters of text over all messages, checked before tokenizing.</summary>
    public int MaxTextChars { get; init; } = 32 * 1024;
    /// <summary>Positions a prompt may need (text + visual tokens before pruning + max_tokens); null: the model's
    /// max_position_embeddings.</summary>
    public int? MaxPromptTokens { get; init; }
    /// <summary>Largest max_tokens a request may ask for.</summary>
    public int MaxNewTokens { get; init; } = 1024;
    /// <summary>Accept image_url values that are local file paths or file:// URLs (off: only base64 data: URLs).</summary>
    public bool AllowLocalImages { get; init; }

    /// <summary>Encoded images kept for follow-up questions (by image content).</summary>
    public long ImageCacheBytes { get; init; } = 512L << 20;

    /// <summary>Request log lines: text, json, or none.</summary>
    public string LogFormat { get; init; } = "text";
}
