using AutoPrune.Pruning;

namespace AutoPrune.Tests.Pruning.AutoPrune;

public sealed class BudgetSolverTests
{
    public static TheoryData<int, int, bool> Shapes => new()
    {
        { 256, 8, true }, { 256, 8, false }, { 576, 32, true }, { 576, 32, false }, { 576, 40, true },
    };

    /// <summary>Random MI (hence slope) and budget: the solved schedule's own accounting meets T within 1 token.</summary>
    [Theory, MemberData(nameof(Shapes))]
    public void AccountedMeanMeetsBudgetInBothModes(int n0, int layers, bool recycle)
    {
        var rng = new Random(n0 * 31 + layers + (recycle ? 1 : 0));
        double x0 = RetentionCurve.ScaleX0(14.9, layers);
        for (int trial = 0; trial < 150; trial++)
        {
            double mi = rng.NextDouble() * 4;
            var curve = new RetentionCurve(Math.Max(0.4 - 0.2 * mi, 0), x0);
            foreach (var mode in new[] { BudgetMode.Faithful, BudgetMode.Strict })
            {
                double lo = mode == BudgetMode.Strict ? Math.Ceiling(BudgetSolver.MinStrictBudget(n0, layers)) : 16;
                // Up to 60% of N0 (the paper's largest is 192 of 576): beyond, steep curves cannot reach T with s ≤ 20.
                double t = Math.Round(lo + rng.NextDouble() * (0.6 * n0 - lo), 1);
                int n1 = BudgetSolver.Preselection(n0, layers, t, mode, recycle);
                var plan = BudgetSolver.Solve(n0, layers, n1, curve, t, recycle, mode);
                Assert.True(Math.Abs(plan.AccountedMean - t) <= 1, $"{mode} T={t} k={curve.K:F3}: accounted {plan.AccountedMean}");
                Assert.Equal(n0, plan.Processed[0]);
                Assert.Equal(n1, plan.Processed[1]);
                double processedMean = 0, handedOn = 0;
                for (int l = 0; l < layers; l++) { processedMean += plan.Processed[l]; handedOn += plan.After[l]; }
                Assert.Equal(mode == BudgetMode.Strict ? processedMean / layers : handedOn / layers, plan.AccountedMean, 9);
                if (mode == BudgetMode.Faithful) Assert.Equal(Math.Min(Math.Floor(2.5 * t), n0), n1);
                for (int l = 2; l < layers; l++) Assert.True(plan.Processed[l] <= plan.Processed[l - 1] || recycle);
            }
        }
    }

    [Fact]
    public void UnreachableBudgetIsFlaggedNotFaked()
    {
        // A steep curve (k = 0.4) cannot keep 560 of 576 tokens on average even at s = 20: the best plan is what s = 20 gives.
        var curve = new RetentionCurve(0.4, 14.9);
        var plan = BudgetSolver.Solve(576, 32, 576, curve, 560, true, BudgetMode.Faithful);
        Assert.False(plan.Reached);
        Assert.Equal(BudgetSolver.Simulate(576, 32, 576, curve, BudgetSolver.MaxScale, true, BudgetMode.Faithful).AccountedMean, plan.AccountedMean);
        Assert.True(plan.AccountedMean < 559);
    }

    [Fact]
    public void SimulationFollowsTheFormula()
    {
        // N1 = 100, flat curve 0.375, s = 2 → keep ceil(99·0.75) = 75 at every layer, 25 dropped → 8 candidates → 1 cluster.
        var plan = BudgetSolver.Simulate(256, 4, 100, new RetentionCurve(0, 0), 2, recycle: true, BudgetMode.Faithful);
        Assert.Equal([0, 75, 75, 75], plan.Keep);
        Assert.Equal([100, 76, 76, 76], plan.After);
        Assert.Equal([256, 100, 76, 76], plan.Processed);
        Assert.Equal((100 + 76 * 3) / 4.0, plan.AccountedMean);
        var noRecycle = BudgetSolver.Simulate(256, 4, 100, new RetentionCurve(0, 0), 2, recycle: false, BudgetMode.Strict);
        Assert.Equal([256, 100, 75, 75], noRecycle.Processed);
        Assert.Equal((256 + 100 + 75 + 75) / 4.0, noRecycle.AccountedMean);
    }

    [Theory]
    [InlineData(256, 8, 32.875)]
    [InlineData(576, 32, 18.96875)]
    public void InfeasibleStrictBudgetIsRefusedWithTheLowestFeasible(int n0, int layers, double min)
    {
        Assert.Equal(min, BudgetSolver.MinStrictBudget(n0, layers));
        var e = Assert.Throws<InfeasibleBudgetException>(() => BudgetSolver.Preselection(n0, layers, min - 0.5, BudgetMode.Strict, true));
        Assert.Contains(min.ToString(System.Globalization.CultureInfo.InvariantCulture), e.Message);
        int p = BudgetSolver.Preselection(n0, layers, min, BudgetMode.Strict, true);   // the minimum itself is feasible
        var plan = BudgetSolver.Solve(n0, layers, p, new RetentionCurve(0.4, 14.9 * layers / 32), min, true, BudgetMode.Strict);
        Assert.Equal(min, plan.AccountedMean, 9);
    }
}
