using AutoPrune.Accounting;
using AutoPrune.Pruning;

namespace AutoPrune.Tests.Pruning;

/// <summary>A layer context over a hand-made full attention map [heads, n, n] (rows need not be causal here).</summary>
internal sealed class FakeLayerContext : LayerContext
{
    public required float[] Attention { get; init; }
    public int[] Ids { get; init; } = [];
    public float[]? HiddenStates { get; init; }

    public override ReadOnlySpan<int> VisualIds => Ids;

    public override ReadOnlySpan<float> Hidden(int row) => HiddenStates.AsSpan(row * HiddenSize, HiddenSize);

    public override float[] AttentionPerHead(int[] queryRows, int[] keyRows)
    {
        int n = SequenceLength;
        var r = new float[Heads * queryRows.Length * keyRows.Length];
        for (int h = 0; h < Heads; h++)
            for (int i = 0; i < queryRows.Length; i++)
                for (int j = 0; j < keyRows.Length; j++)
                    r[(h * queryRows.Length + i) * keyRows.Length + j] = Attention[(h * n + queryRows[i]) * n + keyRows[j]];
        return r;
    }

    /// <summary>The hand-made map stands for the next layer's attention too (PDrop scores with it).</summary>
    public override float[] NextLayerAttentionPerHead(int[] queryRows, int[] keyRows) => AttentionPerHead(queryRows, keyRows);
}

internal static class Fake
{
    public static PruningSetup Setup(int n0, int layers) => new(n0, layers, new PrefillTrace());

    /// <summary>
    /// A context with <paramref name="prefix"/> text rows, <paramref name="visual"/> visual rows, <paramref name="suffix"/>
    /// text rows. <paramref name="att"/>(head, row, col) fills the map.
    /// </summary>
    public static FakeLayerContext Layer(int layer, int layers, int prefix, int visual, int suffix, int heads,
        Func<int, int, int, float> att, PrefillTrace? trace = null)
    {
        int n = prefix + visual + suffix;
        var a = new float[heads * n * n];
        for (int h = 0; h < heads; h++)
            for (int i = 0; i < n; i++)
                for (int j = 0; j < n; j++)
                    a[(h * n + i) * n + j] = att(h, i, j);
        var ids = new int[visual];
        for (int i = 0; i < visual; i++) ids[i] = i;
        return new FakeLayerContext
        {
            Layer = layer, SequenceLength = n, Spans = [new ImageSpan(0, 0, visual, prefix)], Heads = heads,
            HiddenSize = 8, Trace = trace ?? new PrefillTrace(),
            Attention = a, Ids = ids,
        };
    }

    /// <summary>A context whose LAST row pays, per head, the given attention to the visual tokens (other rows zero).</summary>
    public static FakeLayerContext LastRow(int layer, int layers, float[][] perHeadVisual, int prefix = 2, int suffix = 3)
    {
        int visual = perHeadVisual[0].Length, n = prefix + visual + suffix;
        return Layer(layer, layers, prefix, visual, suffix, perHeadVisual.Length,
            (h, i, j) => i == n - 1 && j >= prefix && j < prefix + visual ? perHeadVisual[h][j - prefix] : 0f);
    }

    public static PreDecoderContext Pre(int n, int d, float[] features, float[]? cls = null, float[]? keys = null, int dk = 2) => new()
    {
        VisualTokens = n, HiddenSize = d, Features = features, ClsAttention = cls ?? new float[n],
        VisionKeys = keys ?? new float[n * dk], VisionHiddenSize = dk, Spans = [new ImageSpan(0, 0, n, 0)], Trace = new PrefillTrace(),
    };

    public static PolicyOptions Options(double? budget, params (string Key, string Value)[] settings)
    {
        var d = new Dictionary<string, string>();
        foreach (var (k, v) in settings) d[k] = v;
        return new PolicyOptions { Budget = budget, Settings = d };
    }
}
