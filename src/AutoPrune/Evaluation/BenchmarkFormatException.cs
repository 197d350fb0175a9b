namespace AutoPrune.Evaluation;

/// <summary>A benchmark, predictions or meta file is malformed; names the file and, when known, the 1-based line.</summary>
public sealed class BenchmarkFormatException : AutoPruneException
{
    public string FilePath { get; }
    public int? LineNumber { get; }

    public BenchmarkFormatException(string filePath, int? lineNumber, string problem)
        : base(lineNumber is int l ? $"{filePath}:{l}: {problem}" : $"{filePath}: {problem}")
    {
        FilePath = filePath;
        LineNumber = lineNumber;
    }

    public BenchmarkFormatException(string filePath, int? lineNumber, string problem, Exception inner)
        : base(lineNumber is int l ? $"{filePath}:{l}: {problem}" : $"{filePath}: {problem}", inner)
    {
        FilePath = filePath;
        LineNumber = lineNumber;
    }
}

/// <summary>
/// Evaluation inputs are valid files but do not fit together: resuming with other settings, a bad
/// --shard/--limit, merging shards of different runs, comparing results of different models or subsets.
/// </summary>
public sealed class EvalSettingsException : AutoPruneException
{
    public EvalSettingsException(string message) : base(message) { }
}
