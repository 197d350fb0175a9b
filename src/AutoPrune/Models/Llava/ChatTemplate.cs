namespace AutoPrune.Models;

/// <summary>
/// The llava-1.5(-hf) single-turn chat template: <c>USER: &lt;image&gt;\n{question} ASSISTANT:</c>, with one
/// <c>&lt;image&gt;\n</c> line per image.
/// </summary>
public static class ChatTemplate
{
    public const string ImageLiteral = "<image>";

    public static string Format(string question, int images = 1)
    {
        if (string.IsNullOrWhiteSpace(question))
            throw new InvalidPromptException("the question is empty");
        if (images < 0) throw new ArgumentOutOfRangeException(nameof(images));
        // Every image slot needs features; one written into the question would have none.
        if (question.Contains(ImageLiteral, StringComparison.Ordinal))
            throw new InvalidPromptException($"the question must not contain '{ImageLiteral}' (the template inserts one image slot per image)");
        var slots = new System.Text.StringBuilder();
        for (int i = 0; i < images; i++) slots.Append(ImageLiteral).Append('\n');
        return $"USER: {slots}{question} ASSISTANT:";
    }
}
