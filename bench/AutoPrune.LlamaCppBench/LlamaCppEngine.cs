using System.Diagnostics;
using System.Runtime.InteropServices;
using LLama;
using LLama.Common;
using LLama.Native;
using AutoPrune.Models;
using AutoPrune.OracleTests;

namespace AutoPrune.LlamaCppBench;

/// <summary>
/// llama.cpp (LLamaSharp 0.30.0, CPU backend) on a language-model GGUF and its mmproj. The image goes through
/// llama.cpp's own preprocessing, vision tower and projector in libmtmd (the test project's direct binding, Mtmd.cs;
/// LLamaSharp's wrapper does not match its bundled libmtmd) and enters the decoder as projected embeddings (a
/// llama_batch with embd, as llava does): text before the image, the image rows, text after it, in three decodes
/// with consecutive positions. The timed prefill uses given embeddings (ours, from the same mmproj) so both engines
/// prefill identical inputs; the end-to-end run uses llama.cpp's own.
/// </summary>
public sealed class LlamaCppEngine : IBenchEngine, IDisposable
{
    private static readonly object s_init = new();
    private static bool s_configured;
    private readonly LLamaWeights _weights;
    private readonly LLamaContext _ctx;
    private readonly LLamaBatch _batch = new();
    private readonly LLamaBatchEmbeddings _embd;
    private readonly int[] _prefix, _suffix;
    private readonly float[] _image;
    private readonly int _imageTokens, _hidden;
    private readonly Mtmd? _mtmd;
    private readonly MtmdImage _rgb;
    private readonly string _mtmdPrompt;

    /// <param name="imageEmbeddings">[imageTokens, hidden] projected image features, the decoder's input rows.</param>
    /// <param name="mmproj">llama.cpp's vision tower and projector; null runs no vision (prefill from the given embeddings only).</param>
    public LlamaCppEngine(string label, string gguf, string? mmproj, int threads, BenchInput input, float[] imageEmbeddings, int imageTokens, int contextSize)
    {
        Configure();
        Label = label;
        var ids = input.Prompt.Ids;
        int at = input.Prompt.ImagePositions[0];
        _prefix = ids[..at];
        _suffix = ids[(at + 1)..];
        _image = imageEmbeddings;
        _imageTokens = imageTokens;
        _hidden = imageEmbeddings.Length / imageTokens;
        PrefillTokens = _prefix.Length + imageTokens + _suffix.Length;
        // llama.cpp's defaults otherwise: n_ubatch 512, flash attention auto (on for the CPU backend), memory-mapped weights.
        var p = new ModelParams(gguf)
        {
            ContextSize = (uint)contextSize, BatchSize = (uint)Math.Max(PrefillTokens, 512), Threads = threads, BatchThreads = threads, GpuLayerCount = 0,
        };
        _weights = LLamaWeights.LoadFromFile(p);
        _ctx = _weights.CreateContext(p);
        if (_weights.EmbeddingSize != _hidden)
            throw new InvalidOperationException($"{gguf}: embedding size {_weights.EmbeddingSize}, image features have {_hidden}");
        _embd = new LLamaBatchEmbeddings(_hidden);
        _rgb = new MtmdImage(input.Image.Width, input.Image.Height, input.Image.Rgb);
        if (mmproj != null)
        {
            try
            {
                _mtmd = Mtmd.Load(mmproj, _weights.NativeHandle, threads);
                if (!_mtmd.SupportsVision) throw new InvalidOperationException($"{mmproj}: libmtmd reports no vision support");
            }
            catch
            {
                Dispose();
                throw;
            }
        }
        _mtmdPrompt = ChatTemplate.Format(BenchInput.Question).Replace(ChatTemplate.ImageLiteral, _mtmd?.Marker ?? "", StringComparison.Ordinal);
    }

    public string Label { get; }
    public bool IsLlamaCpp => true;
    public int PrefillTokens { get; }

    /// <summary>llama.cpp's own report of its build (instruction sets compiled in).</summary>
    public static string SystemInfo()
    {
        Configure();
        return Marshal.PtrToStringAnsi(NativeApi.llama_print_system_info())?.Trim() ?? "";
    }

    public double? Vision()
    {
        if (_mtmd == null) return null;
        var sw = Stopwatch.StartNew();
        Encode();
        return sw.Elapsed.TotalMilliseconds;
    }

    /// <summary>libmtmd on the image: its preprocessing (inside tokenizing the prompt), vision tower and projector.</summary>
    private float[] Encode()
    {
        using var chunks = _mtmd!.Tokenize(_mtmdPrompt, [_rgb]);
        for (int i = 0; i < chunks.Count; i++)
            if (chunks.Type(i) == Mtmd.ChunkImage)
            {
                if (chunks.Tokens(i) != _imageTokens)
                    throw new InvalidOperationException($"libmtmd made {chunks.Tokens(i)} image tokens, ours {_imageTokens}");
                return _mtmd.Encode(chunks, i, _hidden);
            }
        throw new InvalidOperationException("libmtmd found no image in the prompt");
    }

    public (double PrefillMs, double DecodeMs, float[] PrefillLogits) PrefillAndDecode(int decodeTokens)
    {
        var sw = Stopwatch.StartNew();
        var logits = Prefill(_image).ToArray();
        double prefill = sw.Elapsed.TotalMilliseconds;
        sw.Restart();
        int next = Greedy.ArgMax(logits);
        for (int i = 0; i < decodeTokens; i++) next = Greedy.ArgMax(Step(next, PrefillTokens + i));
        return (prefill, sw.Elapsed.TotalMilliseconds, logits);
    }

    /// <summary>libmtmd's vision, prefill from its embeddings, then the answer; without an mmproj, no vision inside.</summary>
    public (double Ms, bool IncludesVision) EndToEnd(int answerTokens)
    {
        var sw = Stopwatch.StartNew();
        var image = _mtmd != null ? Encode() : _image;
        int next = Greedy.ArgMax(Prefill(image));
        for (int i = 1; i < answerTokens; i++) next = Greedy.ArgMax(Step(next, PrefillTokens + i - 1));
        return (sw.Elapsed.TotalMilliseconds, _mtmd != null);
    }

    public float[] TextLogits(int[] ids)
    {
        _ctx.NativeHandle.MemoryClear(true);
        _batch.Clear();
        for (int i = 0; i < ids.Length; i++) _batch.Add(ids[i], i, LLamaSeqId.Zero, i == ids.Length - 1);
        Check(_ctx.Decode(_batch));
        return _ctx.NativeHandle.GetLogitsIth(_batch.TokenCount - 1).ToArray();
    }

    /// <summary>Fresh KV cache, then prefix tokens, image embeddings, suffix tokens; the last position's logits.</summary>
    private Span<float> Prefill(float[] image)
    {
        _ctx.NativeHandle.MemoryClear(true);
        int pos = 0;
        _batch.Clear();
        foreach (var id in _prefix) _batch.Add(id, pos++, LLamaSeqId.Zero, false);
        if (_batch.TokenCount > 0) Check(_ctx.Decode(_batch));
        _embd.Clear();
        for (int t = 0; t < _imageTokens; t++) _embd.Add(image.AsSpan(t * _hidden, _hidden), pos++, LLamaSeqId.Zero, false);
        Check(_ctx.Decode(_embd));
        _batch.Clear();
        for (int i = 0; i < _suffix.Length; i++) _batch.Add(_suffix[i], pos++, LLamaSeqId.Zero, i == _suffix.Length - 1);
        Check(_ctx.Decode(_batch));
        return _ctx.NativeHandle.GetLogitsIth(_batch.TokenCount - 1);
    }

    private Span<float> Step(int token, int pos)
    {
        _batch.Clear();
        _batch.Add(token, pos, LLamaSeqId.Zero, true);
        Check(_ctx.Decode(_batch));
        return _ctx.NativeHandle.GetLogitsIth(0);
    }

    private static void Check(DecodeResult r)
    {
        if (r != DecodeResult.Ok) throw new InvalidOperationException($"llama_decode returned {r}");
    }

    private static void Configure()
    {
        lock (s_init)
        {
            if (s_configured) return;
            // Must precede the first native call; llama.cpp otherwise logs every tensor to stderr.
            NativeLibraryConfig.All.WithLogCallback((level, message) => { });
            s_configured = true;
        }
    }

    public void Dispose()
    {
        _mtmd?.Dispose();
        _ctx.Dispose();
        _weights.Dispose();
    }
}
