namespace AutoPrune.Pruning;

/// <summary>Options every policy understands, plus policy-specific settings by name.</summary>
public sealed record PolicyOptions
{
    /// <summary>Target mean visual tokens per decoder layer (pre-decoder policies: tokens kept). Null: the policy default.</summary>
    public double? Budget { get; init; }
    /// <summary>Overrides the policy's default position mode.</summary>
    public PositionMode? Positions { get; init; }
    /// <summary>Policy-specific settings, e.g. x0, k0, gamma, budget-mode, recycle.</summary>
    public IReadOnlyDictionary<string, string> Settings { get; init; } = new Dictionary<string, string>();
}

/// <summary>Creates policies by name for the CLI and the evaluation harness.</summary>
public static class PolicyFactory
{
    private static readonly Dictionary<string, Func<PolicyOptions, IPruningPolicy>> Registry = new(StringComparer.OrdinalIgnoreCase)
    {
        ["none"] = _ => new NoPruning(),
        [AutoPrunePolicy.PolicyName] = o => new AutoPrunePolicy(o),
        ["fastv"] = o => new FastV(o),
        ["pdrop"] = o => new PDrop(o),
        ["fastervlm"] = o => new FasterVlm(o),
        ["visionzip"] = o => new VisionZip(o),
        ["divprune"] = o => new DivPrune(o),
        ["sparsevlm"] = o => new SparseVlm(o),
        ["random"] = o => new RandomPruning(o),
        ["uniform"] = o => new UniformPruning(o),
    };

    public static IReadOnlyCollection<string> Names => Registry.Keys;

    /// <summary>Registers a policy constructor (policies register themselves in <see cref="PolicyFactory"/>'s static table).</summary>
    internal static void Register(string name, Func<PolicyOptions, IPruningPolicy> create) => Registry[name] = create;

    public static IPruningPolicy Create(string name, PolicyOptions options)
    {
        if (!Registry.TryGetValue(name, out var create))
            throw new PruningOptionException($"unknown policy '{name}' (available: {string.Join(", ", Registry.Keys)})");
        if (options.Budget is { } b && (double.IsNaN(b) || b <= 0))
            throw new PruningOptionException($"budget must be a positive number of visual tokens, got {b}");
        if (name.Equals("none", StringComparison.OrdinalIgnoreCase) && (options.Budget != null || options.Settings.Count > 0 || options.Positions != null))
            throw new PruningOptionException("policy 'none' does not prune, so it takes no budget, settings or position mode; choose a pruning policy");
        return create(options);
    }
}
