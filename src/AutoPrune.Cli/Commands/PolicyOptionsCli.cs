using System.CommandLine;
using System.Globalization;
using AutoPrune.Pruning;

namespace AutoPrune.Cli.Commands;

/// <summary>
/// The pruning options every model-running verb shares: --policy, --budget (or sweep's --policies/--budgets),
/// --set NAME=VALUE, --positions and the shorthand flags for settings (--x0, --budget-mode, ...).
/// One instance per command: add it with <see cref="AddTo"/>, read it with <see cref="Create"/>.
/// </summary>
public sealed class PolicyOptionsCli
{
    public readonly Option<string> Policy = new Option<string>("--policy", "-p")
    {
        Description = $"visual-token pruning policy: {string.Join(", ", PolicyFactory.Names)} (see `autoprune policies`)",
        DefaultValueFactory = _ => "none",
        HelpName = "NAME",
    }.Validate(p => PolicyFactory.Names.Contains(p, StringComparer.OrdinalIgnoreCase), $"one of {string.Join(", ", PolicyFactory.Names)}");

    public readonly Option<double?> Budget = new Option<double?>("--budget", "-b")
    {
        Description = "target mean visual tokens per decoder layer, as processed (default: the policy's, see `autoprune policies`); " +
                      "at or above the image's visual tokens: no pruning",
        HelpName = "T",
    }.Validate(b => b is null || (double.IsFinite(b.Value) && b > 0), "a positive number");

    public readonly Option<string[]> Set = new("--set")
    {
        Description = "policy setting NAME=VALUE, repeatable; `autoprune policies` lists each policy's settings and defaults",
        HelpName = "NAME=VALUE",
        AllowMultipleArgumentsPerToken = false,
    };

    public readonly Option<string?> Positions = new Option<string?>("--positions")
    {
        Description = "position ids after pruning: compact (renumber) or original (keep); default: the policy's",
        HelpName = "MODE",
    };

    /// <summary>Flags that are shorthands for --set NAME=VALUE (AutoPrune's settings).</summary>
    private static readonly Dictionary<string, string> FlagSettings = new()
    {
        ["--x0"] = "x0", ["--k0"] = "k0", ["--gamma"] = "gamma", ["--budget-mode"] = "budget-mode",
        ["--no-recycle"] = "recycle", ["--mi-norm"] = "mi-norm",
    };

    private readonly Option[] _aliases;
    private readonly bool _single;

    /// <param name="single">true: --policy and --budget (one policy); false: the caller has its own lists (sweep).</param>
    public PolicyOptionsCli(bool single = true)
    {
        _single = single;
        Positions.AcceptOnlyFromAmong("compact", "original");
        // Values are validated by the policy (one-line PruningOptionException), not by the parser.
        _aliases =
        [
            new Option<double?>("--x0") { Description = "autoprune: retention-curve midpoint for 32 layers, scaled by depth (default 14.9); same as --set x0=X", HelpName = "X" },
            new Option<double?>("--k0") { Description = "autoprune: slope at zero mutual information (default 0.4); same as --set k0=K", HelpName = "K" },
            new Option<double?>("--gamma") { Description = "autoprune: slope decrease per unit of MI1 (default 0.2); same as --set gamma=G", HelpName = "G" },
            new Option<string?>("--budget-mode")
            {
                Description = "autoprune: what the budget is a mean of: faithful (official: layer 0 counted as 2.5T) or strict (every layer as processed); same as --set budget-mode=MODE",
                HelpName = "MODE",
            },
            new Option<bool>("--no-recycle") { Description = "autoprune: do not recycle dropped tokens into merged clusters; same as --set recycle=false" },
            new Option<string?>("--mi-norm")
            {
                Description = "autoprune: normalization of MI1 before k = k0 - gamma*MI1: sum (official), mean (over heads), mean-per-text; same as --set mi-norm=NORM",
                HelpName = "NORM",
            },
        ];
    }

    public void AddTo(Command c)
    {
        if (_single) { c.Options.Add(Policy); c.Options.Add(Budget); }
        c.Options.Add(Set);
        c.Options.Add(Positions);
        foreach (var a in _aliases) c.Options.Add(a);
    }

    /// <summary>The policy named by --policy with --budget (validated; throws before any model work).</summary>
    public IPruningPolicy Create(ParseResult r) => PolicyFactory.Create(r.GetValue(Policy)!, Options(r, r.GetValue(Budget)));

    /// <summary>Budget, position mode and settings from --set and the shorthand flags (a flag and --set must agree).</summary>
    public PolicyOptions Options(ParseResult r, double? budget)
    {
        var dict = ParseSettings(r.GetValue(Set));
        foreach (var opt in _aliases)
        {
            var key = FlagSettings[opt.Name];
            var res = r.GetResult(opt);
            if (res == null || res.Implicit) continue;
            string value = opt switch
            {
                Option<double?> d => r.GetValue(d)!.Value.ToString("R", CultureInfo.InvariantCulture),
                Option<bool> b => r.GetValue(b) ? "false" : "true",    // --no-recycle
                Option<string?> t => r.GetValue(t)!,
                _ => throw new InvalidOperationException($"unhandled flag {opt.Name}"),
            };
            if (dict.TryGetValue(key, out var prev) && !string.Equals(prev, value, StringComparison.OrdinalIgnoreCase))
                throw new UsageException($"{opt.Name} {value} conflicts with --set {key}={prev}");
            dict[key] = value;
        }
        return new PolicyOptions { Budget = budget, Positions = PositionMode(r), Settings = dict };
    }

    public PositionMode? PositionMode(ParseResult r) =>
        r.GetValue(Positions) switch { "compact" => Pruning.PositionMode.Compact, "original" => Pruning.PositionMode.Original, _ => null };

    /// <summary>The --set NAME=VALUE items as a case-insensitive dictionary.</summary>
    public static Dictionary<string, string> ParseSettings(string[]? items)
    {
        var dict = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var s in items ?? [])
        {
            int eq = s.IndexOf('=');
            if (eq <= 0) throw new UsageException($"--set '{s}' is not NAME=VALUE");
            var key = s[..eq].Trim();
            if (dict.ContainsKey(key)) throw new UsageException($"--set {key} is given twice");
            dict[key] = s[(eq + 1)..].Trim();
        }
        return dict;
    }
}
