using AutoPrune.Accounting;

namespace AutoPrune.Pruning;

/// <summary>
/// Common frame of the policies that act before the decoder (FasterVLM, VisionZip, DivPrune, Random, Uniform):
/// budget T means keep round(T) tokens of the projector output, so every decoder layer processes them and the
/// mean is within half a token. A subclass only says which tokens (<see cref="Select"/>).
/// </summary>
public abstract class PreDecoderPolicy : IPruningPolicy
{
    private readonly double? _budget;

    protected PreDecoderPolicy(PolicyOptions options)
    {
        _budget = options.Budget;
        Positions = options.Positions ?? PositionMode.Original;
    }

    public abstract string Name { get; }
    public PositionMode Positions { get; }

    /// <summary>What the policy keeps without a budget.</summary>
    protected virtual int DefaultKeep(int n0) => Math.Max(1, n0 / 4);

    public IPruningRun Begin(PruningSetup setup)
    {
        var keep = PreDecoderBudget.Keep(Name, _budget, setup.VisualTokens, DefaultKeep(setup.VisualTokens), setup);
        Describe(setup.Trace, keep);
        return keep is { } k ? new Run(this, k) : NoPruning.KeepAll.Instance;
    }

    /// <summary>Records the policy's plan for <paramref name="keep"/> tokens (null: keeps every token) in the trace.</summary>
    protected virtual void Describe(PrefillTrace trace, int? keep) { }

    /// <summary>The selection of <paramref name="keep"/> tokens (1 ≤ keep &lt; N0).</summary>
    protected abstract VisualSelection Select(PreDecoderContext ctx, int keep);

    private sealed class Run(PreDecoderPolicy policy, int keep) : IPruningRun
    {
        public VisualSelection? BeforeDecoder(PreDecoderContext ctx) => policy.Select(ctx, keep);
    }
}
