using AutoPrune.Accounting;

namespace AutoPrune.Pruning;

/// <summary>What a policy knows before the prefill starts.</summary>
/// <param name="VisualTokens">N0: visual tokens of all the prompt's images together.</param>
/// <param name="DecoderLayers">L: decoder depth.</param>
/// <param name="Trace">Where the policy records its plan and measurements.</param>
public sealed record PruningSetup(int VisualTokens, int DecoderLayers, PrefillTrace Trace);

/// <summary>
/// The decision of a policy: indices into the CURRENT visual set (every image of the prompt, in sequence order).
/// <paramref name="Keep"/> continue in the given order; each group of <paramref name="Merge"/> becomes one token, the
/// mean of its members' hidden states, placed after the kept ones of the image that holds its first member (token
/// merging / recycling). Kept and merged tokens must be distinct.
/// </summary>
public sealed record VisualSelection(int[] Keep, int[][]? Merge = null)
{
    public int Count => Keep.Length + (Merge?.Length ?? 0);
}

/// <summary>
/// One image's tokens as a policy sees them: visual indices [First, First + Count) of the visual set, at sequence rows
/// [Row, Row + Count) (rows are meaningless before the decoder).
/// </summary>
public readonly record struct ImageSpan(int Image, int First, int Count, int Row)
{
    public int End => First + Count;
}

/// <summary>
/// Pre-decoder view: the projected image tokens of every image, concatenated in prompt order, and what the vision
/// tower measured for each of them.
/// </summary>
public sealed class PreDecoderContext
{
    public required int VisualTokens { get; init; }
    public required int HiddenSize { get; init; }
    /// <summary>[VisualTokens, HiddenSize] projector outputs (the decoder's visual inputs).</summary>
    public required float[] Features { get; init; }
    /// <summary>[VisualTokens] vision [CLS]→patch attention of the feature layer, mean over heads.</summary>
    public required float[] ClsAttention { get; init; }
    /// <summary>[VisualTokens, VisionHidden] keys of the feature layer (VisionZip's similarity).</summary>
    public required float[] VisionKeys { get; init; }
    public required int VisionHiddenSize { get; init; }
    /// <summary>Which visual indices belong to which image.</summary>
    public required IReadOnlyList<ImageSpan> Spans { get; init; }
    public required PrefillTrace Trace { get; init; }
}

/// <summary>
/// View of the prefill right after one decoder layer. Rows are indices into the current sequence: text, then each
/// image's visual tokens (<see cref="Spans"/>), with text between and after them. Visual index i (what a
/// <see cref="VisualSelection"/> refers to) is the i-th visual row in sequence order.
/// </summary>
public abstract class LayerContext
{
    public required int Layer { get; init; }
    public required int SequenceLength { get; init; }
    public required int Heads { get; init; }
    public required int HiddenSize { get; init; }
    public required PrefillTrace Trace { get; init; }
    /// <summary>The images' current tokens, in sequence order.</summary>
    public required IReadOnlyList<ImageSpan> Spans { get; init; }

    /// <summary>Current visual tokens of all images.</summary>
    public int VisualCount
    {
        get
        {
            int n = 0;
            foreach (var s in Spans) n += s.Count;
            return n;
        }
    }

    /// <summary>First row after the last image: the question and the assistant prefix start here.</summary>
    public int TextAfterStart => Spans.Count == 0 ? 0 : Spans[^1].Row + Spans[^1].Count;
    /// <summary>Text rows after the last image (question + "ASSISTANT:").</summary>
    public int TextAfterCount => SequenceLength - TextAfterStart;
    public int LastRow => SequenceLength - 1;

    /// <summary>Original image-token id of each current visual token (≥ N0 for merged tokens).</summary>
    public abstract ReadOnlySpan<int> VisualIds { get; }

    /// <summary>This layer's output hidden state of one row.</summary>
    public abstract ReadOnlySpan<float> Hidden(int row);

    /// <summary>
    /// This layer's attention probabilities per head, [Heads, queryRows, keyRows]: rows are full softmax rows
    /// over every visible key (not renormalized over the chosen keys).
    /// </summary>
    public abstract float[] AttentionPerHead(int[] queryRows, int[] keyRows);

    /// <summary>
    /// The NEXT layer's attention probabilities per head for the current sequence, [Heads, queryRows, keyRows], computed
    /// from this layer's output (next layer's input_layernorm, q/k projections, RoPE at the current positions) before any
    /// pruning at this boundary — how PyramidDrop scores a stage. Costs a K projection of every row.
    /// </summary>
    public abstract float[] NextLayerAttentionPerHead(int[] queryRows, int[] keyRows);

    /// <summary>Sequence row of visual index <paramref name="i"/>.</summary>
    public int VisualRow(int i)
    {
        foreach (var s in Spans)
            if (i >= s.First && i < s.End) return s.Row + (i - s.First);
        throw new ArgumentOutOfRangeException(nameof(i), $"visual index {i} of {VisualCount}");
    }

    /// <summary>Rows of every current visual token, in visual-index order.</summary>
    public int[] VisualRows()
    {
        var r = new int[VisualCount];
        foreach (var s in Spans)
            for (int i = 0; i < s.Count; i++) r[s.First + i] = s.Row + i;
        return r;
    }

    /// <summary>Rows of the text after the last image.</summary>
    public int[] TextRowsAfterImage()
    {
        var r = new int[TextAfterCount];
        for (int i = 0; i < r.Length; i++) r[i] = TextAfterStart + i;
        return r;
    }
}
