namespace AutoPrune.Evaluation;

/// <summary>One question as handed to the engine. Answers are deliberately not part of it.</summary>
/// <param name="QuestionId">The id as written in the file: a JSON number keeps its raw text ("0"), a string its value.</param>
/// <param name="ImagePath">Absolute path of an existing image file.</param>
/// <param name="Index">0-based position in the questions file (blank lines not counted); fixes order and sharding.</param>
public sealed record EvalQuestion(string QuestionId, string ImagePath, string Text, string? Category, int Index = 0)
{
    /// <summary>The image name as written in the questions file (MME groups question pairs by it).</summary>
    public string Image { get; init; } = Path.GetFileName(ImagePath);
    /// <summary>The questions file wrote the id as a JSON number; outputs write it back as one.</summary>
    public bool IdIsNumber { get; init; }
}

/// <summary>What the engine returns for one question. Budget numbers as docs/ARCHITECTURE.md defines them (mean over all decoder layers).</summary>
public sealed record EvalAnswer(
    string Prediction,
    int[] VisualTokensPerLayer,
    double MeanVisualTokens,
    double Flops,
    double FlopsUnpruned,
    double PrefillMs,
    double DecodeMs);

/// <summary>Progress of a run; Done includes questions resumed from an existing predictions file.</summary>
/// <param name="RatePerSecond">Questions answered per second in this session (resumed ones excluded).</param>
/// <param name="Eta">Estimated time to finish, null until one question was answered in this session.</param>
public sealed record EvalProgress(int Done, int Total, int Resumed, double RatePerSecond, TimeSpan? Eta, string? LastQuestionId);

/// <summary>Shard i of N: the questions whose index in the (limited) list satisfies index % N == i.</summary>
public readonly record struct ShardSpec(int Index, int Count)
{
    public static ShardSpec Parse(string text)
    {
        var parts = text.Split('/');
        if (parts.Length != 2
            || !int.TryParse(parts[0], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var i)
            || !int.TryParse(parts[1], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var n))
            throw new EvalSettingsException($"shard '{text}' is not i/N with whole numbers, e.g. 0/4");
        var s = new ShardSpec(i, n);
        s.Validate();
        return s;
    }

    public void Validate()
    {
        if (Count < 1 || Index < 0 || Index >= Count)
            throw new EvalSettingsException($"shard {Index}/{Count} does not exist: shards of N are 0/N to (N-1)/N");
    }

    public bool Contains(int questionIndex) => questionIndex % Count == Index;

    public override string ToString() => $"{Index}/{Count}";
}
