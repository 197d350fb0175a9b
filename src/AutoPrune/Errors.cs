namespace AutoPrune;

/// <summary>Base of every error the library reports about its inputs (files, images, prompts, options).</summary>
public class AutoPruneException : Exception
{
    public AutoPruneException(string message) : base(Printable(message)) { }
    public AutoPruneException(string message, Exception inner) : base(Printable(message), inner) { }

    /// <summary>
    /// Messages quote names and values from the input (tensor names, JSON text, decoder errors): control
    /// characters and unpaired surrogates are written as \uXXXX so a message is always one printable line.
    /// </summary>
    public static string Printable(string message)
    {
        int i = 0;
        while (i < message.Length && !NeedsEscape(message, i)) i++;
        if (i == message.Length) return message;
        var sb = new System.Text.StringBuilder(message.Length + 16).Append(message, 0, i);
        for (; i < message.Length; i++)
        {
            if (NeedsEscape(message, i)) sb.Append($"\\u{(int)message[i]:x4}");
            else if (char.IsHighSurrogate(message[i])) sb.Append(message[i]).Append(message[++i]);
            else sb.Append(message[i]);
        }
        return sb.ToString();
    }

    private static bool NeedsEscape(string s, int i)
    {
        char c = s[i];
        if (char.IsHighSurrogate(c)) return i + 1 >= s.Length || !char.IsLowSurrogate(s[i + 1]);
        if (char.IsLowSurrogate(c)) return i == 0 || !char.IsHighSurrogate(s[i - 1]);
        return char.IsControl(c) || c is '\u2028' or '\u2029';
    }

    /// <summary>
    /// What to quote from a third-party exception (a decoder, a tokenizer library): its message, unless that
    /// message says nothing about the input, as "Object reference not set to an instance of an object" does.
    /// </summary>
    public static string Describe(Exception e) => e switch
    {
        NullReferenceException or IndexOutOfRangeException or ArgumentOutOfRangeException or InvalidCastException
            or OverflowException or DivideByZeroException => $"malformed data ({e.GetType().Name} in the decoder)",
        _ => e.Message,
    };
}

/// <summary>A model folder, config or weight file cannot be used.</summary>
public class ModelLoadException : AutoPruneException
{
    public ModelLoadException(string message) : base(message) { }
    public ModelLoadException(string message, Exception inner) : base(message, inner) { }
}

/// <summary>A safetensors file is truncated or malformed.</summary>
public sealed class SafetensorsFormatException : ModelLoadException
{
    public SafetensorsFormatException(string path, string problem) : base($"{path}: invalid safetensors file: {problem}") { }
}

/// <summary>A tensor the architecture needs is not in the checkpoint.</summary>
public sealed class MissingTensorException : ModelLoadException
{
    public string TensorName { get; }
    public MissingTensorException(string tensorName, string where)
        : base($"tensor '{tensorName}' is missing from {where}") => TensorName = tensorName;
}

/// <summary>config.json disagrees with itself or with the weights.</summary>
public sealed class ConfigMismatchException : ModelLoadException
{
    public ConfigMismatchException(string message) : base(message) { }
}

/// <summary>An image file cannot be read or decoded.</summary>
public sealed class ImageLoadException : AutoPruneException
{
    public ImageLoadException(string message) : base(message) { }
    public ImageLoadException(string message, Exception inner) : base(message, inner) { }
}

/// <summary>The model holds or produced NaN or infinite values (non-finite weights, or logits at run time).</summary>
public sealed class NonFiniteValueException : AutoPruneException
{
    public NonFiniteValueException(string message) : base(message) { }
}

/// <summary>A generation setting is out of range (max new tokens, temperature, top-p).</summary>
public sealed class GenerationOptionException : AutoPruneException
{
    public GenerationOptionException(string message) : base(message) { }
}

/// <summary>A prompt or question is unusable (empty, no image slot, too long).</summary>
public sealed class InvalidPromptException : AutoPruneException
{
    public InvalidPromptException(string message) : base(message) { }
}

/// <summary>A pruning policy or budget option is out of range or infeasible.</summary>
public class PruningOptionException : AutoPruneException
{
    public PruningOptionException(string message) : base(message) { }
}

/// <summary>A budget below the lowest mean the policy can reach on this model (the lowest feasible value is given).</summary>
public sealed class InfeasibleBudgetException : PruningOptionException
{
    public double Budget { get; }
    public double LowestFeasible { get; }
    public InfeasibleBudgetException(string message, double budget, double lowestFeasible) : base(message)
    {
        Budget = budget;
        LowestFeasible = lowestFeasible;
    }
}

/// <summary>A GGUF file is truncated or malformed, or uses a tensor type the engine cannot run.</summary>
public sealed class GgufFormatException : ModelLoadException
{
    public GgufFormatException(string path, string problem) : base($"{path}: invalid GGUF file: {problem}") { }
}
