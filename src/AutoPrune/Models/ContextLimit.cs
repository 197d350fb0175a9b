namespace AutoPrune.Models;

/// <summary>
/// Positions a generation needs against the model's context (max_position_embeddings): RoPE was trained up to it,
/// and beyond it a model's answers are garbage. The prompt's text tokens, its unpruned visual tokens and the
/// answer's new tokens must fit; the unpruned count is used because it is known before the prefill and does not
/// depend on the policy.
/// </summary>
public static class ContextLimit
{
    /// <summary>
    /// The number of new tokens to generate. A prompt that alone fills the context is always refused. When the prompt
    /// plus <paramref name="maxNewTokens"/> does not fit: refused, or with <paramref name="fit"/> cut to the room left.
    /// </summary>
    public static int NewTokens(int textTokens, int visualTokens, int maxNewTokens, int maxPositions, bool fit)
    {
        long prompt = (long)textTokens + visualTokens;
        if (prompt >= maxPositions)
            throw new InvalidPromptException(
                $"the prompt is {prompt} positions ({textTokens} text + {visualTokens} visual tokens), which leaves no room for an answer " +
                $"within the model's max_position_embeddings of {maxPositions}; shorten the question");
        if (prompt + maxNewTokens <= maxPositions) return maxNewTokens;
        if (fit) return (int)(maxPositions - prompt);
        throw new InvalidPromptException(
            $"the prompt is {prompt} positions ({textTokens} text + {visualTokens} visual tokens) and the answer may take {maxNewTokens} more: " +
            $"{prompt + maxNewTokens} in all, over the model's max_position_embeddings of {maxPositions}; shorten the question, " +
            $"ask for at most {maxPositions - prompt} new tokens, or let the answer length be cut to fit");
    }

    /// <summary>
    /// Refuses text that cannot fit before it is tokenized (tokenizing megabytes costs minutes): every token covers
    /// at most <paramref name="maxTokenChars"/> characters, so longer text needs more positions than there are.
    /// </summary>
    public static void CheckTextLength(string text, int maxPositions, int maxTokenChars)
    {
        long limit = (long)maxPositions * Math.Max(1, maxTokenChars);
        if (text.Length > limit)
            throw new InvalidPromptException(
                $"the prompt is {text.Length} characters; the model's context of {maxPositions} positions holds at most {limit} " +
                $"(a token covers at most {maxTokenChars} characters); shorten the question");
    }
}
