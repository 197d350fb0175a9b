namespace AutoPrune.Tests.Cli;

/// <summary>Reproductions of bad input through the CLI: one `error:` line naming the file or value, exit 1.</summary>
public sealed class BadInputCliTests
{
    private static void AssertInputError((int code, string stdout, string stderr) r, params string[] fragments)
    {
        Assert.True(r.code == 1, $"exit {r.code}: {r.stderr}");
        var lines = r.stderr.TrimEnd().Split('\n');
        Assert.Single(lines);
        Assert.StartsWith("error: ", lines[0]);
        foreach (var f in fragments) Assert.Contains(f, lines[0]);
    }

    private static string Write(string name, byte[] bytes)
    {
        var p = Path.Combine(TestPaths.TempDir(), name);
        File.WriteAllBytes(p, bytes);
        return p;
    }

    [Fact]
    public void DecompressionBombIsRefusedFromItsHeader()
    {
        var bomb = Write("bomb.png", Loading.ImageLoaderTests.PngHeaderOnly(16000, 11000));
        AssertInputError(CliTests.Run("ask", "--image", bomb, "What color?", "--model", TestPaths.TinyModel), "bomb.png", "16000x11000", "limit");
    }

    [Fact]
    public void BadPixelLimitIsAUsageError()
    {
        var (code, _, stderr) = CliTests.Run("ask", "--image", Path.Combine(TestPaths.Golden, "case0.png"), "What color?",
            "--model", TestPaths.TinyModel, "--max-image-pixels", "0");
        Assert.Equal(2, code);
        Assert.StartsWith("error: ", stderr);
        Assert.Contains("--max-image-pixels", stderr);
    }

    [Fact]
    public void TruncatedJpegIsAnInputError()
    {
        var jpg = TestImages.Jpeg();
        var cut = Write("cut.jpg", jpg.AsSpan(0, jpg.Length * 2 / 3).ToArray());
        AssertInputError(CliTests.Run("ask", "--image", cut, "What color?", "--model", TestPaths.TinyModel), "cut.jpg", "truncated");
    }

    [Fact]
    public void ThinImagePaddedToASquareIsAnInputError()
    {
        var thin = Write("thin.png", TestImages.Png(1, 32768, (x, y) => (9, 9, 9)));
        AssertInputError(CliTests.Run("ask", "--image", thin, "What color?", "--model", TestPaths.TinyModel, "--pad-to-square"),
            "thin.png", "32768x32768");
    }
}

/// <summary>NaN weights: refused at load with --check-weights.</summary>
public sealed class NonFiniteWeightsCliTests
{
    [Fact]
    public void CheckWeightsRefusesANanWeight()
    {
        var dir = TinyModelCopy.WithPoisonedBf16("language_model.model.norm.weight", 0x7FC0);
        var (code, _, stderr) = CliTests.Run("ask", "--image", Path.Combine(TestPaths.Golden, "case0.png"), "What color?",
            "--model", dir, "--check-weights");
        Assert.True(code == 1, stderr);
        Assert.StartsWith("error: ", stderr);
        Assert.Contains("language_model.model.norm.weight", stderr);
        Assert.Contains("NaN", stderr);
    }
}
