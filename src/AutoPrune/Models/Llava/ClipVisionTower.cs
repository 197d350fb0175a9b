using AutoPrune.Loading;
using AutoPrune.Tensors;

namespace AutoPrune.Models;

/// <summary>What LLaVA takes from the vision tower for one image.</summary>
/// <param name="Features">Selected hidden states [tokens, Dv] of hidden_states[vision_feature_layer] (CLS dropped for "default").</param>
/// <param name="ClsAttention">[patches] CLS→patch attention of the last layer run, mean over heads (softmax over all keys).</param>
/// <param name="Keys">[patches, Dv] that layer's key projections of the patch tokens (VisionZip merges by key similarity).</param>
public sealed record VisionOutput(float[] Features, int Tokens, float[] ClsAttention, float[] Keys);

/// <summary>
/// CLIP ViT encoder (transformers CLIPVisionModel), run only up to the layer LLaVA reads:
/// hidden_states[i] is the input of encoder layer i, so vision_feature_layer = -2 stops one layer early.
/// </summary>
public sealed class ClipVisionTower
{
    private const string P = "vision_tower.vision_model.";
    private readonly ClipVisionConfig _c;
    private readonly int _layersUsed;
    private readonly bool _keepCls;
    private readonly Weight _patch;          // [Dv, C·p·p] viewed as a linear layer over flattened patches
    private readonly float[] _classEmb;      // [Dv]
    private readonly float[] _posEmb;        // [P+1, Dv]
    private readonly float[] _preW, _preB;
    private readonly ClipEncoderLayer[] _layers;
    private ClipEncoderLayer.Scratch? _spare;

    public ClipVisionTower(LlavaConfig config, ModelWeights w)
    {
        _c = config.Vision;
        _layersUsed = config.VisionLayersUsed;
        _keepCls = config.VisionFeatureSelectStrategy == "full";
        int d = _c.HiddenSize, p = _c.PatchSize;
        _patch = w.Get(P + "embeddings.patch_embedding.weight", d, _c.NumChannels, p, p);
        _classEmb = w.Get(P + "embeddings.class_embedding", d).ToFloat32();
        _posEmb = w.Get(P + "embeddings.position_embedding.weight", _c.NumPatches + 1, d).ToFloat32();
        _preW = w.Get(P + "pre_layrnorm.weight", d).ToFloat32();
        _preB = w.Get(P + "pre_layrnorm.bias", d).ToFloat32();
        _layers = new ClipEncoderLayer[_layersUsed];
        for (int i = 0; i < _layersUsed; i++) _layers[i] = new ClipEncoderLayer(_c, w, $"{P}encoder.layers.{i}.");
    }

    public int FeatureTokens => _c.NumPatches + (_keepCls ? 1 : 0);

    /// <summary>pixels: [C, H, W] preprocessed (CLIP-normalized) image.</summary>
    public VisionOutput Forward(float[] pixels)
    {
        int c = _c.NumChannels, size = _c.ImageSize, p = _c.PatchSize, side = _c.PatchesPerSide;
        int np = _c.NumPatches, n = np + 1, d = _c.HiddenSize;
        if (pixels.Length != c * size * size)
            throw new ArgumentException($"pixel tensor has {pixels.Length} values, the vision tower expects {c}x{size}x{size}");

        // Patch conv (stride = kernel, no bias) as im2col + linear; patches row-major over the grid.
        int pd = c * p * p;
        var cols = new float[np * pd];
        for (int py = 0; py < side; py++)
            for (int px = 0; px < side; px++)
            {
                int row = (py * side + px) * pd;
                for (int ch = 0; ch < c; ch++)
                    for (int y = 0; y < p; y++)
                        pixels.AsSpan(ch * size * size + (py * p + y) * size + px * p, p)
                            .CopyTo(cols.AsSpan(row + (ch * p + y) * p, p));
            }
        var emb = new float[n * d];
        MatMul.Linear(cols, np, _patch, default, emb.AsSpan(d));
        _classEmb.CopyTo(emb, 0);
        System.Numerics.Tensors.TensorPrimitives.Add(emb, _posEmb, emb);

        var h = new float[n * d];
        Ops.LayerNorm(emb, _preW, _preB, _c.LayerNormEps, h, n);

        // The layers' scratch (21 MB at CLIP-L) is kept for the next image: allocating it each time costs page faults
        // and gen-2 collections. A concurrent call finds the slot empty and allocates its own.
        var scratch = Interlocked.Exchange(ref _spare, null) ?? new ClipEncoderLayer.Scratch(n, _c);
        float[] clsAttn = [];
        float[] keys = [];
        for (int i = 0; i < _layers.Length; i++)
        {
            bool last = i == _layers.Length - 1;
            _layers[i].Forward(h, n, scratch);
            if (last)
            {
                // CLS row of this layer's attention, mean over heads, patch columns only.
                var patchCols = new int[np];
                for (int j = 0; j < np; j++) patchCols[j] = j + 1;
                var per = Attention.Probabilities(scratch.Q, scratch.K, n, n, _c.NumAttentionHeads, _c.NumAttentionHeads,
                    _c.HeadDim, causal: false, [0], patchCols);
                clsAttn = Attention.MeanOverHeads(per, _c.NumAttentionHeads, 1, np);
                keys = scratch.K.AsSpan(d, np * d).ToArray();
            }
        }
        Volatile.Write(ref _spare, scratch);
        var features = _keepCls ? h : h.AsSpan(d).ToArray();
        return new VisionOutput(features, FeatureTokens, clsAttn, keys);
    }
}

/// <summary>One pre-LN CLIP encoder layer: h += out_proj(attn(ln1 h)); h += fc2(act(fc1(ln2 h))).</summary>
internal sealed class ClipEncoderLayer
{
    private readonly ClipVisionConfig _c;
    private readonly float[] _ln1W, _ln1B, _ln2W, _ln2B, _qB, _kB, _vB, _oB, _fc1B, _fc2B;
    private readonly Weight _q, _k, _v, _o, _fc1, _fc2;
    private readonly Activation _act;

    internal sealed class Scratch(int n, ClipVisionConfig c)
    {
        public readonly float[] X = new float[n * c.HiddenSize];
        public readonly float[] Q = new float[n * c.HiddenSize];
        public readonly float[] K = new float[n * c.HiddenSize];
        public readonly float[] V = new float[n * c.HiddenSize];
        public readonly float[] A = new float[n * c.HiddenSize];
        public readonly float[] M = new float[n * c.IntermediateSize];
    }

    public ClipEncoderLayer(ClipVisionConfig c, ModelWeights w, string p)
    {
        _c = c;
        _act = c.HiddenAct == "quick_gelu" ? Activation.QuickGelu : Activation.Gelu;
        int d = c.HiddenSize, m = c.IntermediateSize;
        _ln1W = w.Get(p + "layer_norm1.weight", d).ToFloat32(); _ln1B = w.Get(p + "layer_norm1.bias", d).ToFloat32();
        _ln2W = w.Get(p + "layer_norm2.weight", d).ToFloat32(); _ln2B = w.Get(p + "layer_norm2.bias", d).ToFloat32();
        _q = w.Get(p + "self_attn.q_proj.weight", d, d); _qB = w.Get(p + "self_attn.q_proj.bias", d).ToFloat32();
        _k = w.Get(p + "self_attn.k_proj.weight", d, d); _kB = w.Get(p + "self_attn.k_proj.bias", d).ToFloat32();
        _v = w.Get(p + "self_attn.v_proj.weight", d, d); _vB = w.Get(p + "self_attn.v_proj.bias", d).ToFloat32();
        _o = w.Get(p + "self_attn.out_proj.weight", d, d); _oB = w.Get(p + "self_attn.out_proj.bias", d).ToFloat32();
        _fc1 = w.Get(p + "mlp.fc1.weight", m, d); _fc1B = w.Get(p + "mlp.fc1.bias", m).ToFloat32();
        _fc2 = w.Get(p + "mlp.fc2.weight", d, m); _fc2B = w.Get(p + "mlp.fc2.bias", d).ToFloat32();
    }

    /// <summary>h: [n, d] residual stream, updated in place. Leaves Q and K of this layer in the scratch.</summary>
    public void Forward(float[] h, int n, Scratch s)
    {
        int d = _c.HiddenSize, heads = _c.NumAttentionHeads;
        Ops.LayerNorm(h, _ln1W, _ln1B, _c.LayerNormEps, s.X, n);
        MatMul.Linear(s.X, n, _q, _qB, s.Q);
        MatMul.Linear(s.X, n, _k, _kB, s.K);
        MatMul.Linear(s.X, n, _v, _vB, s.V);
        Attention.Forward(s.Q, n, s.K, s.V, n, heads, heads, _c.HeadDim, causal: false, s.A);
        // The residual adds and the activation run inside the GEMMs, on each block of output as it is finished.
        MatMul.LinearAddTo(s.A, n, _o, _oB, s.X, h);

        Ops.LayerNorm(h, _ln2W, _ln2B, _c.LayerNormEps, s.X, n);
        MatMul.Linear(s.X, n, _fc1, _fc1B, s.M, _act);
        MatMul.LinearAddTo(s.M, n, _fc2, _fc2B, s.X, h);
    }
}
