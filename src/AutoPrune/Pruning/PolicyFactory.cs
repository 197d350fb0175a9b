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

/// <summary>Creates policies by name for the CLI and the evaluation harness; knows what each one is and accepts.</summary>
public static class PolicyFactory
{
    private static readonly Dictionary<string, (PolicyInfo Info, Func<PolicyOptions, IPruningPolicy> Create)> Registry = new(StringComparer.OrdinalIgnoreCase)
    {
        ["none"] = (NoPruning.Info, _ => new NoPruning()),
        [AutoPrunePolicy.PolicyName] = (AutoPrunePolicy.Info, o => new AutoPrunePolicy(o)),
        ["fastv"] = (FastV.Info, o => new FastV(o)),
        ["pdrop"] = (PDrop.Info, o => new PDrop(o)),
        ["fastervlm"] = (FasterVlm.Info, o => new FasterVlm(o)),
        ["visionzip"] = (VisionZip.Info, o => new VisionZip(o)),
        ["divprune"] = (DivPrune.Info, o => new DivPrune(o)),
        ["sparsevlm"] = (SparseVlm.Info, o => new SparseVlm(o)),
        ["random"] = (RandomPruning.Info, o => new RandomPruning(o)),
        ["uniform"] = (UniformPruning.Info, o => new UniformPruning(o)),
    };

    public static IReadOnlyCollection<string> Names => Registry.Keys;

    /// <summary>Every registered policy's declaration, in registration order.</summary>
    public static IReadOnlyList<PolicyInfo> Policies => Registry.Values.Select(v => v.Info).ToList();

    public static PolicyInfo Info(string name) => Registry.TryGetValue(name, out var r) ? r.Info
        : throw new PruningOptionException($"unknown policy '{name}' (available: {string.Join(", ", Registry.Keys)})");

    /// <summary>Registers a policy constructor (tests add their own policies).</summary>
    internal static void Register(string name, Func<PolicyOptions, IPruningPolicy> create) =>
        Registry[name] = (new PolicyInfo(name, "(registered at run time)", "-", "-", "-", []), create);

    public static IPruningPolicy Create(string name, PolicyOptions options)
    {
        var info = Info(name);
        if (options.Budget is { } b && (double.IsNaN(b) || b <= 0))
            throw new PruningOptionException($"budget must be a positive number of visual tokens, got {b}");
        if (info == NoPruning.Info && (options.Budget != null || options.Settings.Count > 0 || options.Positions != null))
            throw new PruningOptionException("policy 'none' does not prune, so it takes no budget, settings or position mode; choose a pruning policy");
        return Registry[name].Create(options);
    }
}
