using System.Runtime.CompilerServices;
using System.Threading.Channels;
using AutoPrune.Models;
using AutoPrune.Pruning;
using Microsoft.Extensions.AI;

namespace AutoPrune.Chat;

/// <summary>
/// The engine as a Microsoft.Extensions.AI <see cref="IChatClient"/>: a conversation of system, user and assistant
/// messages; user messages carry images as <see cref="DataContent"/> of an image media type. Every answer prefills the
/// whole conversation afresh with the client's policy; the response's AdditionalProperties carry the accounting (mean
/// visual tokens, FLOPs reduction, timings). ChatOptions map to sampling (Temperature, TopP, TopK, Seed,
/// MaxOutputTokens, StopSequences; AdditionalProperties "repetition_penalty"). Calls are serialized: one model, one
/// prefill at a time. Images are encoded once per client and content (a follow-up question skips the vision tower).
/// </summary>
public sealed class LlavaChatClient : IChatClient
{
    private readonly LlavaModel _model;
    private readonly bool _ownsModel;
    private readonly Func<IPruningPolicy> _policy;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly ChatClientMetadata _metadata;
    private readonly ImageFeatureCache _images;

    /// <param name="policy">Creates the pruning policy for each request (null: unpruned).</param>
    /// <param name="ownsModel">Dispose the model with the client.</param>
    public LlavaChatClient(LlavaModel model, Func<IPruningPolicy>? policy = null, bool ownsModel = false)
    {
        _model = model;
        _ownsModel = ownsModel;
        _policy = policy ?? (() => new NoPruning());
        _images = new ImageFeatureCache(model);
        _metadata = new ChatClientMetadata("autoprune", null, Path.GetFileName(model.Directory.TrimEnd('/')));
    }

    public async Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null,
        CancellationToken cancellationToken = default)
    {
        var turns = ToTurns(messages);
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var answer = await Task.Run(() => Generator.Chat(_model, turns, Options(options, cancellationToken, null), _images), cancellationToken)
                .ConfigureAwait(false);
            return ToResponse(answer, turns);
        }
        finally { _gate.Release(); }
    }

    public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var turns = ToTurns(messages);
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var pieces = Channel.CreateUnbounded<string>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
            var run = Task.Run(() =>
            {
                try { return Generator.Chat(_model, turns, Options(options, cancellationToken, t => pieces.Writer.TryWrite(t)), _images); }
                finally { pieces.Writer.TryComplete(); }
            }, cancellationToken);

            await foreach (var piece in pieces.Reader.ReadAllAsync(cancellationToken).ConfigureAwait(false))
                yield return new ChatResponseUpdate(ChatRole.Assistant, piece) { ModelId = _metadata.DefaultModelId };
            var answer = await run.ConfigureAwait(false);
            var final = ToResponse(answer, turns);
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

    /// <summary>The messages as conversation turns: texts joined by spaces, images (image/* DataContent) of user messages.</summary>
    public static List<Turn> ToTurns(IEnumerable<ChatMessage> messages)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var turns = new List<Turn>();
        foreach (var m in messages)
        {
            var speaker = m.Role == ChatRole.User ? Speaker.User
                : m.Role == ChatRole.Assistant ? Speaker.Assistant
                : m.Role == ChatRole.System ? Speaker.System
                : throw new InvalidPromptException($"messages of role '{m.Role}' are not supported (system, user, assistant)");
            var texts = new List<string>();
            var images = new List<ImageInput>();
            foreach (var c in m.Contents)
            {
                if (c is TextContent t) texts.Add(t.Text);
                else if (c is DataContent d && d.HasTopLevelMediaType("image"))
                {
                    if (speaker != Speaker.User) throw new InvalidPromptException("only user messages may carry images");
                    images.Add(new ImageInput(d.Data.ToArray(), d.Name ?? $"image {images.Count + 1} of message {turns.Count + 1}"));
                }
            }
            turns.Add(new Turn(speaker, string.Join(' ', texts), images));
        }
        if (turns.Count == 0) throw new InvalidPromptException("no messages");
        return turns;
    }

    private GenerationOptions Options(ChatOptions? o, CancellationToken ct, Action<string>? onText) => new()
    {
        MaxNewTokens = o?.MaxOutputTokens,
        Temperature = o?.Temperature ?? 0f,
        TopP = o?.TopP ?? 1f,
        TopK = o?.TopK ?? 0,
        Seed = (int)(o?.Seed ?? 0),
        RepetitionPenalty = o?.AdditionalProperties?.TryGetValue("repetition_penalty", out float p) == true ? p : 1f,
        Stop = o?.StopSequences is { Count: > 0 } s ? [.. s] : null,
        Policy = _policy(),
        OnText = onText,
        Cancellation = ct,
    };

    private ChatResponse ToResponse(Answer a, List<Turn> turns)
    {
        var t = a.Trace;
        int images = 0;
        foreach (var turn in turns) images += turn.Images.Count;
        int input = a.PromptTokens - images + a.VisualTokens;       // the ids hold one placeholder per image
        return new ChatResponse(new ChatMessage(ChatRole.Assistant, a.Text))
        {
            ModelId = _metadata.DefaultModelId,
            FinishReason = a.FinishReason == FinishReason.Stop ? ChatFinishReason.Stop : ChatFinishReason.Length,
            Usage = new UsageDetails
            {
                InputTokenCount = input,
                OutputTokenCount = a.OutputIds.Length,
                TotalTokenCount = input + a.OutputIds.Length,
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
