namespace AutoPrune.Models;

/// <summary>The llava-hf single-turn chat templates (one image, one question).</summary>
public static class ChatTemplate
{
    public const string ImageLiteral = "<image>";

    /// <summary>
    /// The llava-hf prompt for one image and one question: "USER: &lt;image&gt;\n{q} ASSISTANT:" for LLaMA/Vicuna
    /// language models, "[INST] &lt;image&gt;\n{q} [/INST]" for Mistral (llava-v1.6-mistral).
    /// </summary>
    public static string Format(string question, string textModelType = "llama")
    {
        if (string.IsNullOrWhiteSpace(question))
            throw new InvalidPromptException("the question is empty");
        // The engine feeds exactly one image per prompt; a second <image> would have no features to fill it.
        if (question.Contains(ImageLiteral, StringComparison.Ordinal))
            throw new InvalidPromptException($"the question must not contain '{ImageLiteral}' (the template inserts the single image slot)");
        return textModelType == "mistral"
            ? $"[INST] {ImageLiteral}\n{question} [/INST]"
            : $"USER: {ImageLiteral}\n{question} ASSISTANT:";
    }
}
