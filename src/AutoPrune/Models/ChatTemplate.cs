namespace AutoPrune.Models;

/// <summary>The llava-1.5(-hf) single-turn chat template: <c>USER: &lt;image&gt;\n{question} ASSISTANT:</c>.</summary>
public static class ChatTemplate
{
    public const string ImageLiteral = "<image>";

    public static string Format(string question)
    {
        if (string.IsNullOrWhiteSpace(question))
            throw new InvalidPromptException("the question is empty");
        // The engine feeds exactly one image per prompt; a second <image> would have no features to fill it.
        if (question.Contains(ImageLiteral, StringComparison.Ordinal))
            throw new InvalidPromptException($"the question must not contain '{ImageLiteral}' (the template inserts the single image slot)");
        return $"USER: {ImageLiteral}\n{question} ASSISTANT:";
    }
}
