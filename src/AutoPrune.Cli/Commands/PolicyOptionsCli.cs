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
        Description = $"visual-token pruning policy: {string.Join(", ", PolicyFactory.Names)}; `autoprune policies` says what each does",
        DefaultValueFactory = _ => "none",
        HelpName = "NAME",
    }.Validate(p => PolicyFactory.Names.Contains(p, StringComparer.OrdinalIgnoreCase), $"one of {string.Join(", ", PolicyFactory.Names)}");

    public readonly Option<double?> Budget = new Option<double?>("--budget", "-b")
    {
        Description = "target mean visual tokens per decoder layer, as processed, for every policy; at or above the image's visual tokens: no pruning. " +
                      "Default per policy: " + string.Join("; ", PolicyFactory.Policies.Where(i => i.Name != "none").Select(i => $"{i.Name} {i.DefaultBudget}")),
        HelpName = "T",
    }.Validate(b => b is null || (double.IsFinite(b.Value) && b > 0), "a positive number");

    public readonly Option<string[]> Set = new("--set")
    {
        Description = "policy setting NAME=VALUE, repeatable. " + string.Join("; ", PolicyFactory.Policies.Where(i => i.Settings.Count > 0)
            .Select(i => $"{i.Name}: " + string.Join(", ", i.Settings.Select(x => $"{x.Name}={x.KindText} (default {x.Default})")))),
        HelpName = "NAME=VALUE",
        AllowMultipleArgumentsPerToken = false,
    };

    public readonly Option<string?> Positions = new Option<string?>("--positions")
    {
        Description = "position ids after pruning: compact (renumber) or original (keep); default: the policy's",
        HelpName = "MODE",
    };

    /// <summary>AutoPrune's settings also have flags of their own (--x0 X is --set x0=X; --no-recycle is --set recycle=false).</summary>
    private static readonly PolicyInfo FlagPolicy = AutoPrunePolicy.Info;

    private readonly List<(Option Option, PolicySetting Setting)> _aliases = [];
    private readonly bool _single;

    /// <param name="single">true: --policy and --budget (one policy); false: the caller has its own lists (sweep).</param>
    public PolicyOptionsCli(bool single = true)
    {
        _single = single;
        Positions.AcceptOnlyFromAmong("compact", "original");
        foreach (var d in FlagPolicy.Settings)
        {
            string about = $"{FlagPolicy.Name}: {d.Help} (default {d.Default})";
            Option o = d.Kind switch
            {
                SettingKind.Number => new Option<double?>("--" + d.Name) { Description = $"{about}; same as --set {d.Name}=X", HelpName = "X" },
                SettingKind.Boolean => new Option<bool>("--no-" + d.Name) { Description = $"{about}; --no-{d.Name} is --set {d.Name}=false" },
                SettingKind.Choice => new Option<string?>("--" + d.Name) { Description = $"{about}; same as --set {d.Name}=MODE", HelpName = "MODE" },
                _ => new Option<string?>("--" + d.Name) { Description = $"{about}; same as --set {d.Name}=VALUE", HelpName = "VALUE" },
            };
            if (o is Option<string?> choice && d.Kind == SettingKind.Choice) choice.AcceptOnlyFromAmong(d.Choices);
            _aliases.Add((o, d));
        }
    }

    public void AddTo(Command c)
    {
        if (_single) { c.Options.Add(Policy); c.Options.Add(Budget); }
        c.Options.Add(Set);
        c.Options.Add(Positions);
        foreach (var (o, _) in _aliases) c.Options.Add(o);
    }

    /// <summary>The policy named by --policy with --budget (validated; throws before any model work).</summary>
    public IPruningPolicy Create(ParseResult r) => PolicyFactory.Create(r.GetValue(Policy)!, Options(r, r.GetValue(Budget)));

    /// <summary>Budget, position mode and settings from --set and the setting flags (a flag and --set must agree).</summary>
    public PolicyOptions Options(ParseResult r, double? budget)
    {
        var dict = ParseSettings(r.GetValue(Set));
        foreach (var (opt, d) in _aliases)
        {
            var res = r.GetResult(opt);
            if (res == null || res.Implicit) continue;
            string value = opt switch
            {
                Option<double?> n => r.GetValue(n)!.Value.ToString("R", CultureInfo.InvariantCulture),
                Option<bool> b => r.GetValue(b) ? "false" : "true",    // --no-NAME
                Option<string?> t => r.GetValue(t)!,
                _ => throw new InvalidOperationException($"unhandled flag {opt.Name}"),
            };
            if (dict.TryGetValue(d.Name, out var prev) && !string.Equals(prev, value, StringComparison.OrdinalIgnoreCase))
                throw new UsageException($"{opt.Name} {value} conflicts with --set {d.Name}={prev}");
            dict[d.Name] = value;
        }
        return new PolicyOptions { Budget = budget, Positions = PositionMode(r), Settings = dict };
    }

    /// <summary>
    /// For a sweep over several policies: each policy gets the settings it declares; a setting that none of them
    /// declares is a usage error (a typo must not turn into "infeasible").
    /// </summary>
    public static IReadOnlyDictionary<string, string> SettingsFor(string policy, IReadOnlyDictionary<string, string> all, IEnumerable<string> swept)
    {
        var names = swept.ToList();
        foreach (var key in all.Keys)
            if (!names.Any(p => PolicyFactory.Info(p).Setting(key) != null))
                throw new UsageException($"setting '{key}' belongs to none of the swept policies ({string.Join(", ", names)}); `autoprune policies` lists each one's settings");
        var info = PolicyFactory.Info(policy);
        return all.Where(kv => info.Setting(kv.Key) != null).ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.OrdinalIgnoreCase);
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
