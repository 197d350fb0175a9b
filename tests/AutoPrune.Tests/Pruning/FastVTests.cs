using AutoPrune.Pruning;

namespace AutoPrune.Tests.Pruning;

public sealed class FastVTests
{
    // Head mean of the last row: [0.2, 0.3, 0.3, 0.21, 0.1, 0.05]; top 3 = {1, 2, 3}, unlike either head alone.
    private static readonly float[][] LastRow =
    [
        [0.1f, 0.5f, 0.0f, 0.3f, 0.2f, 0.05f],
        [0.3f, 0.1f, 0.6f, 0.12f, 0.0f, 0.05f],
    ];

    [Fact]
    public void KeepsTopTokensOfLastRowHeadMeanInOriginalOrder()
    {
        // N0 = 6, L = 8, K = 1 (2 of 32 scaled): mean (6 + 7·3)/8 = 3.375 → keep 3.
        var p = new FastV(Fake.Options(3.375));
        var setup = Fake.Setup(6, 8);
        var run = p.Begin(setup);
        Assert.Equal(1, setup.Trace.Values["fastv.K"]);
        Assert.Equal(3, setup.Trace.Values["fastv.keep"]);
        var sel = run.AfterLayer(Fake.LastRow(0, 8, LastRow));
        Assert.NotNull(sel);
        Assert.Equal([1, 2, 3], sel.Keep);
        Assert.Null(sel.Merge);
    }

    [Fact]
    public void PrunesOnlyAfterLayerKMinusOne()
    {
        var p = new FastV(Fake.Options(null, ("K", "3"), ("R", "0.5")));
        var run = p.Begin(Fake.Setup(6, 8));
        Assert.Null(run.AfterLayer(Fake.LastRow(0, 8, LastRow)));
        Assert.Null(run.AfterLayer(Fake.LastRow(1, 8, LastRow)));
        Assert.Equal([1, 2, 3], run.AfterLayer(Fake.LastRow(2, 8, LastRow))!.Keep);
        Assert.Null(run.AfterLayer(Fake.LastRow(3, 8, LastRow)));
    }

    [Fact]
    public void KScalesWithDepth()
    {
        var setup = Fake.Setup(576, 32);
        new FastV(Fake.Options(null)).Begin(setup);
        Assert.Equal(2, setup.Trace.Values["fastv.K"]);
        Assert.Equal(288, setup.Trace.Values["fastv.keep"]);
    }

    [Fact]
    public void BudgetSolvesKeepCount()
    {
        var setup = Fake.Setup(256, 8);
        new FastV(Fake.Options(57)).Begin(setup);
        // (8·57 − 256)/7 = 28.57 → 29; mean (256 + 7·29)/8 = 57.375.
        Assert.Equal(29, setup.Trace.Values["fastv.keep"]);
    }

    [Theory]
    [InlineData(32.0, "32.875")]
    [InlineData(1.0, "32.875")]
    public void InfeasibleBudgetNamesLowestFeasible(double budget, string lowest)
    {
        var p = new FastV(Fake.Options(budget));
        var e = Assert.Throws<InfeasibleBudgetException>(() => p.Begin(Fake.Setup(256, 8)));
        Assert.Contains($"lowest feasible budget is {lowest}", e.Message);
        new FastV(Fake.Options(32.875)).Begin(Fake.Setup(256, 8));
    }

    [Fact]
    public void RejectsBadSettings()
    {
        Assert.Throws<PruningOptionException>(() => new FastV(Fake.Options(50, ("R", "0.5"))));
        Assert.Throws<PruningOptionException>(() => new FastV(Fake.Options(null, ("R", "1"))));
        Assert.Throws<PruningOptionException>(() => new FastV(Fake.Options(null, ("R", "abc"))));
        Assert.Throws<PruningOptionException>(() => new FastV(Fake.Options(null, ("lambda", "0.5"))));
        var p = new FastV(Fake.Options(null, ("K", "8")));
        Assert.Contains("1..7", Assert.Throws<PruningOptionException>(() => p.Begin(Fake.Setup(256, 8))).Message);
        Assert.Same(NoPruning.KeepAll.Instance, new FastV(Fake.Options(300)).Begin(Fake.Setup(256, 8)));   // budget >= N0: no pruning
    }
}
