using AutoPrune.Pruning;
using System.Text.Json;

namespace AutoPrune.Tests.Cli;

/// <summary>One settings mechanism: every policy declares its settings; `autoprune policies`, --help and the checks come from the declarations.</summary>
public sealed class PoliciesCommandTests
{
    [Fact]
    public void PoliciesListsEveryPolicyWithDefaultsAndSettings()
    {
        var (code, stdout, stderr) = CliTests.Run("policies", "--json");
        Assert.True(code == 0, stderr);
        var list = JsonDocument.Parse(stdout).RootElement.EnumerateArray().ToList();
        var names = list.Select(p => p.GetProperty("name").GetString()!).ToList();
        foreach (var n in new[] { "none", "autoprune", "fastv", "pdrop", "sparsevlm", "fastervlm", "visionzip", "divprune", "random", "uniform" })
            Assert.Contains(n, names);
        var ap = list.Single(p => p.GetProperty("name").GetString() == "autoprune");
        Assert.Contains("28 of 256", ap.GetProperty("default_budget").GetString());
        var mode = ap.GetProperty("settings").EnumerateArray().Single(s => s.GetProperty("name").GetString() == "budget-mode");
        Assert.Equal("strict", mode.GetProperty("default").GetString());
        foreach (var p in list) Assert.False(string.IsNullOrWhiteSpace(p.GetProperty("default_budget").GetString()));

        (code, stdout, _) = CliTests.Run("policies");
        Assert.Equal(0, code);
        Assert.Contains("--set dominant-ratio=number", stdout);
    }

    [Fact]
    public void HelpShowsEachPolicysDefaultBudgetAndSettings()
    {
        var (_, stdout, _) = CliTests.Run("eval", "--help");
        foreach (var info in PolicyFactory.Policies.Where(i => i.Name != "none" && !i.Name.StartsWith("test-", StringComparison.Ordinal)))
        {
            Assert.Contains($"{info.Name} {info.DefaultBudget}", stdout.Replace("\n", " ").Replace("  ", " "));
            foreach (var s in info.Settings) Assert.Contains($"{s.Name}={s.KindText}", stdout);
        }
    }

    [Fact]
    public void EveryPolicyRefusesUndeclaredSettingsAndBadValuesOfDeclaredOnes()
    {
        foreach (var info in PolicyFactory.Policies.Where(i => i.Name != "none" && !i.Name.StartsWith("test-", StringComparison.Ordinal)))   // tests register their own
        {
            var e = Assert.ThrowsAny<PruningOptionException>(() => PolicyFactory.Create(info.Name, new PolicyOptions { Settings = new Dictionary<string, string> { ["zz"] = "1" } }));
            Assert.Contains($"{info.Name}: unknown setting 'zz'", e.Message);
            foreach (var s in info.Settings.Where(s => s.Kind != SettingKind.Choice || s.Choices.Length > 0))
            {
                var bad = Assert.ThrowsAny<PruningOptionException>(() =>
                    PolicyFactory.Create(info.Name, new PolicyOptions { Settings = new Dictionary<string, string> { [s.Name.ToUpperInvariant()] = "not-a-value" } }));
                Assert.Contains($"setting {s.Name}='not-a-value' is not", bad.Message);
            }
        }
    }

    [Fact]
    public void SettingFlagsAreAliasesOfSet()
    {
        var image = Path.Combine(TestPaths.Samples, "scene1.png");
        // A number flag is checked by the parser (usage error); a choice flag too.
        var (code, _, stderr) = CliTests.Run("ask", "--image", image, "Q?", "--policy", "autoprune", "--x0", "abc");
        Assert.Equal(2, code);
        Assert.Contains("--x0 'abc' is not a number", stderr);
        (code, _, stderr) = CliTests.Run("ask", "--image", image, "Q?", "--policy", "autoprune", "--budget-mode", "loose");
        Assert.Equal(2, code);
        Assert.Contains("strict, faithful", stderr);
        (code, _, stderr) = CliTests.Run("ask", "--image", image, "Q?", "--policy", "autoprune", "--x0", "3", "--set", "x0=4");
        Assert.Equal(2, code);
        Assert.Contains("--x0 3 conflicts with --set x0=4", stderr);
    }
}
