using AutoPrune.Models;
using AutoPrune.Pruning;

namespace AutoPrune.Tests.Pruning;

public sealed class FasterVlmTests
{
    [Fact]
    public void KeepsTopClsAttentionInOriginalOrder()
    {
        var p = new FasterVlm(Fake.Options(3));
        var run = p.Begin(Fake.Setup(6, 8));
        var sel = run.BeforeDecoder(Fake.Pre(6, 1, new float[6], cls: [0.05f, 0.4f, 0.1f, 0.3f, 0.02f, 0.13f]));
        Assert.Equal([1, 3, 5], sel!.Keep);
    }

    [Fact]
    public void FullBudgetKeepsEverythingAndZeroIsRefused()
    {
        var p = new FasterVlm(Fake.Options(6));
        var run = p.Begin(Fake.Setup(6, 8));
        Assert.Null(run.BeforeDecoder(Fake.Pre(6, 1, new float[6])));
        var e = Assert.Throws<InfeasibleBudgetException>(() => new FasterVlm(Fake.Options(0.4)).Begin(Fake.Setup(6, 8)));
        Assert.Contains("lowest feasible budget is 1", e.Message);
        Assert.Throws<PruningOptionException>(() => new FasterVlm(Fake.Options(3, ("K", "1"))));
    }
}

public sealed class UniformTests
{
    [Fact]
    public void StrideIsEven()
    {
        var keep = UniformPruning.Select(256, 64);
        for (int i = 0; i < 64; i++) Assert.Equal(4 * i + 2, keep[i]);
        Assert.Equal([1, 5, 8], UniformPruning.Select(10, 3));
        Assert.Equal([0, 1, 2, 3], UniformPruning.Select(4, 4));
    }

    [Fact]
    public void PolicyUsesBudget()
    {
        var p = new UniformPruning(Fake.Options(3));
        var run = p.Begin(Fake.Setup(10, 8));
        Assert.Equal([1, 5, 8], run.BeforeDecoder(Fake.Pre(10, 1, new float[10]))!.Keep);
    }
}

public sealed class RandomTests
{
    private static int[] Run(int seed, int n = 100, double budget = 20)
    {
        var p = new RandomPruning(Fake.Options(budget, ("seed", seed.ToString())));
        var run = p.Begin(Fake.Setup(n, 8));
        return run.BeforeDecoder(Fake.Pre(n, 1, new float[n]))!.Keep;
    }

    [Fact]
    public void DeterministicBySeed()
    {
        Assert.Equal(Run(7), Run(7));
        Assert.NotEqual(Run(7), Run(8));
    }

    [Fact]
    public void DistinctSortedAndOfBudgetSize()
    {
        var k = Run(3);
        Assert.Equal(20, k.Length);
        for (int i = 1; i < k.Length; i++) Assert.True(k[i] > k[i - 1]);
        Assert.All(k, v => Assert.InRange(v, 0, 99));
        Assert.Throws<PruningOptionException>(() => new RandomPruning(Fake.Options(20, ("seed", "x"))));
    }
}

public sealed class DivPruneTests
{
    /// <summary>Unit vectors at the given angles (degrees), scaled by different norms: cosine must ignore the scale.</summary>
    private static float[] Angles(params double[] deg)
    {
        var f = new float[deg.Length * 2];
        for (int i = 0; i < deg.Length; i++)
        {
            double r = deg[i] * Math.PI / 180, s = 1 + i;
            f[2 * i] = (float)(s * Math.Cos(r));
            f[2 * i + 1] = (float)(s * Math.Sin(r));
        }
        return f;
    }

    [Fact]
    public void GreedyMaxMinPicksHandCheckedOrder()
    {
        // 0°, 10°, 90°, 180°, 105°. Most isolated (nearest neighbour 75° away): 180° (index 3). Farthest from it: 0°
        // (distance 2). Then min-distance to {180°, 0°}: 10° → 0.015, 90° → 1, 105° → 0.741: pick 90° (index 2);
        // then 105° (0.034 from 90°) before 10° (0.015 from 0°).
        var f = Angles(0, 10, 90, 180, 105);
        Assert.Equal([3, 0, 2], DivPrune.Greedy(f, 5, 2, 3));
        Assert.Equal([0, 2, 3], DivPrune.SelectInOrder(f, 5, 2, 3));
        Assert.Equal([3, 0, 2, 4, 1], DivPrune.Greedy(f, 5, 2, 5));
    }

    [Fact]
    public void PolicyUsesProjectorFeatures()
    {
        var p = new DivPrune(Fake.Options(3));
        var run = p.Begin(Fake.Setup(5, 8));
        Assert.Equal([0, 2, 3], run.BeforeDecoder(Fake.Pre(5, 2, Angles(0, 10, 90, 180, 105)))!.Keep);
    }
}

public sealed class VisionZipTests
{
    // cls: dominant pair = {0, 2}; the rest {1, 3, 4, 5}, stride 2 → targets 1 and 4.
    private static readonly float[] Cls = [0.9f, 0.1f, 0.8f, 0.2f, 0.3f, 0.05f];
    // keys: 1 = x-axis, 4 = y-axis; 3 is near x (joins 1), 5 is near y (joins 4).
    private static readonly float[] Keys = [0, 0, 1, 0, 0, 0, 0.9f, 0.1f, 0, 3, 0.2f, 1];

    [Fact]
    public void DominantByClsContextualByKeySimilarity()
    {
        var sel = VisionZip.Select(Cls, Keys, 6, 2, total: 4, ratio: 0.5);
        Assert.Equal([0, 2], sel.Keep);
        Assert.NotNull(sel.Merge);
        Assert.Equal(2, sel.Merge.Length);
        Assert.Equal([1, 3], sel.Merge[0]);
        Assert.Equal([4, 5], sel.Merge[1]);
    }

    [Fact]
    public void MergedTokensAreAveragesOfTheirMembers()
    {
        var p = new VisionZip(Fake.Options(4, ("dominant-ratio", "0.5")));
        var run = p.Begin(Fake.Setup(6, 8));
        int d = 3, n = 6;
        var feats = new float[n * d];
        for (int i = 0; i < feats.Length; i++) feats[i] = i * 0.5f - 2;
        var sel = run.BeforeDecoder(Fake.Pre(n, d, feats, Cls, Keys))!;
        // Apply it the way the engine does: no text around the visual block.
        var seq = Sequences.Of(feats, n, d, 0, n);
        seq.Apply(sel, PositionMode.Compact);
        var h = seq.H;
        Assert.Equal(4, seq.VisualCount);
        Assert.Equal(4, seq.Length);
        for (int c = 0; c < d; c++)
        {
            Assert.Equal(feats[0 * d + c], h[0 * d + c]);
            Assert.Equal(feats[2 * d + c], h[1 * d + c]);
            Assert.Equal((feats[1 * d + c] + feats[3 * d + c]) / 2, h[2 * d + c], 5);
            Assert.Equal((feats[4 * d + c] + feats[5 * d + c]) / 2, h[3 * d + c], 5);
        }
    }

    [Fact]
    public void DefaultRatioIs54Of64()
    {
        Assert.Equal((54, 10), VisionZip.Split(64, 54.0 / 64));
        Assert.Equal((24, 4), VisionZip.Split(28, 54.0 / 64));
        Assert.Equal((1, 0), VisionZip.Split(1, 54.0 / 64));
        var sel = VisionZip.Select(new float[256], new float[256 * 2], 256, 2, 64, 54.0 / 64);
        int members = 0;
        foreach (var g in sel.Merge!) members += g.Length;
        Assert.Equal(54, sel.Keep.Length);
        Assert.Equal(256 - 54, members); // every non-dominant token lands in exactly one group
        Assert.Throws<PruningOptionException>(() => new VisionZip(Fake.Options(4, ("dominant-ratio", "1.5"))));
    }
}

public sealed class LayerScheduleTests
{
    [Fact]
    public void LayersScaleToDepth()
    {
        Assert.Equal(1, LayerSchedule.Scale(2, 8));
        Assert.Equal(2, LayerSchedule.Scale(2, 32));
        Assert.Equal([2, 4, 6], LayerSchedule.ScaleAll([8, 16, 24], 8, "t"));
        Assert.Equal([1, 2, 4], LayerSchedule.ScaleAll([2, 6, 15], 8, "t"));
        Assert.Equal([1, 2, 3], LayerSchedule.ScaleAll([2, 6, 15], 4, "t"));
    }

    [Fact]
    public void SettingNamesAreCaseInsensitiveAndUnknownOnesRejected()
    {
        var setup = Fake.Setup(256, 8);
        new FastV(Fake.Options(null, ("k", "2"))).Begin(setup);
        Assert.Equal(2, setup.Trace.Values["fastv.K"]);
        Assert.Contains("unknown setting 'x0'", Assert.Throws<PruningOptionException>(() => new PDrop(Fake.Options(null, ("x0", "1")))).Message);
    }
}
