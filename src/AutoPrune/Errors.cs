namespace AutoPrune;

/// <summary>Base of every error the library reports about its inputs (files, images, prompts, options).</summary>
public class AutoPruneException : Exception
{
    public AutoPruneException(string message) : base(message) { }
    public AutoPruneException(string message, Exception inner) : base(message, inner) { }
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
