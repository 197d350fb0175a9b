using System.Text;

namespace AutoPrune.Models;

/// <summary>
/// The llava-1.5(-hf) chat template. One question: <c>USER: &lt;image&gt;\n{question} ASSISTANT:</c>. A conversation
/// joins its turns as llava-hf's template does: a system text as is, then <c>USER: </c> or <c>ASSISTANT: </c>, the
/// turn's images as <c>&lt;image&gt;\n</c> each, its text and a space; the prompt ends with <c>ASSISTANT:</c>.
/// </summary>
public static class ChatTemplate
{
    public const string ImageLiteral = "<image>";

    public static string Format(string question) => Format([new Turn(Speaker.User, question, [Slot])]);

    /// <summary>Stands for the single image of <see cref="Format(string)"/> (only the count matters to the template).</summary>
    private static readonly ImageInput Slot = new([], ImageLiteral);

    /// <summary>The prompt for a conversation whose last turn is the user's question.</summary>
    public static string Format(IReadOnlyList<Turn> turns)
    {
        if (turns.Count == 0 || turns[^1].Speaker != Speaker.User)
            throw new InvalidPromptException("the conversation must end with a user message");
        if (string.IsNullOrWhiteSpace(turns[^1].Text))
            throw new InvalidPromptException("the question is empty");
        var sb = new StringBuilder();
        foreach (var t in turns)
        {
            // The template inserts one image slot per attached image; a literal one would have no features to fill it.
            if (t.Text.Contains(ImageLiteral, StringComparison.Ordinal))
                throw new InvalidPromptException($"a message must not contain '{ImageLiteral}' (the template inserts one slot per attached image)");
            if (t.Speaker == Speaker.User) sb.Append("USER: ");
            else if (t.Speaker == Speaker.Assistant) sb.Append("ASSISTANT: ");
            for (int i = 0; i < t.Images.Count; i++) sb.Append(ImageLiteral).Append('\n');
            sb.Append(t.Text).Append(' ');
        }
        return sb.Append("ASSISTANT:").ToString();
    }
}
