using AutoPrune.Loading;
using AutoPrune.Tensors;

namespace AutoPrune.Models;

/// <summary>
/// The LLaMA causal language model (transformers LlamaForCausalLM): token embeddings, decoder layers, final norm,
/// lm_head. It knows nothing of images or pruning: a caller builds the input rows (text rows from <see cref="Embed"/>,
/// image features, anything of width d), runs <see cref="Layers"/> at the positions it chooses, and reads
/// <see cref="Logits"/>; <see cref="DecodeStep"/> appends one token.
/// Thread safety: weights and RoPE tables are read-only after construction and every per-sequence buffer lives in
/// the caller's <see cref="KvCache"/> and <see cref="LlamaDecoderLayer.Scratch"/>, so one instance serves any number
/// of concurrent sequences.
/// </summary>
public sealed class LlamaModel
{
    private const string P = "language_model.model.";
    public LlamaConfig Config { get; }
    public LlamaDecoderLayer[] Layers { get; }
    private readonly Weight _embed, _lmHead;
    private readonly float[] _norm;

    public LlamaModel(LlamaConfig c, ModelWeights w)
    {
        Config = c;
        _embed = w.Get(P + "embed_tokens.weight", c.VocabSize, c.HiddenSize);
        _norm = w.Get(P + "norm.weight", c.HiddenSize).ToFloat32();
        _lmHead = c.TieWordEmbeddings && !w.Contains("language_model.lm_head.weight")
            ? _embed
            : w.Get("language_model.lm_head.weight", c.VocabSize, c.HiddenSize);
        var invFreq = Ops.RopeInvFreq(c.HeadDim, c.RopeTheta);
        Layers = new LlamaDecoderLayer[c.NumHiddenLayers];
        for (int i = 0; i < Layers.Length; i++) Layers[i] = new LlamaDecoderLayer(c, w, $"{P}layers.{i}.", invFreq);
    }

    public int HiddenSize => Config.HiddenSize;
    public int KvDim => Config.NumKeyValueHeads * Config.HeadDim;

    /// <summary>
    /// The number format of the KV caches of runs started from now on (<see cref="NewCache"/>): F32 (default, exact) or
    /// BF16 (half the cache memory and decode attention traffic; see <see cref="Models.KvCacheType"/>).
    /// </summary>
    public KvCacheType KvCacheType
    {
        get => _kvCacheType;
        set => _kvCacheType = Enum.IsDefined(value) ? value : throw new GenerationOptionException($"KV cache type {(int)value} is not one of F32, BF16");
    }
    private KvCacheType _kvCacheType;

    /// <summary>Empty KV caches for one sequence, of type <see cref="KvCacheType"/> (each layer grows on first use).</summary>
    public KvCache NewCache() => new(Layers.Length, KvDim, KvCacheType);

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

    /// <summary>Final norm + lm_head of one hidden row into logits [vocab]; <paramref name="s"/> lends its norm buffer.</summary>
    public void Logits(ReadOnlySpan<float> hiddenRow, Span<float> logits, LlamaDecoderLayer.Scratch s)
    {
        var x = s.X.AsSpan(0, Config.HiddenSize);
        Ops.RmsNorm(hiddenRow, _norm, Config.RmsNormEps, x, 1);
        MatMul.Linear(x, 1, _lmHead, default, logits);
    }

    /// <summary>
    /// One new token through every layer against its cache, layer l at RoPE position <paramref name="layerPositions"/>[l]
    /// (the same value for every layer unless the caller pruned layers differently). Writes the logits.
    /// </summary>
    public void DecodeStep(int tokenId, ReadOnlySpan<int> layerPositions, KvCache cache, LlamaDecoderLayer.Scratch s, Span<float> logits)
    {
        var h = s.Row;
        Embed([tokenId], h);
        for (int l = 0; l < Layers.Length; l++)
            Layers[l].Forward(h, 1, layerPositions.Slice(l, 1), cache.Layers[l], s);
        Logits(h, logits, s);
    }
}
