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
/// A visual-token pruning policy: its settings, and <see cref="Begin"/>, which starts one prefill. The engine owns the
/// bookkeeping (sequence, KV caches, positions, FLOPs, trace); a policy only looks at scores and says which visual
/// tokens continue. Everything that belongs to one prefill lives in the <see cref="IPruningRun"/> that Begin returns,
/// never in the policy, so one policy instance can serve any number of prefills, also concurrently.
/// </summary>
public interface IPruningPolicy
{
    /// <summary>Short name used in traces and tables ("autoprune", "fastv", ...).</summary>
    string Name { get; }

    PositionMode Positions { get; }

    /// <summary>
    /// Starts one prefill: checks the budget against its visual tokens and depth (PruningOptionException when
    /// infeasible), records the plan in the trace, and returns this prefill's state.
    /// </summary>
    IPruningRun Begin(PruningSetup setup);
}

/// <summary>One policy's decisions during one prefill. The engine calls it from one thread, in layer order.</summary>
public interface IPruningRun
{
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
    public IPruningRun Begin(PruningSetup setup) => KeepAll.Instance;

    /// <summary>A run that never prunes (also what a policy returns when its budget keeps every token).</summary>
    public sealed class KeepAll : IPruningRun
    {
        public static readonly KeepAll Instance = new();
    }
}
