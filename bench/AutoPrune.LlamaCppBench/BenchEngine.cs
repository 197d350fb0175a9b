using AutoPrune.Loading;
using AutoPrune.Models;

namespace AutoPrune.LlamaCppBench;

/// <summary>What every engine runs: a 336x336 image and the chat prompt around it, plus a short text-only prompt.</summary>
/// <param name="Prompt">Token ids with the image placeholder (ours tokenizes; llama.cpp gets the same ids).</param>
/// <param name="TextIds">The agreement check's text-only prompt ids.</param>
public sealed record BenchInput(RgbImage Image, TokenizedPrompt Prompt, int[] TextIds)
{
    /// <summary>Short, so that the prompt is about 600 tokens as in the papers' LLaVA-1.5 setting (576 image tokens + ~25 text).</summary>
    public const string Question = "What is in this image?";
    public const string TextPrompt = "USER: What is the capital of France? ASSISTANT:";

    /// <summary>A deterministic image of the tower's size (smooth color ramps plus a few blocks), so resizing is a no-op.</summary>
    public static RgbImage MakeImage(int size)
    {
        var px = new byte[size * size * 3];
        for (int y = 0; y < size; y++)
            for (int x = 0; x < size; x++)
            {
                int i = (y * size + x) * 3;
                bool block = (x / 48 + y / 48) % 5 == 0;
                px[i] = (byte)(block ? 230 : x * 255 / size);
                px[i + 1] = (byte)(block ? 40 : y * 255 / size);
                px[i + 2] = (byte)((x + y) * 255 / (2 * size));
            }
        return new RgbImage(size, size, px);
    }
}

/// <summary>
/// One engine on one set of weights, as the harness drives it. Times are milliseconds. Every call is a complete,
/// independent piece of work (a fresh KV cache each time), so calls of different engines can be interleaved.
/// </summary>
public interface IBenchEngine
{
    /// <summary>Row label, e.g. "ours BF16 safetensors" or "llama.cpp Q8_0".</summary>
    string Label { get; }
    bool IsLlamaCpp { get; }
    /// <summary>Tokens the prefill runs (text + image tokens before any pruning).</summary>
    int PrefillTokens { get; }

    /// <summary>Vision tower + projector on the image; null when this engine's tower cannot be run here.</summary>
    double? Vision();

    /// <summary>The prompt's prefill from already projected image features, then <paramref name="decodeTokens"/> greedy steps.</summary>
    (double PrefillMs, double DecodeMs, float[] PrefillLogits) PrefillAndDecode(int decodeTokens);

    /// <summary>Image to <paramref name="answerTokens"/> greedy tokens; IncludesVision is false when the tower is not part of it.</summary>
    (double Ms, bool IncludesVision) EndToEnd(int answerTokens);

    /// <summary>Last-token logits of a text-only prompt.</summary>
    float[] TextLogits(int[] ids);
}
