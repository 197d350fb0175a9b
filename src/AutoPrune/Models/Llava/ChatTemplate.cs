namespace AutoPrune.Models;

/// <summary>The llava-hf single-turn chat templates (one question, one &lt;image&gt; line per image).</summary>
public static class ChatTemplate
{
    public const string ImageLiteral = "<image>";

    /// <summary>
    /// The llava-hf prompt for one question: "USER: &lt;image&gt;\n{q} ASSISTANT:" for LLaMA/Vicuna language models,
    /// "[INST] &lt;image&gt;\n{q} [/INST]" for Mistral (llava-v1.6-mistral); <paramref name="images"/> image lines.
    /// </summary>
    public static string Format(string question, string textModelType = "llama", int images = 1)
    {
        if (string.IsNullOrWhiteSpace(question))
            throw new InvalidPromptException("the question is empty");
        ArgumentOutOfRangeException.ThrowIfNegative(images);
        // Every image slot needs features; one written into the question would have none.
        if (question.Contains(ImageLiteral, StringComparison.Ordinal))
            throw new InvalidPromptException($"the question must not contain '{ImageLiteral}' (the template inserts one image slot per image)");
        var slots = string.Concat(Enumerable.Repeat(ImageLiteral + "\n", images));
        return textModelType == "mistral" ? $"[INST] {slots}{question} [/INST]" : $"USER: {slots}{question} ASSISTANT:";
    }
}
