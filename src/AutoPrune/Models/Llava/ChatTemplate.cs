using System.Text;

namespace AutoPrune.Models;

/// <summary>
/// The llava-hf chat templates. One question: <c>USER: &lt;image&gt;\n{question} ASSISTANT:</c> for LLaMA/Vicuna
/// language models, <c>[INST] &lt;image&gt;\n{question} [/INST]</c> for Mistral (llava-v1.6-mistral), one
/// <c>&lt;image&gt;\n</c> line per image. A conversation joins its turns as llava-hf's llava-1.5 template does: a
/// system text as is, then <c>USER: </c> or <c>ASSISTANT: </c>, the turn's images as <c>&lt;image&gt;\n</c> each, its
/// text and a space; the prompt ends with <c>ASSISTANT:</c>. Mistral wraps each user turn in <c>[INST] ... [/INST]</c>
/// and follows it with the answer and a space.
/// </summary>
public static class ChatTemplate
{
    public const string ImageLiteral = "<image>";

    /// <summary>One question with <paramref name="images"/> image slots.</summary>
    public static string Format(string question, string textModelType = "llama", int images = 1)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(images);
        var slots = new ImageInput[images];
        Array.Fill(slots, Slot);
        return Format([new Turn(Speaker.User, question, slots)], textModelType);
    }

    /// <summary>Stands for an image of <see cref="Format(string, string, int)"/> (only the count matters to the template).</summary>
    private static readonly ImageInput Slot = new([], ImageLiteral);

    /// <summary>Images over all turns: the placeholders the prompt has.</summary>
    public static int ImageCount(IReadOnlyList<Turn> turns)
    {
        int n = 0;
        foreach (var t in turns) n += t.Images.Count;
        return n;
    }

    /// <summary>The prompt for a conversation whose last turn is the user's question.</summary>
    public static string Format(IReadOnlyList<Turn> turns, string textModelType = "llama")
    {
        if (turns.Count == 0 || turns[^1].Speaker != Speaker.User)
            throw new InvalidPromptException("the conversation must end with a user message");
        if (string.IsNullOrWhiteSpace(turns[^1].Text))
            throw new InvalidPromptException("the question is empty");
        bool mistral = textModelType == "mistral";
        var sb = new StringBuilder();
        foreach (var t in turns)
        {
            // Every image slot needs features; one written into a message would have none.
            if (t.Text.Contains(ImageLiteral, StringComparison.Ordinal))
                throw new InvalidPromptException($"a message must not contain '{ImageLiteral}' (the template inserts one image slot per attached image)");
            if (mistral && t.Speaker == Speaker.Assistant) { sb.Append(' ').Append(t.Text).Append(' '); continue; }
            if (t.Speaker == Speaker.User) sb.Append(mistral ? "[INST] " : "USER: ");
            else if (t.Speaker == Speaker.Assistant) sb.Append("ASSISTANT: ");
            for (int i = 0; i < t.Images.Count; i++) sb.Append(ImageLiteral).Append('\n');
            sb.Append(t.Text);
            sb.Append(mistral && t.Speaker == Speaker.User ? " [/INST]" : " ");
        }
        if (mistral) return sb.ToString();
        return sb.Append("ASSISTANT:").ToString();
    }
}
