using AutoPrune.Accounting;

namespace AutoPrune.Pruning;

/// <summary>What a policy knows before the prefill starts.</summary>
/// <param name="VisualTokens">N0: visual tokens the image produced.</param>
/// <param name="DecoderLayers">L: decoder depth.</param>
/// <param name="TextTokens">Text tokens in the prompt (image placeholder excluded).</param>
public sealed record PruningSetup(int VisualTokens, int DecoderLayers, int TextTokens, int HiddenSize, int IntermediateSize, PrefillTrace Trace);

/// <summary>
/// The decision of a policy: indices into the CURRENT visual block. <paramref name="Keep"/> continue in the given
/// order; each group of <paramref name="Merge"/> becomes one token, the mean of its members' hidden states, placed
/// after the kept ones (token merging / recycling).
/// </summary>
public sealed record VisualSelection(int[] Keep, int[][]? Merge = null)
{
    public int Count => Keep.Length + (Merge?.Length ?? 0);
}

/// <summary>Pre-decoder view: the projected image tokens and what the vision tower measured.</summary>
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
    public required PrefillTrace Trace { get; init; }
}

/// <summary>
/// View of the prefill right after one decoder layer. Rows are indices into the current sequence:
/// [0, VisualStart) text before the image, [VisualStart, VisualStart+VisualCount) visual, then text.
/// </summary>
public abstract class LayerContext
{
    public required int Layer { get; init; }
    public required int NumLayers { get; init; }
    public required int SequenceLength { get; init; }
    public required int VisualStart { get; init; }
    public required int VisualCount { get; init; }
    public required int Heads { get; init; }
    public required int HiddenSize { get; init; }
    /// <summary>N0: visual tokens before any pruning.</summary>
    public required int OriginalVisualCount { get; init; }
    public required PrefillTrace Trace { get; init; }

    public int VisualEnd => VisualStart + VisualCount;
    /// <summary>Text rows after the image (question + "ASSISTANT:").</summary>
    public int TextAfterCount => SequenceLength - VisualEnd;
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

    /// <summary>Rows of the current visual block.</summary>
    public int[] VisualRows()
    {
        var r = new int[VisualCount];
        for (int i = 0; i < r.Length; i++) r[i] = VisualStart + i;
        return r;
    }

    /// <summary>Rows of the text after the image.</summary>
    public int[] TextRowsAfterImage()
    {
        var r = new int[TextAfterCount];
        for (int i = 0; i < r.Length; i++) r[i] = VisualEnd + i;
        return r;
    }
}
