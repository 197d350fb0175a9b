using AutoPrune.Accounting;
using AutoPrune.Pruning;

namespace AutoPrune.Tests.Pruning;

public sealed class SparseVlmTests
{
    private const int Prefix = 1, Visual = 10, Suffix = 3, D = 8;

    /// <summary>Visual hidden states all e0; text after the image 3·e0, 0, 2.9·e0 → raters are text tokens 0 and 2.</summary>
    private static float[] Hidden()
    {
        int n = Prefix + Visual + Suffix;
        var h = new float[n * D];
        for (int v = 0; v < Visual; v++) h[(Prefix + v) * D] = 1;
        for (int i = 0; i < n * D; i += D) h[i + 1] = 0.01f * i;   // distinct rows for the clustering
        h[(Prefix + Visual) * D] = 3;
        h[(Prefix + Visual + 2) * D] = 2.9f;
        return h;
    }

    private static readonly float[] RaterRow = [0.1f, 0.9f, 0.2f, 0.8f, 0.3f, 0.7f, 0.4f, 0.6f, 0.05f, 0.5f];

    private static FakeLayerContext Context(int layer)
    {
        int t0 = Prefix + Visual, t1 = t0 + 1, t2 = t0 + 2;
        var ctx = Fake.Layer(layer, 8, Prefix, Visual, Suffix, 2, (h, i, j) =>
        {
            if (j < Prefix || j >= Prefix + Visual) return 0f;
            int v = j - Prefix;
            if (i == t0 || i == t2) return RaterRow[v];
            if (i == t1) return v % 2 == 0 ? 3f : 0f;   // a non-rater that would flip the ranking if it counted
            return 0f;
        });
        return new FakeLayerContext
        {
            Layer = ctx.Layer, SequenceLength = ctx.SequenceLength, Spans = ctx.Spans, Heads = ctx.Heads, HiddenSize = D, Trace = new PrefillTrace(),
            Attention = ctx.Attention, Ids = ctx.Ids.ToArray(), HiddenStates = Hidden(),
        };
    }

    [Fact]
    public void RatersAreTextTokensAboveMeanRelevance()
    {
        // Softmax over text of e0·text = [3, 0, 2.9] → [0.513, 0.026, 0.464]; mean 1/3 → tokens 0 and 2.
        Assert.Equal([0, 2], SparseVlm.Raters(Context(0)));
    }

    [Fact]
    public void KeepsTopByRaterAttentionAndRecyclesTheBestDropped()
    {
        // No budget: table 192 scaled to 10 tokens → kept 5 at the first stage (layers=1,2,3: after layer 0).
        var p = new SparseVlm(Fake.Options(null, ("layers", "1,2,3")));
        var setup = Fake.Setup(Visual, 8);
        var run = p.Begin(setup);
        var sel = run.AfterLayer(Context(0));
        Assert.NotNull(sel);
        Assert.Equal([1, 3, 5, 7, 9], sel.Keep);
        // 5 dropped → int(0.3·5)+1 = 2 candidates (the best dropped: 6 and 4) → one cluster.
        Assert.NotNull(sel.Merge);
        var group = Assert.Single(sel.Merge);
        Array.Sort(group);
        Assert.Equal([4, 6], group);
        Assert.Equal(PositionMode.Compact, p.Positions);
    }

    [Theory]
    [InlineData(86.0)]
    [InlineData(57.0)]
    [InlineData(40.0)]
    [InlineData(34.0)]
    public void BudgetTotalsMeetTheMeanWithinHalfAToken(double budget)
    {
        var setup = Fake.Setup(256, 8);
        new SparseVlm(Fake.Options(budget)).Begin(setup);
        var starts = Array.ConvertAll(setup.Trace.Curves["sparsevlm.stage_layers"], x => (int)x);
        var totals = Array.ConvertAll(setup.Trace.Curves["sparsevlm.stage_counts"], x => (int)x);
        Assert.Equal([1, 2, 4], starts);
        Assert.InRange(LayerSchedule.Mean(256, 8, starts, totals), budget - 0.5, budget + 0.5);
        // Every total is reachable: some kept count k gives k + recycled(previous − k) = total.
        int prev = 256;
        foreach (var total in totals)
        {
            bool reachable = false;
            for (int k = 0; k <= total && !reachable; k++) reachable = k + TokenRecycling.RecycledCount(prev - k) == total;
            Assert.True(reachable, $"total {total} from {prev}");
            prev = total;
        }
    }

    [Fact]
    public void InfeasibleBudgetNamesLowestFeasible()
    {
        // Layer 0: 256; after it at least recycled(256) = 8, then recycled(8) = 1, 1: (256 + 8 + 2 + 4)/8 = 33.75.
        var e = Assert.Throws<InfeasibleBudgetException>(() => new SparseVlm(Fake.Options(33)).Begin(Fake.Setup(256, 8)));
        Assert.Contains("lowest feasible budget is 33.75", e.Message);
        Assert.Throws<PruningOptionException>(() => new SparseVlm(Fake.Options(null, ("table", "100"))));
        Assert.Throws<PruningOptionException>(() => new SparseVlm(Fake.Options(null, ("layers", "1,2"))));
    }
}
