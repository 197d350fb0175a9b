namespace AutoPrune.Pruning;

/// <summary>How token positions (RoPE) are assigned after visual tokens are removed.</summary>
public enum PositionMode
{
    /// <summary>Renumber the surviving sequence 0..n-1 at each pruning step (SparseVLM v1, official AutoPrune).
    /// At decode a new token's position in layer l is that layer's cached length.</summary>
    Compact,
    /// <summary>Every token keeps its original position id (FastV, PDrop); decode continues from the original length.</summary>
    Original,
}

/// <summary>
/// A visual-token pruning policy. The engine owns the bookkeeping (sequence, KV caches, positions, FLOPs, trace);
/// a policy only looks at scores and says which visual tokens continue. One instance serves one prefill at a time:
/// <see cref="Begin"/> is called at the start of every prefill.
/// </summary>
public interface IPruningPolicy
{
    /// <summary>Short name used in traces and tables ("autoprune", "fastv", ...).</summary>
    string Name { get; }

    PositionMode Positions { get; }

    /// <summary>Called once per prefill, before anything else.</summary>
    void Begin(PruningSetup setup) { }

    /// <summary>Before the decoder, on the projector output. Null keeps every visual token.</summary>
    VisualSelection? BeforeDecoder(PreDecoderContext ctx) => null;

    /// <summary>After decoder layer <c>ctx.Layer</c> (prefill only). Null keeps the current visual tokens.</summary>
    VisualSelection? AfterLayer(LayerContext ctx) => null;
}

/// <summary>The unpruned model as a policy: keeps everything.</summary>
public sealed class NoPruning : IPruningPolicy
{
    public static readonly PolicyInfo Info = new("none", "nowhere", "-", "every visual token (takes no budget)", "original", []);

    public string Name => "none";
    public PositionMode Positions => PositionMode.Original;
}
