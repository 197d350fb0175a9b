using System.CommandLine;
using AutoPrune.Pruning;

namespace AutoPrune.Cli.Commands;

/// <summary>The pruning options shared by ask, eval, bench and explain.</summary>
public static class PolicyOptionsCli
{
    public static (Option<string>, Option<double?>, Option<string[]>, Option<string?>) Create()
    {
        var policy = new Option<string>("--policy", "-p")
        {
            Description = $"visual-token pruning policy: {string.Join(", ", PolicyFactory.Names)}",
            DefaultValueFactory = _ => "none",
        };
        var budget = new Option<double?>("--budget", "-b")
        {
            Description = "target mean visual tokens per decoder layer (pre-decoder policies: tokens kept)",
            HelpName = "T",
        };
        var settings = new Option<string[]>("--set")
        {
            Description = "policy setting NAME=VALUE, repeatable (e.g. --set x0=14.9 --set budget-mode=strict)",
            HelpName = "NAME=VALUE",
            AllowMultipleArgumentsPerToken = false,
        };
        var positions = new Option<string?>("--positions")
        {
            Description = "position ids after pruning: compact (renumber) or original (keep); default: the policy's",
            HelpName = "MODE",
        };
        positions.AcceptOnlyFromAmong("compact", "original");
        return (policy, budget, settings, positions);
    }

    /// <summary>Dedicated flags that are shorthands for --set NAME=VALUE (AutoPrune's settings).</summary>
    private static readonly Dictionary<string, string> FlagSettings = new()
    {
        ["--x0"] = "x0", ["--k0"] = "k0", ["--gamma"] = "gamma", ["--budget-mode"] = "budget-mode",
        ["--no-recycle"] = "recycle", ["--mi-norm"] = "mi-norm",
    };

    /// <summary>
    /// The dedicated policy-setting flags; add them to a command beside <see cref="Create"/>'s options and
    /// <see cref="Build"/> maps whichever are present into the policy's settings.
    /// </summary>
    public static Option[] SettingFlags()
    {
        // Values are validated by the policy (one-line PruningOptionException), not by the parser.
        var budgetMode = new Option<string?>("--budget-mode")
        {
            Description = "autoprune: what the budget is a mean of: faithful (official: layer 0 counted as 2.5T) or strict (every layer as processed)",
            HelpName = "MODE",
        };
        var miNorm = new Option<string?>("--mi-norm")
        {
            Description = "autoprune: normalization of MI1 before k = k0 - gamma*MI1: sum (official), mean (over heads), mean-per-text",
            HelpName = "NORM",
        };
        return
        [
            new Option<double?>("--x0") { Description = "autoprune: retention-curve midpoint for 32 layers, scaled by depth (default 14.9)", HelpName = "X" },
            new Option<double?>("--k0") { Description = "autoprune: slope at zero mutual information (default 0.4)", HelpName = "K" },
            new Option<double?>("--gamma") { Description = "autoprune: slope decrease per unit of MI1 (default 0.2)", HelpName = "G" },
            budgetMode,
            new Option<bool>("--no-recycle") { Description = "autoprune: do not recycle dropped tokens into merged clusters" },
            miNorm,
        ];
    }

    public static IPruningPolicy Build(ParseResult r, Option<string> policy, Option<double?> budget, Option<string[]> settings, Option<string?> positions) =>
        PolicyFactory.Create(r.GetValue(policy)!, BuildOptions(r, budget, settings, positions));

    /// <summary>Budget, position mode and settings from --set and the dedicated flags (a flag and --set must agree).</summary>
    public static PolicyOptions BuildOptions(ParseResult r, Option<double?> budget, Option<string[]> settings, Option<string?> positions)
    {
        var dict = ParseSettings(r.GetValue(settings));
        foreach (var opt in r.CommandResult.Command.Options)
        {
            if (!FlagSettings.TryGetValue(opt.Name, out var key)) continue;
            var res = r.GetResult(opt);
            if (res == null || res.Implicit) continue;
            string value = opt switch
            {
                Option<double?> d => r.GetValue(d)!.Value.ToString("R", System.Globalization.CultureInfo.InvariantCulture),
                Option<bool> b => r.GetValue(b) ? "false" : "true",    // --no-recycle
                Option<string?> t => r.GetValue(t)!,
                _ => throw new InvalidOperationException($"unhandled flag {opt.Name}"),
            };
            if (dict.TryGetValue(key, out var prev) && !string.Equals(prev, value, StringComparison.OrdinalIgnoreCase))
                throw new PruningOptionException($"{opt.Name} conflicts with --set {key}={prev}");
            dict[key] = value;
        }
        var pos = r.GetValue(positions) switch { "compact" => PositionMode.Compact, "original" => (PositionMode?)PositionMode.Original, _ => null };
        return new PolicyOptions { Budget = r.GetValue(budget), Positions = pos, Settings = dict };
    }

    /// <summary>The --set NAME=VALUE items as a case-insensitive dictionary.</summary>
    public static Dictionary<string, string> ParseSettings(string[]? items)
    {
        var dict = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var s in items ?? [])
        {
            int eq = s.IndexOf('=');
            if (eq <= 0) throw new PruningOptionException($"--set expects NAME=VALUE, got '{s}'");
            dict[s[..eq].Trim()] = s[(eq + 1)..].Trim();
        }
        return dict;
    }
}
