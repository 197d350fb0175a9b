namespace AutoPrune.Tests.Cli;

/// <summary>
/// The CLI's error contract over every verb: one "error: ..." line on stderr naming the option and value, nothing on
/// stdout, exit 2 for usage errors and 1 for bad input, help only on --help.
/// </summary>
public sealed class ErrorContractTests
{
    private static string Image => Path.Combine(TestPaths.Samples, "scene1.png");

    private static string OneErrorLine(int expectedCode, params string[] args)
    {
        var (code, stdout, stderr) = CliTests.Run(args);
        Assert.True(code == expectedCode, $"exit {code}, expected {expectedCode}: {stderr}");
        Assert.Equal("", stdout);
        var lines = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length == 1, stderr);
        Assert.StartsWith("error: ", lines[0]);
        Assert.DoesNotContain("Usage:", stderr);
        Assert.DoesNotContain("System.", stderr);
        Assert.DoesNotContain("(Parameter", stderr);
        Assert.All(lines[0], ch => Assert.False(char.IsControl(ch), $"control character U+{(int)ch:X4} in: {lines[0]}"));
        return lines[0];
    }

    public static TheoryData<string[]> EveryVerb() => new()
    {
        { ["ask", "--image", "x.png", "Q?"] }, { ["inspect"] }, { ["explain", "--image", "x.png", "-o", "d", "Q?"] },
        { ["eval", "--data", "d"] }, { ["sweep", "--data", "d", "--budgets", "57"] }, { ["merge", "a.jsonl"] },
        { ["bench"] }, { ["policies"] },
    };

    [Theory]
    [MemberData(nameof(EveryVerb))]
    public void UnknownOptionIsAUsageErrorOnEveryVerb(string[] args)
    {
        var line = OneErrorLine(2, [.. args, "--frobnicate"]);
        Assert.Contains("'--frobnicate'", line);
        Assert.Contains($"autoprune {args[0]} --help", line);
    }

    [Theory]
    [InlineData("--budget", "abc", "--budget 'abc' is not a number")]
    [InlineData("--max-new-tokens", "0", "--max-new-tokens '0' must be at least 1")]
    [InlineData("--temperature", "-1", "--temperature '-1' must be")]
    [InlineData("--top-p", "1.5", "--top-p '1.5' must be")]
    [InlineData("--positions", "sideways", "--positions 'sideways' is not one of: compact, original")]
    [InlineData("--policy", "magic", "--policy 'magic' must be one of")]
    [InlineData("--seed", "x", "--seed 'x' is not a whole number")]
    public void BadOptionValuesNameTheOptionAndValue(string option, string value, string expected)
    {
        var line = OneErrorLine(2, "ask", "--image", Image, "Q?", "--model", TestPaths.TinyModel, option, value);
        Assert.Contains(expected, line);
    }

    [Fact]
    public void MissingRequiredOptionAndUnquotedQuestionAreUsageErrors()
    {
        Assert.Contains("--image is required", OneErrorLine(2, "ask", "What color?"));
        Assert.Contains("quote a question", OneErrorLine(2, "ask", "--image", Image, "What", "color?"));
        Assert.Contains("no verb given", OneErrorLine(2));
    }

    [Fact]
    public void HelpIsPrintedOnlyOnHelp()
    {
        var (code, stdout, stderr) = CliTests.Run("ask", "--help");
        Assert.Equal(0, code);
        Assert.Contains("Usage:", stdout);
        Assert.Contains("AUTOPRUNE_MODEL", stdout);          // environment variables appear in help
        Assert.Contains("--budget <T>", stdout);              // upper-case placeholders
        Assert.Equal("", stderr);
    }

    [Fact]
    public void BenchValidatesEveryOptionBeforeTiming()
    {
        // Each of these used to be found only after the GEMM timings (about a minute); parser or action checks refuse
        // them before any work, which the absence of any progress line shows.
        Assert.Contains("--layers '0' must be at least 1", OneErrorLine(2, "bench", "--layers", "0"));
        Assert.Contains("--no-gemm", OneErrorLine(2, "bench", "--no-gemm", "--compare-blas"));
        Assert.Contains("--visual '999'", OneErrorLine(2, "bench", "--shape", "tiny", "--visual", "999"));
        Assert.Contains("infeasible", OneErrorLine(1, "bench", "--shape", "tiny", "--policy", "fastv", "--budget", "10"));
    }

    [Fact]
    public void BudgetWithPolicyNoneIsAnError()
    {
        Assert.Contains("policy 'none'", OneErrorLine(1, "ask", "--image", Image, "Q?", "--model", TestPaths.TinyModel, "--policy", "none", "--budget", "57"));
    }

    [Fact]
    public void NonPrintableBytesStayOutOfMessages()
    {
        Assert.Equal("bad header PNG x", global::AutoPrune.Cli.Cli.OneLine("bad header\n\u0000\u0000PNG\u0001\tx\u0000"));
        var dir = TestPaths.TempDir();
        try
        {
            var truncated = Path.Combine(dir, "cut.png");
            File.WriteAllBytes(truncated, File.ReadAllBytes(Image).AsSpan(0, 60).ToArray());
            OneErrorLine(1, "ask", "--image", truncated, "Q?", "--model", TestPaths.TinyModel);
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void BadInputIsExitOne()
    {
        var dir = TestPaths.TempDir();
        try
        {
            Assert.Contains("model folder not found", OneErrorLine(1, "inspect", "--model", Path.Combine(dir, "nope")));
            Assert.Contains("benchmark folder not found", OneErrorLine(1, "eval", "--model", TestPaths.TinyModel, "--data", Path.Combine(dir, "nope")));
            Assert.Contains("not found", OneErrorLine(1, "merge", Path.Combine(dir, "nope.predictions.jsonl"), "-o", Path.Combine(dir, "m.json")));
        }
        finally { Directory.Delete(dir, true); }
    }
}
