using System.Runtime.CompilerServices;
using System.Threading.Channels;
using AutoPrune.Loading;
using AutoPrune.Models;
using AutoPrune.Pruning;
using Microsoft.Extensions.AI;

namespace AutoPrune.Chat;

/// <summary>
/// The engine as a Microsoft.Extensions.AI <see cref="IChatClient"/>: one user message with one image
/// (<see cref="DataContent"/> of an image media type) and its text. Every answer is pruned by the client's policy;
/// the response's AdditionalProperties carry the accounting (mean visual tokens, FLOPs reduction, timings).
/// Calls are serialized: one model, one prefill at a time.
/// </summary>
public sealed class LlavaChatClient : IChatClient
{
    private readonly LlavaModel _model;
    private readonly bool _ownsModel;
    private readonly Func<IPruningPolicy> _policy;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly ChatClientMetadata _metadata;

    /// <param name="policy">Creates the pruning policy for each request (null: unpruned).</param>
    /// <param name="ownsModel">Dispose the model with the client.</param>
    public LlavaChatClient(LlavaModel model, Func<IPruningPolicy>? policy = null, bool ownsModel = false)
    {
        _model = model;
        _ownsModel = ownsModel;
        _policy = policy ?? (() => new NoPruning());
        _metadata = new ChatClientMetadata("autoprune", null, Path.GetFileName(model.Directory.TrimEnd('/')));
    }

    public async Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null,
        CancellationToken cancellationToken = default)
    {
        var (pixels, prompt) = Prepare(messages);
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var answer = await Task.Run(() => Generator.Generate(_model, pixels, prompt, Options(options, cancellationToken, null)), cancellationToken)
                .ConfigureAwait(false);
            return ToResponse(answer);
        }
        finally { _gate.Release(); }
    }

    public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var (pixels, prompt) = Prepare(messages);
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var tokens = Channel.CreateUnbounded<int>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
            var run = Task.Run(() =>
            {
                try { return Generator.Generate(_model, pixels, prompt, Options(options, cancellationToken, id => tokens.Writer.TryWrite(id))); }
                finally { tokens.Writer.TryComplete(); }
            }, cancellationToken);

            var ids = new List<int>();
            string emitted = "";
            await foreach (var id in tokens.Reader.ReadAllAsync(cancellationToken).ConfigureAwait(false))
            {
                ids.Add(id);
                // Decode the whole prefix: SentencePiece pieces only become text in context (leading spaces, bytes).
                var text = _model.Tokenizer.Decode(ids);
                if (text.Length > emitted.Length && text.StartsWith(emitted, StringComparison.Ordinal))
                {
                    yield return new ChatResponseUpdate(ChatRole.Assistant, text[emitted.Length..]) { ModelId = _metadata.DefaultModelId };
                    emitted = text;
                }
            }
            var answer = await run.ConfigureAwait(false);
            var final = ToResponse(answer);
            yield return new ChatResponseUpdate
            {
                Role = ChatRole.Assistant, FinishReason = final.FinishReason, ModelId = final.ModelId,
                Contents = [new UsageContent(final.Usage!)], AdditionalProperties = final.AdditionalProperties,
            };
        }
        finally { _gate.Release(); }
    }

    public object? GetService(Type serviceType, object? serviceKey = null) =>
        serviceKey != null ? null
        : serviceType == typeof(ChatClientMetadata) ? _metadata
        : serviceType.IsInstanceOfType(this) ? this
        : serviceType.IsInstanceOfType(_model) ? _model
        : null;

    public void Dispose()
    {
        if (_ownsModel) _model.Dispose();
        _gate.Dispose();
    }

    /// <summary>The question is the text of the last user message; the image comes from that message.</summary>
    private (float[] pixels, TokenizedPrompt prompt) Prepare(IEnumerable<ChatMessage> messages)
    {
        ArgumentNullException.ThrowIfNull(messages);
        ChatMessage? user = null;
        int users = 0;
        foreach (var m in messages)
            if (m.Role == ChatRole.User) { user = m; users++; }
        if (user == null) throw new InvalidPromptException("no user message");
        if (users > 1) throw new InvalidPromptException($"LLaVA-1.5 answers one user message about one image; got {users} user messages");
        DataContent? image = null;
        foreach (var c in user.Contents)
            if (c is DataContent d && d.HasTopLevelMediaType("image"))
            {
                if (image != null) throw new InvalidPromptException("the user message has more than one image");
                image = d;
            }
        if (image == null) throw new InvalidPromptException("the user message has no image (add a DataContent with an image/* media type)");
        var question = user.Text;
        var prompt = _model.Tokenize(question);
        var pixels = _model.PreprocessImage(ImageLoader.Load(image.Data.ToArray(), image.Name ?? image.MediaType));
        return (pixels, prompt);
    }

    private GenerationOptions Options(ChatOptions? o, CancellationToken ct, Action<int>? onToken) => new()
    {
        MaxNewTokens = o?.MaxOutputTokens,
        Temperature = o?.Temperature ?? 0f,
        TopP = o?.TopP ?? 1f,
        Seed = (int)(o?.Seed ?? 0),
        Policy = _policy(),
        OnToken = onToken,
        Cancellation = ct,
    };

    private ChatResponse ToResponse(Answer a)
    {
        var t = a.Trace;
        bool stopped = a.OutputIds.Length > 0 && a.OutputIds[^1] == _model.Tokenizer.EosId;
        return new ChatResponse(new ChatMessage(ChatRole.Assistant, a.Text))
        {
            ModelId = _metadata.DefaultModelId,
            FinishReason = stopped ? ChatFinishReason.Stop : ChatFinishReason.Length,
            Usage = new UsageDetails
            {
                InputTokenCount = t.TextTokens + t.VisualTokensIn,
                OutputTokenCount = a.OutputIds.Length,
                TotalTokenCount = t.TextTokens + t.VisualTokensIn + a.OutputIds.Length,
            },
            AdditionalProperties = new AdditionalPropertiesDictionary
            {
                ["policy"] = t.Policy,
                ["mean_visual_tokens"] = t.MeanVisualTokens,
                ["visual_tokens_per_layer"] = t.VisualTokensPerLayer,
                ["flops_reduction"] = t.FlopsReduction,
                ["prefill_ms"] = t.PrefillMs,
                ["decode_ms"] = t.DecodeMs,
            },
        };
    }
}
