using AutoPrune.Loading;
using AutoPrune.Models;
using AutoPrune.Tensors;

namespace AutoPrune.Benchmarking;

/// <summary>
/// A random-weight LLaMA decoder of a named LLaVA shape, built in memory (no download), for timing.
/// One random layer is shared by all layers: prefill is compute-bound and decode streams each layer's weights
/// from DRAM either way (a layer is far larger than any cache), so timings match distinct weights while the
/// build stays fast and small. Peak memory therefore understates a real checkpoint's.
/// </summary>
public sealed class SyntheticDecoder : IDisposable
{
    public required string Shape { get; init; }
    public required LlamaConfig Config { get; init; }
    public required LlamaModel LanguageModel { get; init; }
    /// <summary>Visual tokens per image of this shape (576 for CLIP-L/336, the embedded model's own count for tiny).</summary>
    public required int VisualTokens { get; init; }
    public required int VisionHiddenSize { get; init; }
    public required DType WeightDType { get; init; }
    /// <summary>The linear layers one decode step multiplies by, in order: q, k, v, o, gate, up, down of every layer, then lm_head.</summary>
    public required IReadOnlyList<Weight> DecodeLinears { get; init; }
    private ModelWeights? _weights;

    public static SyntheticDecoder Create(string shape, LlamaConfig text, int visualTokens, int visionHidden, int? layers, DType dtype, int seed = 1)
    {
        if (layers is < 1) throw new ArgumentOutOfRangeException(nameof(layers), "a decoder needs at least one layer");
        var c = text with { NumHiddenLayers = layers ?? text.NumHiddenLayers };
        int d = c.HiddenSize, m = c.IntermediateSize, qd = c.NumAttentionHeads * c.HeadDim, kvd = c.NumKeyValueHeads * c.HeadDim;
        var owners = new List<IDisposable>();
        var all = new List<Weight>();
        float s = 1f / MathF.Sqrt(d);
        var ones = new float[Math.Max(d, 1)];
        Array.Fill(ones, 1f);
        Weight W(string name, int[] shape, int sd) => SyntheticWeights.Create(name, dtype, shape, seed + sd, s, owners);
        all.Add(W("language_model.model.embed_tokens.weight", [c.VocabSize, d], 1));
        all.Add(W("language_model.lm_head.weight", [c.VocabSize, d], 2));
        all.Add(SyntheticWeights.FromValues("language_model.model.norm.weight", DType.F32, [d], ones, owners));
        var layer = new (string name, Weight w)[]
        {
            ("input_layernorm.weight", SyntheticWeights.FromValues("ln1", DType.F32, [d], ones, owners)),
            ("post_attention_layernorm.weight", SyntheticWeights.FromValues("ln2", DType.F32, [d], ones, owners)),
            ("self_attn.q_proj.weight", W("q", [qd, d], 3)),
            ("self_attn.k_proj.weight", W("k", [kvd, d], 4)),
            ("self_attn.v_proj.weight", W("v", [kvd, d], 5)),
            ("self_attn.o_proj.weight", W("o", [d, qd], 6)),
            ("mlp.gate_proj.weight", W("gate", [m, d], 7)),
            ("mlp.up_proj.weight", W("up", [m, d], 8)),
            ("mlp.down_proj.weight", W("down", [d, m], 9)),
        };
        unsafe
        {
            for (int l = 0; l < c.NumHiddenLayers; l++)
                foreach (var (name, w) in layer)
                    all.Add(new Weight($"language_model.model.layers.{l}.{name}", w.DType, w.Shape, w.Data));
        }
        var linears = new List<Weight>();
        for (int l = 0; l < c.NumHiddenLayers; l++)
            foreach (var (name, w) in layer)
                if (name.StartsWith("self_attn.", StringComparison.Ordinal) || name.StartsWith("mlp.", StringComparison.Ordinal)) linears.Add(w);
        linears.Add(all[1]);
        var weights = new ModelWeights($"random {shape}", all, owners);
        return new SyntheticDecoder
        {
            Shape = shape, Config = c, LanguageModel = new LlamaModel(c, weights), VisualTokens = visualTokens,
            VisionHiddenSize = visionHidden, WeightDType = dtype, DecodeLinears = linears, _weights = weights,
        };
    }

    /// <summary>A prompt of <paramref name="textTokens"/> random ids with the image placeholder after the first five.</summary>
    public TokenizedPrompt Prompt(int textTokens, int imageTokenId, int seed = 7)
    {
        var rng = new Random(seed);
        var ids = new int[textTokens + 1];
        int imagePos = Math.Min(5, textTokens);
        for (int i = 0; i < ids.Length; i++)
        {
            int id;
            do id = rng.Next(3, Config.VocabSize); while (id == imageTokenId);
            ids[i] = id;
        }
        ids[0] = Config.BosTokenId;
        ids[imagePos] = imageTokenId;
        return new TokenizedPrompt(ids, imagePos);
    }

    /// <summary>Random projected image features [n0, d] and a plausible [CLS] attention (positive, sums to &lt; 1).</summary>
    public ImageFeatures Image(int n0, int seed = 11)
    {
        var rng = new Random(seed);
        int d = Config.HiddenSize;
        var feats = new float[n0 * d];
        for (int i = 0; i < feats.Length; i++) feats[i] = (float)(rng.NextDouble() * 2 - 1);
        var cls = new float[n0];
        double sum = 0;
        for (int i = 0; i < n0; i++) { cls[i] = (float)Math.Exp(3 * rng.NextDouble()); sum += cls[i]; }
        for (int i = 0; i < n0; i++) cls[i] = (float)(cls[i] / sum * 0.5);
        var keys = new float[n0 * VisionHiddenSize];
        for (int i = 0; i < keys.Length; i++) keys[i] = (float)(rng.NextDouble() * 2 - 1);
        return new ImageFeatures(feats, n0, d, cls, keys, VisionHiddenSize);
    }

    public void Dispose() { _weights?.Dispose(); _weights = null; }
}
