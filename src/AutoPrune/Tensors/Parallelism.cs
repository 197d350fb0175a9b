namespace AutoPrune.Tensors;

/// <summary>
/// Process-wide cap on the worker threads every kernel in Tensors/ uses. Kernels split their work into
/// items whose boundaries never depend on this value, so results are bitwise identical for any setting.
/// </summary>
public static class Parallelism
{
    private static ParallelOptions s_options = new() { MaxDegreeOfParallelism = Environment.ProcessorCount };

    /// <summary>Worker threads (default Environment.ProcessorCount; 1 for single-thread timing or debugging).</summary>
    public static int MaxThreads
    {
        get => s_options.MaxDegreeOfParallelism;
        set => s_options = new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, value) };
    }

    /// <summary>Cached options for Parallel.For (replaced, never mutated, when MaxThreads changes).</summary>
    public static ParallelOptions Options => s_options;
}
