using System.CommandLine;
using System.Text.Json;
using AutoPrune.Pruning;

namespace AutoPrune.Cli.Commands;

/// <summary>`autoprune policies`: every pruning policy, where it prunes, what it ranks by, its default budget, settings and defaults.</summary>
public static class PoliciesCommand
{
    public static Command Create()
    {
        var json = Cli.JsonOption();
        var cmd = new Command("policies", "List the pruning policies: where each prunes, what it ranks by, its default budget, its settings and their defaults") { json };
        cmd.SetAction(r =>
        {
            var o = r.InvocationConfiguration.Output;
            var all = PolicyFactory.Policies;
            if (r.GetValue(json))
            {
                o.WriteLine(JsonSerializer.Serialize(all.Select(i => new
                {
                    name = i.Name, prunes = i.Prunes, ranks_by = i.RanksBy, default_budget = i.DefaultBudget, positions = i.Positions,
                    settings = i.Settings.Select(s => new { name = s.Name, type = s.KindText, @default = s.Default, help = s.Help }),
                })));
                return 0;
            }
            o.WriteLine("--budget T is the mean number of visual tokens each decoder layer processes, for every policy; T at or above the");
            o.WriteLine("image's visual tokens means no pruning. Settings are given with --set NAME=VALUE.");
            foreach (var i in all)
            {
                o.WriteLine();
                o.WriteLine(i.Name);
                o.WriteLine($"  prunes          {i.Prunes}");
                o.WriteLine($"  ranks by        {i.RanksBy}");
                o.WriteLine($"  default budget  {i.DefaultBudget}");
                o.WriteLine($"  positions       {i.Positions}");
                foreach (var s in i.Settings)
                    o.WriteLine($"  --set {s.Name}={s.KindText}  (default {s.Default}) {s.Help}");
            }
            return 0;
        });
        return cmd;
    }
}
