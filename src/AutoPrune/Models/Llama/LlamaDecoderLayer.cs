using System.Numerics.Tensors;
using AutoPrune.Loading;
using AutoPrune.Tensors;

namespace AutoPrune.Models;

/// <summary>
/// One LLaMA block: x += o_proj(attn(input_layernorm x)); x += down(silu(gate y) * up y), y = post_attention_layernorm x.
/// </summary>
public sealed class LlamaDecoderLayer
{
    private readonly LlamaConfig _c;
    private readonly float[] _inNorm, _postNorm;
    private readonly Weight _q, _k, _v, _o, _gate, _up, _down;
    private readonly float[]? _qB, _kB, _vB, _oB;
    private readonly float[] _invFreq;

    /// <param name="invFreq">RoPE inverse frequencies [head_dim/2], shared read-only by every layer.</param>
    public LlamaDecoderLayer(LlamaConfig c, ModelWeights w, string p, float[] invFreq)
    {
        _c = c;
        _invFreq = invFreq;
        int d = c.HiddenSize, m = c.IntermediateSize, qd = c.NumAttentionHeads * c.HeadDim, kvd = c.NumKeyValueHeads * c.HeadDim;
        _inNorm = w.Get(p + "input_layernorm.weight", d).ToFloat32();
        _postNorm = w.Get(p + "post_attention_layernorm.weight", d).ToFloat32();
        _q = w.Get(p + "self_attn.q_proj.weight", qd, d);
        _k = w.Get(p + "self_attn.k_proj.weight", kvd, d);
        _v = w.Get(p + "self_attn.v_proj.weight", kvd, d);
        _o = w.Get(p + "self_attn.o_proj.weight", d, qd);
        if (c.AttentionBias)
        {
            _qB = w.Get(p + "self_attn.q_proj.bias", qd).ToFloat32();
            _kB = w.Get(p + "self_attn.k_proj.bias", kvd).ToFloat32();
            _vB = w.Get(p + "self_attn.v_proj.bias", kvd).ToFloat32();
            _oB = w.Get(p + "self_attn.o_proj.bias", d).ToFloat32();
        }
        _gate = w.Get(p + "mlp.gate_proj.weight", m, d);
        _up = w.Get(p + "mlp.up_proj.weight", m, d);
        _down = w.Get(p + "mlp.down_proj.weight", d, m);
    }

    /// <summary>
    /// This layer's attention probabilities for hidden states h [n, d] that have not entered it yet (scoring before a
    /// pruning step): input_layernorm, q/k projections and RoPE at the given positions, causal softmax over all n keys.
    /// Q is projected only for the query rows; no cache or scratch is touched. Result [heads, queryRows, keyRows].
    /// </summary>
    public float[] ScoreAttention(float[] h, int n, ReadOnlySpan<int> positions, int[] queryRows, int[] keyRows)
    {
        int d = _c.HiddenSize, heads = _c.NumAttentionHeads, kvHeads = _c.NumKeyValueHeads, hd = _c.HeadDim;
        int qd = heads * hd, kvd = kvHeads * hd, half = hd / 2, nr = queryRows.Length;
        var x = new float[n * d];
        Ops.RmsNorm(h, _inNorm, _c.RmsNormEps, x, n);
        var k = new float[n * kvd];
        MatMul.Linear(x, n, _k, _kB, k);
        var cos = new float[n * half];
        var sin = new float[n * half];
        Ops.RopeTables(positions[..n], _invFreq, cos, sin);
        for (int i = 0; i < n; i++) Ops.Rope(k.AsSpan(i * kvd, kvd), kvHeads, hd, cos.AsSpan(i * half, half), sin.AsSpan(i * half, half));

        // Q of the query rows only, scattered into a full-height buffer so causal masking sees true row indices.
        var xq = new float[nr * d];
        for (int r = 0; r < nr; r++) x.AsSpan(queryRows[r] * d, d).CopyTo(xq.AsSpan(r * d, d));
        var qSel = new float[nr * qd];
        MatMul.Linear(xq, nr, _q, _qB, qSel);
        var q = new float[n * qd];
        for (int r = 0; r < nr; r++)
        {
            int i = queryRows[r];
            var row = q.AsSpan(i * qd, qd);
            qSel.AsSpan(r * qd, qd).CopyTo(row);
            Ops.Rope(row, heads, hd, cos.AsSpan(i * half, half), sin.AsSpan(i * half, half));
        }
        return Attention.Probabilities(q, k, n, n, heads, kvHeads, hd, causal: true, queryRows, keyRows);
    }

    /// <summary>Activation buffers for up to n rows, allocated once and reused by every layer.</summary>
    public sealed class Scratch(int n, LlamaConfig c)
    {
        /// <summary>One hidden row (decode's input token).</summary>
        public readonly float[] Row = new float[c.HiddenSize];
        public readonly float[] X = new float[n * c.HiddenSize];
        public readonly float[] Q = new float[n * c.NumAttentionHeads * c.HeadDim];
        public readonly float[] A = new float[n * c.NumAttentionHeads * c.HeadDim];
        public readonly float[] Gate = new float[n * c.IntermediateSize];
        public readonly float[] Up = new float[n * c.IntermediateSize];

        // New K and V rows [n, kvDim] each, before a BF16 cache rounds them (an F32 cache is written in place);
        // allocated on the first BF16 use.
        private float[]? _newKv;
        internal float[] NewKv => _newKv ??= new float[2 * n * c.NumKeyValueHeads * c.HeadDim];

        // RoPE cos/sin [rows, head_dim/2] of the positions they were built for: every layer of one forward
        // uses the same positions, so the tables are computed once, not per layer and per row for Q and K.
        internal readonly float[] RopeCos = new float[n * (c.HeadDim / 2)], RopeSin = new float[n * (c.HeadDim / 2)];
        internal readonly int[] RopePositions = new int[n];
        internal int RopeRows = -1;

        internal void PrepareRope(ReadOnlySpan<int> positions, float[] invFreq)
        {
            if (RopeRows == positions.Length && positions.SequenceEqual(RopePositions.AsSpan(0, RopeRows))) return;
            int half = invFreq.Length;
            Ops.RopeTables(positions, invFreq, RopeCos.AsSpan(0, positions.Length * half), RopeSin.AsSpan(0, positions.Length * half));
            positions.CopyTo(RopePositions);
            RopeRows = positions.Length;
        }
    }

    /// <summary>
    /// Runs n new rows h [n, d] (updated in place) at the given RoPE positions, appending their K/V to the cache
    /// and attending causally to everything cached before them. Leaves this layer's Q in the scratch.
    /// </summary>
    public void Forward(float[] h, int n, ReadOnlySpan<int> positions, LayerKvCache cache, Scratch s)
    {
        int d = _c.HiddenSize, heads = _c.NumAttentionHeads, kvHeads = _c.NumKeyValueHeads, hd = _c.HeadDim;
        int kvd = kvHeads * hd, past = cache.Length, total = past + n;
        cache.Reserve(total);

        Ops.RmsNorm(h, _inNorm, _c.RmsNormEps, s.X, n);
        MatMul.Linear(s.X, n, _q, _qB, s.Q);
        bool exact = cache.Type == KvCacheType.F32;
        var kNew = exact ? cache.K.AsSpan(past * kvd, n * kvd) : s.NewKv.AsSpan(0, n * kvd);
        var vNew = exact ? cache.V.AsSpan(past * kvd, n * kvd) : s.NewKv.AsSpan(n * kvd, n * kvd);
        MatMul.Linear(s.X, n, _k, _kB, kNew);
        MatMul.Linear(s.X, n, _v, _vB, vNew);
        s.PrepareRope(positions, _invFreq);
        int half = hd / 2;
        for (int i = 0; i < n; i++)
        {
            var cos = s.RopeCos.AsSpan(i * half, half);
            var sin = s.RopeSin.AsSpan(i * half, half);
            Ops.Rope(s.Q.AsSpan(i * heads * hd, heads * hd), heads, hd, cos, sin);
            Ops.Rope(kNew.Slice(i * kvd, kvd), kvHeads, hd, cos, sin);
        }
        if (!exact) cache.Write(past, kNew, vNew);
        cache.Length = total;

        cache.Attend(s.Q, n, heads, hd, s.A);
        MatMul.Linear(s.A, n, _o, _oB, s.X);
        TensorPrimitives.Add(h.AsSpan(0, n * d), s.X.AsSpan(0, n * d), h.AsSpan(0, n * d));

        Ops.RmsNorm(h, _postNorm, _c.RmsNormEps, s.X, n);
        MatMul.Linear(s.X, n, _gate, default, s.Gate);
        MatMul.Linear(s.X, n, _up, default, s.Up);
        int m = _c.IntermediateSize;
        Ops.SiluMul(s.Gate.AsSpan(0, n * m), s.Up.AsSpan(0, n * m));
        MatMul.Linear(s.Gate, n, _down, default, s.X);
        TensorPrimitives.Add(h.AsSpan(0, n * d), s.X.AsSpan(0, n * d), h.AsSpan(0, n * d));
    }
}
