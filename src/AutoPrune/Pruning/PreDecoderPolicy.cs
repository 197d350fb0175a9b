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

    /// <summary>Tokens to keep in this prefill; null when the budget keeps every token.</summary>
    protected int? KeepCount { get; private set; }

    /// <summary>What the policy keeps without a budget.</summary>
    protected virtual int DefaultKeep(int n0) => Math.Max(1, n0 / 4);

    public virtual void Begin(PruningSetup setup) =>
        KeepCount = PreDecoderBudget.Keep(Name, _budget, setup.VisualTokens, DefaultKeep(setup.VisualTokens), setup);

    public VisualSelection? BeforeDecoder(PreDecoderContext ctx) => KeepCount is { } k ? Select(ctx, k) : null;

    /// <summary>The selection of <paramref name="keep"/> tokens (1 ≤ keep &lt; N0).</summary>
    protected abstract VisualSelection Select(PreDecoderContext ctx, int keep);
}
