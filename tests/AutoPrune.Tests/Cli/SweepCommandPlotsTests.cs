namespace AutoPrune.Tests.Cli;

/// <summary>`autoprune sweep` writes its two figures beside sweep.md.</summary>
public sealed class SweepCommandPlotsTests
{
    [Fact]
    public void SweepWritesAccuracyAndTokensFigures()
    {
        var dir = TestPaths.TempDir();
        var data = TestPaths.ShapesMini;
        var (code, stdout, stderr) = CliTests.Run("sweep", "--data", data, "--model", TestPaths.TinyModel, "--policies", "fastv",
            "--budgets", "64", "--max-new-tokens", "4", "--output", dir);
        Assert.True(code == 0, stderr);
        foreach (var f in new[] { "accuracy_vs_flops.png", "tokens_per_layer.png" })
        {
            Assert.Contains("wrote " + Path.Combine(dir, f), stdout);
            using var bmp = PlotTestSupport.DecodePng(Path.Combine(dir, f));
            Assert.Equal((1200, 700), (bmp.Width, bmp.Height));
        }
    }
}
