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

    public static IPruningPolicy Build(ParseResult r, Option<string> policy, Option<double?> budget, Option<string[]> settings, Option<string?> positions)
    {
        var dict = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var s in r.GetValue(settings) ?? [])
        {
            int eq = s.IndexOf('=');
            if (eq <= 0) throw new PruningOptionException($"--set expects NAME=VALUE, got '{s}'");
            dict[s[..eq].Trim()] = s[(eq + 1)..].Trim();
        }
        var pos = r.GetValue(positions) switch { "compact" => PositionMode.Compact, "original" => (PositionMode?)PositionMode.Original, _ => null };
        return PolicyFactory.Create(r.GetValue(policy)!, new PolicyOptions { Budget = r.GetValue(budget), Positions = pos, Settings = dict });
    }
}
