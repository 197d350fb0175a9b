using System.Globalization;
using System.Text.RegularExpressions;
using AutoPrune.Models;
using AutoPrune.Pruning;

namespace AutoPrune.Tests.Pruning;

/// <summary>Every baseline on the embedded tiny model with a golden image and its question.</summary>
public sealed class RealModelBaselineTests(TinyModelFixture fx) : IClassFixture<TinyModelFixture>
{
    public static IEnumerable<object[]> Policies() =>
        [["fastv"], ["pdrop"], ["sparsevlm"], ["fastervlm"], ["visionzip"], ["divprune"], ["random"], ["uniform"]];

    public static IEnumerable<object[]> PoliciesAndBudgets()
    {
        foreach (var p in Policies())
            foreach (var t in new[] { 86.0, 57.0, 40.0 })
                yield return [p[0], t];
    }

    private (float[] Pixels, TokenizedPrompt Prompt) Input(string golden = "case2")
    {
        var g = new GoldenReference(golden);
        return (fx.F32.PreprocessImage(g.ImagePath), fx.F32.Tokenize(g.Question));
    }

    private static IPruningPolicy Create(string name, double budget) => PolicyFactory.Create(name, new PolicyOptions { Budget = budget });

    [Theory, MemberData(nameof(Policies))]
    public void FullBudgetGivesTheUnprunedLogitsExactly(string name)
    {
        var (pixels, prompt) = Input();
        var model = fx.F32;
        var reference = model.Prefill(pixels, prompt);
        var pruned = model.Prefill(pixels, prompt, Create(name, model.ImageTokens));
        Assert.Equal(reference.Logits, pruned.Logits);
        Assert.All(pruned.Trace.VisualTokensPerLayer, c => Assert.Equal(model.ImageTokens, c));
    }

    [Theory, MemberData(nameof(PoliciesAndBudgets))]
    public void MeanVisualTokensMeetsTheBudgetAndTextIsNeverDropped(string name, double budget)
    {
        var (pixels, prompt) = Input();
        var model = fx.F32;
        IPruningPolicy policy = Create(name, budget);
        try
        {
            policy.Begin(new PruningSetup(model.ImageTokens, model.Config.Text.NumHiddenLayers, new()));
        }
        catch (PruningOptionException e)
        {
            // Refused: the named lowest feasible budget must really be above the request and must itself work.
            double lowest = LowestNamed(e.Message);
            Assert.True(lowest > budget, e.Message);
            budget = Math.Ceiling(lowest);
            policy = Create(name, budget);
        }
        var sequence = new List<int>();
        var result = TestRuns.Prefill(model, pixels, prompt, policy, (_, _, n) => sequence.Add(n));
        var perLayer = result.Trace.VisualTokensPerLayer;
        Assert.InRange(result.Trace.MeanVisualTokens, budget - 1, budget + 1);
        for (int l = 0; l < perLayer.Length; l++) Assert.Equal(prompt.TextTokens, sequence[l] - perLayer[l]);
        Assert.True(result.Trace.Flops < result.Trace.FlopsUnpruned);
        Assert.Equal(name, result.Trace.Policy);
        var answer = Generator.Generate(model, pixels, prompt, new GenerationOptions { Policy = Create(name, budget), MaxNewTokens = 4 });
        Assert.NotEmpty(answer.OutputIds);
    }

    [Theory, MemberData(nameof(Policies))]
    public void InfeasibleBudgetIsRefusedNamingTheLowestFeasible(string name)
    {
        var (pixels, prompt) = Input();
        var model = fx.F32;
        var e = Assert.Throws<InfeasibleBudgetException>(() => model.Prefill(pixels, prompt, Create(name, 0.5)));
        double lowest = LowestNamed(e.Message);
        // Just below the named value is refused, the value itself is served within a token.
        Assert.Throws<InfeasibleBudgetException>(() => model.Prefill(pixels, prompt, Create(name, lowest - 0.01)));
        var ok = model.Prefill(pixels, prompt, Create(name, lowest));
        Assert.InRange(ok.Trace.MeanVisualTokens, lowest - 1, lowest + 1);
        // At or above the image's visual tokens: no pruning, with a note, for every policy.
        foreach (var full in new double[] { model.ImageTokens, model.ImageTokens + 1, 1e6 })
        {
            var all = model.Prefill(pixels, prompt, Create(name, full));
            Assert.All(all.Trace.VisualTokensPerLayer, v => Assert.Equal(model.ImageTokens, v));
            Assert.Equal(0, all.Trace.Flops - all.Trace.FlopsUnpruned, 6);
            Assert.Contains(all.Trace.Notes, n => n.Contains("no pruning", StringComparison.Ordinal));
        }
    }

    private static double LowestNamed(string message)
    {
        var m = Regex.Match(message, @"lowest feasible budget is ([0-9.]+)");
        Assert.True(m.Success, message);
        return double.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);
    }
}
