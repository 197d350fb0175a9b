using System.Text.Json;

namespace AutoPrune.Evaluation;

/// <summary>
/// Summary of one predictions file (JSON with snake_case names). Always computed from the records,
/// so a run, its resumed continuation and a merge of its shards give the same numbers.
/// Percentages are in 0-100.
/// </summary>
public sealed record EvalResult
{
    /// <summary>Mean score in 0-100; null when the benchmark has no reference answers.</summary>
    public double? Accuracy { get; init; }
    public Dictionary<string, double> ByCategory { get; init; } = new();
    public int N { get; init; }
    public required string Policy { get; init; }
    public string? Budget { get; init; }
    public required string Model { get; init; }
    public required string Scorer { get; init; }
    public required string Benchmark { get; init; }
    /// <summary>Policy settings the run was made with (e.g. budget-mode=faithful), null for the defaults; tables label rows with them.</summary>
    public SortedDictionary<string, string>? Settings { get; init; }
    public double MeanVisualTokens { get; init; }
    /// <summary>100 * (1 - sum flops / sum unpruned flops).</summary>
    public double FlopsReduction { get; init; }
    public double FlopsTotal { get; init; }
    public double FlopsUnprunedTotal { get; init; }
    public double PrefillMsMean { get; init; }
    public double DecodeMsMean { get; init; }

    // Scorer extras, present only for the scorer that defines them.
    public double? Precision { get; init; }
    public double? Recall { get; init; }
    public double? F1 { get; init; }
    public double? YesRatio { get; init; }
    public double? AccPlus { get; init; }
    public double? MmeScore { get; init; }

    public static EvalResult Compute(EvalRunSettings settings, IReadOnlyList<PredictionRecord> records)
    {
        var scorer = Scorers.ByName(settings.Scorer);
        var scored = records.Where(r => r.Answers is not null).ToList();
        var scores = scored.ToDictionary(r => r.QuestionId, r => scorer.Score(r.Prediction, r.Answers!), StringComparer.Ordinal);
        var byCat = scored.Where(r => r.Category is not null)
            .GroupBy(r => r.Category!, StringComparer.Ordinal)
            .OrderBy(g => g.Key, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => 100 * g.Average(r => scores[r.QuestionId]), StringComparer.Ordinal);
        double flops = records.Sum(r => r.Flops), unpruned = records.Sum(r => r.FlopsUnpruned);
        var extras = scored.Count > 0 ? scorer.Extras(scored) : new Dictionary<string, double>();
        double? X(string k) => extras.TryGetValue(k, out var v) ? v : null;
        return new EvalResult
        {
            Accuracy = scored.Count == 0 ? null : 100 * scores.Values.Average(),
            ByCategory = byCat,
            N = records.Count,
            Policy = settings.Policy,
            Budget = settings.Budget,
            Model = settings.Model,
            Scorer = scorer.Name,
            Benchmark = settings.Benchmark,
            Settings = settings.Options?.Where(kv => kv.Key.StartsWith("set:", StringComparison.Ordinal)).ToDictionary(kv => kv.Key[4..], kv => kv.Value)
                is { Count: > 0 } set ? new SortedDictionary<string, string>(set, StringComparer.Ordinal) : null,
            MeanVisualTokens = records.Count == 0 ? 0 : records.Average(r => r.MeanVisualTokens),
            FlopsReduction = unpruned > 0 ? 100 * (1 - flops / unpruned) : 0,
            FlopsTotal = flops,
            FlopsUnprunedTotal = unpruned,
            PrefillMsMean = records.Count == 0 ? 0 : records.Average(r => r.PrefillMs),
            DecodeMsMean = records.Count == 0 ? 0 : records.Average(r => r.DecodeMs),
            Precision = X("precision"),
            Recall = X("recall"),
            F1 = X("f1"),
            YesRatio = X("yes_ratio"),
            AccPlus = X("acc_plus"),
            MmeScore = X("mme_score"),
        };
    }

    /// <summary>Summary of a predictions file and its meta sidecar.</summary>
    public static EvalResult FromPredictions(string predictionsPath) =>
        Compute(EvalRunSettings.Load(EvalRunSettings.MetaPath(predictionsPath)), PredictionsFile.Read(predictionsPath));

    public string ToJson() => JsonSerializer.Serialize(this, EvalJson.Options);

    public void Save(string path) => EvalJson.WriteAtomic(path, ToJson());

    public static EvalResult Load(string path) => EvalJson.Read<EvalResult>(path, "result file");
}
