using System.Numerics.Tensors;
using System.Diagnostics;
using AutoPrune.Accounting;
using AutoPrune.Pruning;
using AutoPrune.Tensors;

namespace AutoPrune.Models;

/// <summary>
/// One prefill-and-decode run of a prompt with images on a <see cref="LlamaModel"/>: it builds the merged sequence
/// (each image placeholder replaced by its image's features), runs the pruning frame around the decoder layers
/// (pre-decoder selection, a selection after every layer, compaction of every image span, positions, FLOPs, trace),
/// then decodes from the per-layer KV caches. Buffers (sequence, positions, scratch, logits) are allocated once, here.
/// A run is used from one thread; the model it runs on may be shared by concurrent runs.
/// </summary>
public sealed class InferenceRun
{
    private readonly LlamaModel _lm;
    private readonly IPruningPolicy _policy;
    private readonly int _reserve, _n0, _layers, _d;
    private readonly int[] _imageOffset;                  // first original id of each image
    private readonly PrunedSequence _seq;
    private readonly LlamaDecoderLayer.Scratch _scratch, _decodeScratch;
    private readonly int[] _decodePositions;
    private int _originalLength;
    private float[]? _widenedKeys;                        // a BF16 cache's keys as F32, for the policies' scores
    private bool _prefilled;

    /// <param name="languageModel">The decoder the run executes.</param>
    /// <param name="prompt">Token ids with one placeholder per image.</param>
    /// <param name="images">One entry per placeholder, in prompt order.</param>
    /// <param name="policy">Visual-token pruning during the prefill; null keeps every token.</param>
    /// <param name="reserveForDecode">Tokens to size the KV caches for beyond the prompt (they still grow if needed).</param>
    public InferenceRun(LlamaModel languageModel, TokenizedPrompt prompt, IReadOnlyList<ImageFeatures> images, IPruningPolicy? policy = null,
        int reserveForDecode = 8)
    {
        if (images.Count != prompt.Images)
            throw new InvalidPromptException($"the prompt has {prompt.Images} image placeholder(s) but {images.Count} image(s) were given");
        _lm = languageModel;
        _policy = policy ?? new NoPruning();
        _reserve = reserveForDecode;
        _d = languageModel.HiddenSize;
        _layers = languageModel.Layers.Length;
        Prompt = prompt;
        Images = images;
        Positions = _policy.Positions;
        _imageOffset = new int[images.Count];
        for (int i = 0; i < images.Count; i++)
        {
            if (images[i].HiddenSize != _d)
                throw new ArgumentException($"image {i} has features of width {images[i].HiddenSize}; the language model's hidden size is {_d}", nameof(images));
            if (i > 0 && prompt.ImagePositions[i] <= prompt.ImagePositions[i - 1])
                throw new ArgumentException("image placeholder positions must be ascending", nameof(prompt));
            _imageOffset[i] = _n0;
            _n0 += images[i].Tokens;
        }
        if (prompt.Images > 0 && (prompt.ImagePositions[0] < 0 || prompt.ImagePositions[^1] >= prompt.Ids.Length))
            throw new ArgumentException("an image placeholder position is outside the prompt", nameof(prompt));

        int capacity = prompt.TextTokens + _n0;
        _seq = new PrunedSequence(capacity, _d, _n0, images.Count);
        _scratch = new LlamaDecoderLayer.Scratch(capacity, languageModel.Config);
        _decodeScratch = new LlamaDecoderLayer.Scratch(1, languageModel.Config);
        _decodePositions = new int[_layers];
        Logits = new float[languageModel.Config.VocabSize];
        Cache = languageModel.NewCache();
        Trace = new PrefillTrace { Policy = _policy.Name };
    }

    public TokenizedPrompt Prompt { get; }
    public IReadOnlyList<ImageFeatures> Images { get; }
    /// <summary>What the prefill processed and cost; the policy's measurements; decode time after <see cref="Generate"/>.</summary>
    public PrefillTrace Trace { get; }
    public PositionMode Positions { get; }
    /// <summary>Per-layer caches: exactly the rows each layer processed, then the decoded tokens.</summary>
    public KvCache Cache { get; }
    /// <summary>Logits of the last position: after <see cref="Prefill"/>, then overwritten by each <see cref="Decode"/>.</summary>
    public float[] Logits { get; }
    public int DecodedTokens { get; private set; }

    /// <summary>The images' tokens in the current sequence (after the prefill: what the last layer processed).</summary>
    public IReadOnlyList<ImageSpan> Spans => _seq.Spans();

    /// <summary>Test seam: each layer's full output (layer, hidden [n, d], n) as the prefill runs.</summary>
    internal Action<int, float[], int>? OnLayerOutput { get; set; }
    /// <summary>Test seam: the merged input sequence (hidden [n, d], n) before any pruning.</summary>
    internal Action<float[], int>? OnMerged { get; set; }

    /// <summary>
    /// Runs the prompt through every layer with the pruning frame; returns the last position's logits. Once per run.
    /// </summary>
    public float[] Prefill()
    {
        if (_prefilled) throw new InvalidOperationException("a run prefills once");
        _prefilled = true;
        var sw = Stopwatch.StartNew();
        var c = _lm.Config;
        var trace = Trace;
        trace.VisualTokensIn = _n0;
        trace.TextTokens = Prompt.TextTokens;
        // Without visual tokens there is nothing to prune (a text-only turn under a pruning policy).
        var pruning = _n0 > 0 ? _policy.Begin(new PruningSetup(_n0, _layers, trace)) : NoPruning.KeepAll.Instance;

        Merge();
        OnMerged?.Invoke(_seq.H, _seq.Length);
        int capacity = _seq.Length;
        VisualSelection? pre = null;
        if (_n0 > 0)
        {
            var (feats, cls, keys) = ConcatenatedImages();
            pre = pruning.BeforeDecoder(new PreDecoderContext
            {
                VisualTokens = _n0, HiddenSize = _d, Features = feats, ClsAttention = cls, VisionKeys = keys,
                VisionHiddenSize = Images[0].VisionHiddenSize, Spans = _seq.Spans(), Trace = trace,
            });
            // Pre-decoder pruning renumbers positions: the pruned sequence is all the decoder ever sees.
            if (pre != null) _seq.Apply(pre, PositionMode.Compact);
        }
        trace.VisualTokensIntoDecoder = _seq.VisualCount;
        // Decode in original mode continues after the unpruned sequence (or the decoder's input when pruned before it).
        _originalLength = pre != null ? _seq.Length : Prompt.TextTokens + _n0;

        trace.VisualTokensPerLayer = new int[_layers];
        trace.VisualIdsPerLayer = new int[_layers][];
        trace.ImageVisualTokensPerLayer = new int[Images.Count][];
        for (int i = 0; i < Images.Count; i++) trace.ImageVisualTokensPerLayer[i] = new int[_layers];
        double flops = 0;
        for (int l = 0; l < _layers; l++)
        {
            int visual = _seq.VisualCount, n = _seq.Length;
            trace.VisualTokensPerLayer[l] = visual;
            trace.VisualIdsPerLayer[l] = _seq.Ids[..visual];
            for (int i = 0; i < Images.Count; i++) trace.ImageVisualTokensPerLayer[i][l] = _seq.SpanCount(i);
            flops += Flops.DecoderLayer(n, _d, c.IntermediateSize);
            var lc = Cache.Layers[l];
            lc.Reserve(n + _reserve);
            _lm.Layers[l].Forward(_seq.H, n, _seq.Positions.AsSpan(0, n), lc, _scratch);
            OnLayerOutput?.Invoke(l, _seq.H, n);
            if (l == _layers - 1) break;

            var sel = pruning.AfterLayer(new DecoderLayerContext(this, l, lc)
            {
                Layer = l, SequenceLength = n, Heads = c.NumAttentionHeads, HiddenSize = _d, Spans = _seq.Spans(), Trace = trace,
            });
            if (sel != null) _seq.Apply(sel, Positions);
        }
        trace.Flops = flops;
        double unpruned = 0;
        for (int l = 0; l < _layers; l++) unpruned += Flops.DecoderLayer(capacity, _d, c.IntermediateSize);
        trace.FlopsUnpruned = unpruned;
        _lm.Logits(_seq.H.AsSpan((_seq.Length - 1) * _d, _d), Logits, _scratch);
        trace.PrefillMs = trace.VisionMs + sw.Elapsed.TotalMilliseconds;
        return Logits;
    }

    /// <summary>Appends one token: every layer attends to its own (possibly pruned) cache. Returns the new logits.</summary>
    public float[] Decode(int tokenId)
    {
        if (!_prefilled) throw new InvalidOperationException("decode needs a prefill first");
        for (int l = 0; l < _layers; l++)
            _decodePositions[l] = Positions == PositionMode.Compact ? Cache.Layers[l].Length : _originalLength + DecodedTokens;
        _lm.DecodeStep(tokenId, _decodePositions, Cache, _decodeScratch, Logits);
        DecodedTokens++;
        return Logits;
    }

    /// <summary>
    /// The decode loop (prefilling first if needed): <paramref name="pick"/> chooses a token from the current logits,
    /// <paramref name="onToken"/> sees it (returning true ends the answer there, e.g. at a stop sequence), and the loop
    /// stops at <paramref name="eosId"/> or after <paramref name="maxNewTokens"/> tokens, else decodes it. Records the
    /// decode time in the trace.
    /// </summary>
    public int[] Generate(int maxNewTokens, Func<float[], int> pick, int eosId, Func<int, bool>? onToken = null, CancellationToken cancellation = default)
    {
        if (maxNewTokens < 1) throw new GenerationOptionException($"max new tokens {maxNewTokens} must be at least 1");
        if (!_prefilled) Prefill();
        var sw = Stopwatch.StartNew();
        var output = new List<int>(maxNewTokens);
        var logits = Logits;
        for (int step = 0; step < maxNewTokens; step++)
        {
            cancellation.ThrowIfCancellationRequested();
            // NaN logits would make every comparison false and argmax pick id 0: an empty answer reported as success.
            if (!TensorPrimitives.IsFiniteAll<float>(logits))
                throw new NonFiniteValueException(
                    $"the model produced NaN or infinite logits {(step == 0 ? "after the prefill" : $"at decode step {step}")}; " +
                    "its weights probably hold non-finite values (ModelWeights.FindNonFinite names the first)");
            int next = pick(logits);
            output.Add(next);
            bool stop = onToken?.Invoke(next) == true;
            if (stop || next == eosId || step == maxNewTokens - 1) break;
            logits = Decode(next);
        }
        Trace.DecodeMs = sw.Elapsed.TotalMilliseconds;
        return output.ToArray();
    }

    /// <summary>Embeds the text and places each image's features at its placeholder; positions 0..n-1.</summary>
    private void Merge()
    {
        int d = _d, row = 0, src = 0;
        var ids = Prompt.Ids;
        var h = _seq.H;
        for (int i = 0; i < Images.Count; i++)
        {
            int p = Prompt.ImagePositions[i];
            _lm.Embed(ids.AsSpan(src, p - src), h.AsSpan(row * d));
            row += p - src;
            var img = Images[i];
            img.Features.AsSpan(0, img.Tokens * d).CopyTo(h.AsSpan(row * d));
            _seq.SetSpan(i, row, img.Tokens);
            row += img.Tokens;
            src = p + 1;
        }
        _lm.Embed(ids.AsSpan(src), h.AsSpan(row * d));
        _seq.Length = row + ids.Length - src;
        for (int i = 0; i < _seq.Length; i++) _seq.Positions[i] = i;
        for (int i = 0; i < _n0; i++) _seq.Ids[i] = i;
    }

    /// <summary>Every image's features, [CLS] attention and keys as one visual set (no copy for a single image).</summary>
    private (float[] Features, float[] Cls, float[] Keys) ConcatenatedImages()
    {
        if (Images.Count == 1) return (Images[0].Features, Images[0].ClsAttention, Images[0].VisionKeys);
        int dk = Images[0].VisionHiddenSize;
        var feats = new float[_n0 * _d];
        var cls = new float[_n0];
        var keys = new float[_n0 * dk];
        for (int i = 0; i < Images.Count; i++)
        {
            var img = Images[i];
            if (img.VisionHiddenSize != dk) throw new ArgumentException("all images of a prompt must come from one vision tower");
            int o = _imageOffset[i];
            img.Features.AsSpan(0, img.Tokens * _d).CopyTo(feats.AsSpan(o * _d));
            img.ClsAttention.AsSpan(0, img.Tokens).CopyTo(cls.AsSpan(o));
            img.VisionKeys.AsSpan(0, img.Tokens * dk).CopyTo(keys.AsSpan(o * dk));
        }
        return (feats, cls, keys);
    }

    /// <summary>What a policy sees after layer <c>layer</c>: this run's rows, that layer's Q and keys.</summary>
    private sealed class DecoderLayerContext(InferenceRun run, int layer, LayerKvCache cache) : LayerContext
    {
        private readonly float[] _h = run._seq.H;
        private readonly int[] _positions = run._seq.Positions;
        private readonly int[] _ids = run._seq.Ids;
        private readonly int _n = run._seq.Length, _visual = run._seq.VisualCount;

        public override ReadOnlySpan<int> VisualIds => _ids.AsSpan(0, _visual);

        public override ReadOnlySpan<float> Hidden(int row) =>
            (uint)row < (uint)_n ? _h.AsSpan(row * run._d, run._d) : throw new ArgumentOutOfRangeException(nameof(row));

        public override float[] AttentionPerHead(int[] queryRows, int[] keyRows)
        {
            CheckRows(queryRows, keyRows);
            var c = run._lm.Config;
            var keys = cache.KeysAsF32(_n, ref run._widenedKeys);
            return Attention.Probabilities(run._scratch.Q, keys, _n, _n, c.NumAttentionHeads, c.NumKeyValueHeads, c.HeadDim, causal: true,
                queryRows, keyRows);
        }

        public override float[] NextLayerAttentionPerHead(int[] queryRows, int[] keyRows)
        {
            if (layer + 1 >= run._layers) throw new InvalidOperationException("the last layer has no next layer");
            CheckRows(queryRows, keyRows);
            return run._lm.Layers[layer + 1].ScoreAttention(_h, _n, _positions.AsSpan(0, _n), queryRows, keyRows);
        }

        private void CheckRows(int[] queryRows, int[] keyRows)
        {
            foreach (var r in queryRows) if ((uint)r >= (uint)_n) throw new ArgumentOutOfRangeException(nameof(queryRows));
            foreach (var r in keyRows) if ((uint)r >= (uint)_n) throw new ArgumentOutOfRangeException(nameof(keyRows));
        }
    }
}
