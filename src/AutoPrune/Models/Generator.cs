using System.Diagnostics;
using AutoPrune.Accounting;
using AutoPrune.Pruning;

namespace AutoPrune.Models;

/// <summary>Decoding settings (see <see cref="Sampling"/>). Temperature 0 is greedy (argmax), the default.</summary>
public sealed record GenerationOptions
{
    /// <summary>Null: the model's generation_config.json max_new_tokens.</summary>
    public int? MaxNewTokens { get; init; }
    public float Temperature { get; init; }
    public float TopP { get; init; } = 1f;
    /// <summary>Sample among the k most likely tokens only; 0: no limit.</summary>
    public int TopK { get; init; }
    /// <summary>Seed of the draw: the same seed, prompt and settings give the same answer.</summary>
    public int Seed { get; init; }
    /// <summary>Hugging Face's penalty on ids already in the prompt or answer (divides positive logits, multiplies
    /// negative ones); 1: none.</summary>
    public float RepetitionPenalty { get; init; } = 1f;
    /// <summary>Added to the logits of these token ids before choosing (OpenAI's logit_bias; -100 all but bans one).</summary>
    public IReadOnlyDictionary<int, float>? LogitBias { get; init; }
    /// <summary>The answer ends before the first occurrence of any of these strings.</summary>
    public IReadOnlyList<string>? Stop { get; init; }
    public IPruningPolicy? Policy { get; init; }
    /// <summary>Called with each generated token id as soon as it is chosen (streaming).</summary>
    public Action<int>? OnToken { get; init; }
    /// <summary>Called with each piece of answer text as soon as it is final (streaming); the pieces concatenate to
    /// the answer's text.</summary>
    public Action<string>? OnText { get; init; }
    public CancellationToken Cancellation { get; init; }
}

/// <summary>Why generation ended: end of sequence or a stop sequence, or the token limit.</summary>
public enum FinishReason { Stop, Length }

/// <summary>One answer with its accounting.</summary>
public sealed record Answer(string Text, int[] OutputIds, int PromptTokens, int VisualTokens, PrefillTrace Trace,
    FinishReason FinishReason = FinishReason.Stop)
{
    public double PrefillMs => Trace.PrefillMs;
    public double DecodeMs => Trace.DecodeMs;
}

/// <summary>Prefill once, then decode token by token from the per-layer KV caches.</summary>
public static class Generator
{
    public static Answer Ask(LlavaModel model, string imagePath, string question, GenerationOptions? options = null)
    {
        var prompt = model.Tokenize(question);          // validate the question before the image work
        var pixels = model.PreprocessImage(imagePath);
        return Generate(model, pixels, prompt, options);
    }

    /// <summary>Answers the last user turn of a conversation, the whole conversation prefilled afresh with the policy.</summary>
    public static Answer Chat(LlavaModel model, IReadOnlyList<Turn> turns, GenerationOptions? options = null)
    {
        var prompt = model.TokenizeConversation(turns);
        ImageInput? image = null;
        int count = 0;
        foreach (var t in turns)
            foreach (var im in t.Images) { image ??= im; count++; }
        if (count != 1) throw new InvalidPromptException($"the conversation must show exactly one image; it has {count}");
        var pixels = model.ImageProcessor.Process(image!.Decode());
        return Generate(model, pixels, prompt, options);
    }

    public static Answer Generate(LlavaModel model, float[] pixels, PromptTokens prompt, GenerationOptions? options = null)
    {
        options ??= new GenerationOptions();
        int maxNew = options.MaxNewTokens ?? model.DefaultMaxNewTokens;
        Sampling.Validate(options with { MaxNewTokens = maxNew }, model.Tokenizer.VocabSize);

        var pre = model.Prefill(pixels, prompt, options.Policy, maxNew);
        var sampling = new Sampling(options, model.Tokenizer.VocabSize, prompt.Ids);
        var text = new TextStream(model.Tokenizer, options.Stop);
        var output = new List<int>(maxNew);
        int eos = model.Tokenizer.EosId;
        var finish = FinishReason.Length;
        var sw = Stopwatch.StartNew();
        var scratch = new LlamaDecoderLayer.Scratch(1, model.Config.Text);
        var logits = pre.Logits;
        for (int step = 0; step < maxNew; step++)
        {
            options.Cancellation.ThrowIfCancellationRequested();
            int next = sampling.Next(logits);
            output.Add(next);
            options.OnToken?.Invoke(next);
            var piece = text.Push(next);
            if (piece.Length > 0) options.OnText?.Invoke(piece);
            if (next == eos || text.Stopped) { finish = FinishReason.Stop; break; }
            if (step == maxNew - 1) break;
            logits = model.Decoder.DecodeStep(next, pre.Cache, pre.Positions, scratch);
        }
        var rest = text.Flush();
        if (rest.Length > 0) options.OnText?.Invoke(rest);
        pre.Trace.DecodeMs = sw.Elapsed.TotalMilliseconds;
        return new Answer(text.Text, output.ToArray(), prompt.Ids.Length, model.ImageTokens, pre.Trace, finish);
    }
}
