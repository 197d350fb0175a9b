using AutoPrune.Models;

namespace AutoPrune.Tests.Models;

public class ChatTemplateTests
{
    [Fact]
    public void FormatsLlava15Prompt() =>
        Assert.Equal("USER: <image>\nIs there a yellow square? ASSISTANT:", ChatTemplate.Format("Is there a yellow square?"));

    [Fact]
    public void GoldenPromptsAreReproduced()
    {
        foreach (var (n, q) in new[] { (0, "Is there a yellow square?"), (1, "How many objects are there?"), (2, "What color is the object right of the red diamond?") })
            Assert.Equal(GoldenCase.Load(n).Prompt, ChatTemplate.Format(q));
    }

    [Theory]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData("\n\t")]
    public void EmptyQuestionIsRejected(string q) => Assert.Throws<InvalidPromptException>(() => ChatTemplate.Format(q));

    [Fact]
    public void NullQuestionIsRejected() => Assert.Throws<InvalidPromptException>(() => ChatTemplate.Format((string)null!));

    [Fact]
    public void SecondImageSlotIsRejected()
    {
        var e = Assert.Throws<InvalidPromptException>(() => ChatTemplate.Format("Compare <image> with this"));
        Assert.Contains("<image>", e.Message);
    }
}
