using AutoPrune.Loading.Gguf;
using AutoPrune.Tensors;

namespace AutoPrune.Tests.Cli;

/// <summary>`convert`, `--model x.gguf --mmproj`, `--quantize` end to end, and their one-line errors.</summary>
public sealed class ConvertCliTests : TempDirTest
{
    private static string Case0 => Path.Combine(TestPaths.Golden, "case0.png");

    [Fact]
    public void Convert_ThenAskWithTheGgufFiles_GivesTheGoldenAnswer()
    {
        var (code, stdout, stderr) = CliTests.Run("convert", TestPaths.TinyModel, Dir, "--type", "q8_0");
        Assert.True(code == 0, stderr);
        Assert.Contains("ggml-model-q8_0.gguf", stdout);
        var lm = Path.Combine(Dir, "ggml-model-q8_0.gguf");
        var mm = Path.Combine(Dir, LlavaGgufConverter.MmprojFileName);
        using (var f = GgufFile.Open(lm)) Assert.Equal(DType.Q8_0, f.Get("blk.0.attn_q.weight").DType);

        foreach (var args in new[] { new[] { "--model", Dir }, ["--model", lm, "--mmproj", mm] })
        {
            (code, stdout, stderr) = CliTests.Run(["ask", "--image", Case0, "Is there a yellow square?", .. args]);
            Assert.True(code == 0, stderr);
            Assert.Equal("yes", stdout.Trim()); // case 0's golden answer
        }
    }

    [Fact]
    public void QuantizeAtLoad_Answers()
    {
        var (code, stdout, stderr) = CliTests.Run("ask", "--image", Case0, "Is there a yellow square?", "--model", TestPaths.TinyModel, "--quantize", "q8_0");
        Assert.True(code == 0, stderr);
        Assert.Equal("yes", stdout.Trim());
    }

    [Theory]
    [InlineData("bad-type", 2)]
    [InlineData("missing-mmproj", 1)]
    [InlineData("mmproj-not-found", 1)]
    [InlineData("bad-quantize", 2)]
    [InlineData("corrupt-gguf", 1)]
    public void BadInput_IsOneErrorLine(string kind, int exit)
    {
        var lm = Path.Combine(Dir, "lm.gguf");
        File.WriteAllBytes(lm, "GGUF\u0003\0\0\0 not really"u8.ToArray());
        string[] args = kind switch
        {
            "bad-type" => ["convert", TestPaths.TinyModel, Dir, "--type", "q3_k"],
            "missing-mmproj" => ["ask", "--image", Case0, "Q?", "--model", lm],
            "mmproj-not-found" => ["ask", "--image", Case0, "Q?", "--model", lm, "--mmproj", Path.Combine(Dir, "nope.gguf")],
            "bad-quantize" => ["ask", "--image", Case0, "Q?", "--model", TestPaths.TinyModel, "--quantize", "q2_k"],
            _ => ["ask", "--image", Case0, "Q?", "--model", lm, "--mmproj", lm],
        };
        var (code, stdout, stderr) = CliTests.Run(args);
        Assert.Equal(exit, code);
        Assert.Equal("", stdout);
        var lines = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        Assert.StartsWith("error: ", lines[0]);
    }
}
