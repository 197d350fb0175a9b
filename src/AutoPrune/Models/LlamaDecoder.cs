using System.Diagnostics;
using AutoPrune.Accounting;
using AutoPrune.Loading;
using AutoPrune.Pruning;
using AutoPrune.Tensors;

namespace AutoPrune.Models;

/// <summary>
/// The LLaMA language model of LLaVA: token embeddings, decoder layers, final norm, lm_head, with the
/// visual-token pruning frame built into the prefill (DESIGN §4).
/// </summary>
public sealed class LlamaDecoder
{
    private const string P = "language_model.model.";
    public LlamaConfig Config { get; }
    public LlamaDecoderLayer[] Layers { get; }
    private readonly Weight _embed, _lmHead;
    private readonly float[] _norm;
    private readonly float[] _invFreq;

    public LlamaDecoder(LlamaConfig c, ModelWeights w)
    {
        Config = c;
        _embed = w.Get(P + "embed_tokens.weight", c.VocabSize, c.HiddenSize);
        _norm = w.Get(P + "norm.weight", c.HiddenSize).ToFloat32();
        _lmHead = c.TieWordEmbeddings && !w.Contains("language_model.lm_head.weight")
            ? _embed
            : w.Get("language_model.lm_head.weight", c.VocabSize, c.HiddenSize);
        Layers = new LlamaDecoderLayer[c.NumHiddenLayers];
        for (int i = 0; i < Layers.Length; i++) Layers[i] = new LlamaDecoderLayer(c, w, $"{P}layers.{i}.");
        _invFreq = Ops.RopeInvFreq(c.HeadDim, c.RopeTheta);
    }

    public int KvDim => Config.NumKeyValueHeads * Config.HeadDim;

    /// <summary>Embedding rows of the given ids into dst [ids.Length, d].</summary>
    public void Embed(ReadOnlySpan<int> ids, Span<float> dst)
    {
        int d = Config.HiddenSize;
        for (int i = 0; i < ids.Length; i++)
        {
            if ((uint)ids[i] >= (uint)Config.VocabSize)
                throw new InvalidPromptException($"token id {ids[i]} is outside the vocabulary ({Config.VocabSize})");
            _embed.RowTo(ids[i], dst.Slice(i * d, d));
        }
    }

    /// <summary>Final norm + lm_head of one hidden row → logits [vocab].</summary>
    public float[] Logits(ReadOnlySpan<float> hiddenRow)
    {
        var x = new float[Config.HiddenSize];
        Ops.RmsNorm(hiddenRow, _norm, Config.RmsNormEps, x, 1);
        var logits = new float[Config.VocabSize];
        MatMul.Linear(x, 1, _lmHead, default, logits);
        return logits;
    }

    /// <summary>
    /// Prefill of the merged sequence h [n, d] whose visual block is rows [visualStart, visualStart+visualCount),
    /// running the policy between layers. Returns the last row's logits; the cache holds what each layer processed.
    /// <paramref name="layerOutputs"/>, when given, receives a copy of every layer's full output (tests, explain).
    /// </summary>
    public float[] Prefill(float[] h, int n, int visualStart, int visualCount, int[] visualIds, IPruningPolicy policy,
        KvCache cache, PrefillTrace trace, int reserveForDecode, Action<int, float[], int>? layerOutputs = null)
    {
        var c = Config;
        int d = c.HiddenSize, L = Layers.Length;
        var positions = new int[n];
        for (int i = 0; i < n; i++) positions[i] = i;
        cache.OriginalLength = trace.TextTokens + trace.VisualTokensIn;
        cache.DecodedTokens = 0;
        var scratch = new LlamaDecoderLayer.Scratch(n, c);
        trace.VisualTokensPerLayer = new int[L];
        trace.VisualIdsPerLayer = new int[L][];
        double flops = 0;

        for (int l = 0; l < L; l++)
        {
            trace.VisualTokensPerLayer[l] = visualCount;
            trace.VisualIdsPerLayer[l] = visualIds[..visualCount];
            flops += Flops.DecoderLayer(n, d, c.IntermediateSize);
            var lc = cache.Layers[l];
            lc.Length = 0;
            lc.Reserve(n + reserveForDecode);
            Layers[l].Forward(h, n, positions.AsSpan(0, n), lc, _invFreq, scratch);
            layerOutputs?.Invoke(l, h, n);
            if (l == L - 1) break;

            var ctx = new DecoderLayerContext(this, l, h, scratch.Q, lc, n, visualIds, visualCount, positions)
            {
                Layer = l, NumLayers = L, SequenceLength = n, VisualStart = visualStart, VisualCount = visualCount,
                Heads = c.NumAttentionHeads, HiddenSize = d, OriginalVisualCount = trace.VisualTokensIn, Trace = trace,
            };
            var sel = policy.AfterLayer(ctx);
            if (sel == null) continue;
            (n, visualCount) = ApplySelection(sel, h, n, positions, visualIds, visualStart, visualCount, d, policy.Positions);
        }
        trace.Flops = flops;
        return Logits(h.AsSpan((n - 1) * d, d));
    }

    /// <summary>
    /// The decoder half of a LLaVA prefill: policy setup, pre-decoder selection on the projected image features,
    /// merge at the image position, pruned decoder run, FLOPs accounting. <paramref name="vis"/> supplies the
    /// vision tower's [CLS] attention and keys; <paramref name="feats"/> [N0, d] the projector output.
    /// </summary>
    public PrefillResult PrefillMultimodal(PromptTokens prompt, VisionOutput vis, float[] feats, int visionHidden, IPruningPolicy policy,
        PrefillTrace trace, int reserveForDecode, Action<int, float[], int>? layerOutputs = null)
    {
        var tc = Config;
        int d = tc.HiddenSize, n0 = vis.Tokens;
        trace.VisualTokensIn = n0;
        trace.TextTokens = prompt.TextTokens;
        policy.Begin(new PruningSetup(n0, tc.NumHiddenLayers, prompt.TextTokens, d, tc.IntermediateSize, trace));

        var visualIds = new int[n0];
        for (int i = 0; i < n0; i++) visualIds[i] = i;
        int nv = n0;
        var pre = policy.BeforeDecoder(new PreDecoderContext
        {
            VisualTokens = n0, HiddenSize = d, Features = feats, ClsAttention = vis.ClsAttention,
            VisionKeys = vis.Keys, VisionHiddenSize = visionHidden, Trace = trace,
        });

        int before = prompt.ImagePosition, after = prompt.Ids.Length - before - 1;
        int capacity = before + n0 + after;
        var h = new float[capacity * d];
        Embed(prompt.Ids.AsSpan(0, before), h);
        feats.AsSpan(0, n0 * d).CopyTo(h.AsSpan(before * d));
        Embed(prompt.Ids.AsSpan(before + 1), h.AsSpan((before + n0) * d));
        int n = capacity;
        if (pre != null)
        {
            var positions = new int[capacity];
            (n, nv) = ApplySelection(pre, h, n, positions, visualIds, before, n0, d, PositionMode.Compact);
        }
        trace.VisualTokensIntoDecoder = nv;

        var cache = new KvCache(tc.NumHiddenLayers, KvDim);
        var logits = Prefill(h, n, before, nv, visualIds, policy, cache, trace, reserveForDecode, layerOutputs);
        // Pre-decoder pruning renumbers positions (the pruned sequence is what the decoder sees); decode
        // in original mode continues from the decoder's input length then.
        if (pre != null) cache.OriginalLength = n;

        double unpruned = 0;
        for (int l = 0; l < tc.NumHiddenLayers; l++) unpruned += Flops.DecoderLayer(capacity, d, tc.IntermediateSize);
        trace.FlopsUnpruned = unpruned;
        return new PrefillResult(logits, cache, trace, policy.Positions);
    }

    /// <summary>Compacts h, positions and ids in place to prefix + kept + merged + suffix. Returns (n, visualCount).</summary>
    internal static (int, int) ApplySelection(VisualSelection sel, float[] h, int n, int[] positions, int[] visualIds,
        int visualStart, int visualCount, int d, PositionMode mode)
    {
        var seen = new bool[visualCount];
        foreach (var k in sel.Keep)
        {
            if ((uint)k >= (uint)visualCount) throw new InvalidOperationException($"policy kept visual index {k} of {visualCount}");
            if (seen[k]) throw new InvalidOperationException($"policy kept visual index {k} twice");
            seen[k] = true;
        }
        int merged = sel.Merge?.Length ?? 0, newVisual = sel.Keep.Length + merged;
        if (merged == 0 && newVisual == visualCount)
        {
            bool identity = true;
            for (int i = 0; i < newVisual && identity; i++) identity = sel.Keep[i] == i;
            if (identity) return (n, visualCount);
        }
        int suffix = n - visualStart - visualCount;
        var vh = new float[newVisual * d];
        var vpos = new int[newVisual];
        var vid = new int[newVisual];
        for (int i = 0; i < sel.Keep.Length; i++)
        {
            int r = visualStart + sel.Keep[i];
            h.AsSpan(r * d, d).CopyTo(vh.AsSpan(i * d, d));
            vpos[i] = positions[r];
            vid[i] = visualIds[sel.Keep[i]];
        }
        // Merged tokens get fresh ids ≥ N0 (the id array is allocated with N0 slots), never an original token's id.
        int nextId = visualIds.Length;
        for (int i = 0; i < visualCount; i++) nextId = Math.Max(nextId, visualIds[i] + 1);
        for (int g = 0; g < merged; g++)
        {
            var members = sel.Merge![g];
            if (members.Length == 0) throw new InvalidOperationException("policy produced an empty merge group");
            var dst = vh.AsSpan((sel.Keep.Length + g) * d, d);
            long posSum = 0;
            foreach (var mIdx in members)
            {
                if ((uint)mIdx >= (uint)visualCount) throw new InvalidOperationException($"merge member {mIdx} of {visualCount}");
                System.Numerics.Tensors.TensorPrimitives.Add(dst, h.AsSpan((visualStart + mIdx) * d, d), dst);
                posSum += positions[visualStart + mIdx];
            }
            System.Numerics.Tensors.TensorPrimitives.Multiply(dst, 1f / members.Length, dst);
            vpos[sel.Keep.Length + g] = (int)Math.Round((double)posSum / members.Length);
            vid[sel.Keep.Length + g] = nextId++;
        }
        // Move the suffix text, then write the new visual block.
        int newSuffixStart = visualStart + newVisual, oldSuffixStart = visualStart + visualCount;
        h.AsSpan(oldSuffixStart * d, suffix * d).CopyTo(h.AsSpan(newSuffixStart * d, suffix * d));
        Array.Copy(positions, oldSuffixStart, positions, newSuffixStart, suffix);
        vh.CopyTo(h.AsSpan(visualStart * d, newVisual * d));
        vpos.CopyTo(positions, visualStart);
        vid.CopyTo(visualIds, 0);
        int newN = visualStart + newVisual + suffix;
        if (mode == PositionMode.Compact)
            for (int i = 0; i < newN; i++) positions[i] = i;
        return (newN, newVisual);
    }

    /// <summary>One decode step: the new token's embedding through every layer against its cache. Returns logits.</summary>
    public float[] DecodeStep(int tokenId, KvCache cache, PositionMode mode, LlamaDecoderLayer.Scratch scratch)
    {
        int d = Config.HiddenSize;
        var h = new float[d];
        Embed([tokenId], h);
        for (int l = 0; l < Layers.Length; l++)
        {
            var lc = cache.Layers[l];
            int pos = mode == PositionMode.Compact ? lc.Length : cache.OriginalLength + cache.DecodedTokens;
            Layers[l].Forward(h, 1, [pos], lc, _invFreq, scratch);
        }
        cache.DecodedTokens++;
        return Logits(h);
    }

    private sealed class DecoderLayerContext(LlamaDecoder dec, int layer, float[] h, float[] q, LayerKvCache cache, int n, int[] ids,
        int visualCount, int[] positions) : LayerContext
    {
        public override ReadOnlySpan<int> VisualIds => ids.AsSpan(0, visualCount);

        public override ReadOnlySpan<float> Hidden(int row) =>
            (uint)row < (uint)n ? h.AsSpan(row * dec.Config.HiddenSize, dec.Config.HiddenSize) : throw new ArgumentOutOfRangeException(nameof(row));

        public override float[] AttentionPerHead(int[] queryRows, int[] keyRows)
        {
            foreach (var r in queryRows) if ((uint)r >= (uint)n) throw new ArgumentOutOfRangeException(nameof(queryRows));
            foreach (var r in keyRows) if ((uint)r >= (uint)n) throw new ArgumentOutOfRangeException(nameof(keyRows));
            var c = dec.Config;
            return Attention.Probabilities(q, cache.K, n, n, c.NumAttentionHeads, c.NumKeyValueHeads, c.HeadDim, causal: true,
                queryRows, keyRows);
        }

        public override float[] NextLayerAttentionPerHead(int[] queryRows, int[] keyRows)
        {
            if (layer + 1 >= dec.Layers.Length) throw new InvalidOperationException("the last layer has no next layer");
            foreach (var r in queryRows) if ((uint)r >= (uint)n) throw new ArgumentOutOfRangeException(nameof(queryRows));
            foreach (var r in keyRows) if ((uint)r >= (uint)n) throw new ArgumentOutOfRangeException(nameof(keyRows));
            return dec.Layers[layer + 1].ScoreAttention(h, n, positions.AsSpan(0, n), dec._invFreq, queryRows, keyRows);
        }
    }
}
