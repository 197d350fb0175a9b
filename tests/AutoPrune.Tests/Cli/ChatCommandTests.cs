using System.CommandLine;
using AutoPrune.Cli.Commands;
using AutoPrune.Models;
using AutoPrune.Pruning;

namespace AutoPrune.Tests.Cli;

/// <summary>`autoprune chat` driven by a script of lines; `autoprune serve` refusing bad settings before it listens.</summary>
public sealed class ChatCommandTests(TinyModelFixture fx) : IClassFixture<TinyModelFixture>
{
    private static (int code, string stdout, string stderr) Chat(string script, params string[] args)
    {
        var o = new StringWriter(); var e = new StringWriter();
        int code = global::AutoPrune.Cli.Cli.Run(new RootCommand { ChatCommand.Create(new StringReader(script)) }, ["chat", .. args], o, e);
        return (code, o.ToString(), e.ToString());
    }

    [Fact]
    public void ConversationWithImagePolicySwitchAndRecoverableErrors()
    {
        var image = Path.Combine(TestPaths.Samples, "scene1.png");
        var (code, stdout, stderr) = Chat(string.Join('\n',
            $"/image {image}", "What color is the triangle?", "How many objects are there?", "/policy autoprune 57",
            "Is there a red shape?", "/image /no/such.png", "/policy nope", "/policy fastv 5", "Which shape is largest?", "/quit", "ignored"));
        Assert.Equal(0, code);
        var answers = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);

        // The same conversation, each turn one fresh prefill with the policy in force.
        var img = new ImageInput(File.ReadAllBytes(image), image);
        var turns = new List<Turn> { new(Speaker.User, "What color is the triangle?", [img]) };
        var a1 = Generator.Chat(fx.F32, turns).Text;
        turns.AddRange([new(Speaker.Assistant, a1), new(Speaker.User, "How many objects are there?")]);
        var a2 = Generator.Chat(fx.F32, turns).Text;
        turns.AddRange([new(Speaker.Assistant, a2), new(Speaker.User, "Is there a red shape?")]);
        var a3 = Generator.Chat(fx.F32, turns, new GenerationOptions { Policy = PolicyFactory.Create("autoprune", new PolicyOptions { Budget = 57 }) });
        Assert.Equal([a1, a2, a3.Text], answers);

        Assert.Contains($"mean visual tokens/layer {a3.Trace.MeanVisualTokens:F1}", stderr);
        Assert.Contains("error: /no/such.png: image file not found", stderr);
        Assert.Contains("error: unknown policy 'nope'", stderr);
        Assert.Contains("infeasible", stderr);
    }

    [Theory]
    [InlineData("--policy", "nope")]
    [InlineData("--host", "not-an-address")]
    [InlineData("--max-concurrent", "0")]
    [InlineData("--timeout", "-1")]
    public void ServeRefusesBadSettingsWithOneLine(string flag, string value)
    {
        var (code, _, stderr) = CliTests.Run("serve", flag, value, "--port", "0");
        Assert.NotEqual(0, code);
        Assert.StartsWith("error: ", stderr);
        Assert.Single(stderr.Trim().Split('\n'));
    }
}
