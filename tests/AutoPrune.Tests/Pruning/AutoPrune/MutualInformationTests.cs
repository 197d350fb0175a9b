using AutoPrune.Pruning;

namespace AutoPrune.Tests.Pruning.AutoPrune;

public sealed class MutualInformationTests
{
    [Fact]
    public void IdenticalRowsCarryNoInformation()
    {
        // 4 text rows, all the same distribution over 5 visual columns (rows need not sum to 1).
        float[] row = [0.1f, 0.3f, 0.05f, 0.2f, 0.15f];
        var a = new float[4 * 5];
        for (int x = 0; x < 4; x++) row.CopyTo(a, x * 5);
        Assert.Equal(0, MutualInformation.Head(a, 4, 5, eps: 0), 12);
        // With the official eps the ratio is p/(p + 1e-6), a hair below 1: the exact value, computed independently.
        double expected = 0;
        foreach (var v in row) { double pxy = v / 4.0; expected += 4 * pxy * Math.Log2(pxy / (pxy + 1e-6)); }
        Assert.Equal(expected, MutualInformation.Head(a, 4, 5), 12);
        Assert.True(Math.Abs(expected) < 1e-4);
    }

    [Theory]
    [InlineData(2, 2)]
    [InlineData(4, 6)]
    [InlineData(8, 16)]
    public void DistinctOneHotRowsGiveLog2OfTextCount(int nText, int nVis)
    {
        var a = new float[nText * nVis];
        for (int x = 0; x < nText; x++) a[x * nVis + x] = 1f;
        Assert.Equal(Math.Log2(nText), MutualInformation.Head(a, nText, nVis, eps: 0), 10);
        // eps = 1e-6 against p(x)p(y) = 1/n²: log2((1/n) / (1/n² + 1e-6)).
        double withEps = Math.Log2((1.0 / nText) / (1.0 / (nText * nText) + 1e-6));
        Assert.Equal(withEps, MutualInformation.Head(a, nText, nVis), 10);
    }

    [Fact]
    public void SumOverHeadsAndNormalizations()
    {
        var a = new float[2 * 3 * 3];
        for (int x = 0; x < 3; x++) a[x * 3 + x] = 1f;              // head 0: one-hot → log2 3
        for (int i = 9; i < 18; i++) a[i] = 1f / 3;                  // head 1: uniform → 0
        double sum = MutualInformation.SumOverHeads(a, 2, 3, 3, eps: 0);
        Assert.Equal(Math.Log2(3), sum, 10);
        Assert.Equal(sum, MutualInformation.Normalize(sum, MiNormalization.Sum, 2, 3));
        Assert.Equal(sum / 2, MutualInformation.Normalize(sum, MiNormalization.Mean, 2, 3));
        Assert.Equal(sum / 6, MutualInformation.Normalize(sum, MiNormalization.MeanPerText, 2, 3));
    }

    [Fact]
    public void CurveDecreasesAndIsFlatAtZeroSlope()
    {
        var steep = new RetentionCurve(0.4, RetentionCurve.ScaleX0(14.9, 32));
        for (int l = 1; l < 32; l++) Assert.True(steep.Keep(l) < steep.Keep(l - 1));
        Assert.True(steep.Keep(15) > 0.375 && steep.Keep(16) < 0.375);   // half height at x0 + k = 15.3
        var flat = new RetentionCurve(0, 14.9);
        for (int l = 0; l < 32; l++) Assert.Equal(0.375, flat.Keep(l), 15);
        Assert.Equal(3.725, RetentionCurve.ScaleX0(14.9, 8), 12);
        Assert.Throws<ArgumentOutOfRangeException>(() => new RetentionCurve(-0.1, 14.9));
    }
}
