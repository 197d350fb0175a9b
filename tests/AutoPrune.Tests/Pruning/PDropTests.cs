using AutoPrune.Pruning;

namespace AutoPrune.Tests.Pruning;

public sealed class PDropTests
{
    [Fact]
    public void StagesKeepHalfOfTheLastRowTopTokens()
    {
        // N0 = 8, L = 8: stages at 2/4/6 (8/16/24 of 32), λ = 0.5 → 4, 2, 1.
        var p = new PDrop(Fake.Options(null));
        var setup = Fake.Setup(8, 8);
        var run = p.Begin(setup);
        Assert.Equal([2.0, 4, 6], setup.Trace.Curves["pdrop.stage_layers"]);
        Assert.Equal([4.0, 2, 1], setup.Trace.Curves["pdrop.stage_counts"]);
        Assert.Equal(PositionMode.Compact, p.Positions);

        float[][] att = [[0.05f, 0.3f, 0.01f, 0.2f, 0.02f, 0.25f, 0.1f, 0.07f]];
        Assert.Null(run.AfterLayer(Fake.LastRow(0, 8, att)));
        Assert.Equal([1, 3, 5, 6], run.AfterLayer(Fake.LastRow(1, 8, att))!.Keep);
        Assert.Null(run.AfterLayer(Fake.LastRow(2, 8, [[0.1f, 0.4f, 0.3f, 0.2f]])));
        Assert.Equal([1, 2], run.AfterLayer(Fake.LastRow(3, 8, [[0.1f, 0.4f, 0.3f, 0.2f]]))!.Keep);
        Assert.Equal([0], run.AfterLayer(Fake.LastRow(5, 8, [[0.6f, 0.4f]]))!.Keep);
    }

    [Theory]
    [InlineData(86.0)]
    [InlineData(65.0)]
    [InlineData(200.0)]
    public void BudgetSolvesLambdaWithinHalfAToken(double budget)
    {
        var setup = Fake.Setup(256, 8);
        new PDrop(Fake.Options(budget)).Begin(setup);
        var counts = Array.ConvertAll(setup.Trace.Curves["pdrop.stage_counts"], x => (int)x);
        double mean = LayerSchedule.Mean(256, 8, [2, 4, 6], counts);
        Assert.InRange(mean, budget - 0.5, budget + 0.5);
        for (int j = 1; j < counts.Length; j++) Assert.True(counts[j] <= counts[j - 1]);
    }

    [Fact]
    public void InfeasibleBudgetNamesLowestFeasible()
    {
        // Layers 0 and 1 process all 256: (2·256 + 6)/8 = 64.75.
        var e = Assert.Throws<InfeasibleBudgetException>(() => new PDrop(Fake.Options(57)).Begin(Fake.Setup(256, 8)));
        Assert.Contains("lowest feasible budget is 64.75", e.Message);
        // Earlier stages make it feasible.
        var setup = Fake.Setup(256, 8);
        new PDrop(Fake.Options(40, ("layers", "1,3,5"))).Begin(setup);
        Assert.Equal([1.0, 3, 5], setup.Trace.Curves["pdrop.stage_layers"]);
    }

    [Fact]
    public void RejectsBadSettings()
    {
        Assert.Throws<PruningOptionException>(() => new PDrop(Fake.Options(50, ("lambda", "0.5"))));
        Assert.Throws<PruningOptionException>(() => new PDrop(Fake.Options(null, ("lambda", "0"))));
        Assert.Throws<PruningOptionException>(() => new PDrop(Fake.Options(null, ("layers", "2,x"))));
        Assert.Throws<PruningOptionException>(() => new PDrop(Fake.Options(null, ("layers", "4,2"))).Begin(Fake.Setup(256, 8)));
        Assert.Throws<PruningOptionException>(() => new PDrop(Fake.Options(null, ("layers", "0,2"))).Begin(Fake.Setup(256, 8)));
        Assert.Throws<PruningOptionException>(() => new PDrop(Fake.Options(null, ("layers", "2,8"))).Begin(Fake.Setup(256, 8)));
    }
}
