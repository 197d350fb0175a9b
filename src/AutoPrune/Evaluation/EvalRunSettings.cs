using System.Text.Json;

namespace AutoPrune.Evaluation;

/// <summary>
/// What a predictions file was made with; stored beside it as "&lt;predictions&gt;.meta.json" so a resume
/// or merge can refuse files from another policy, budget, model, scorer, benchmark or shard.
/// </summary>
public sealed record EvalRunSettings
{
    public required string Model { get; init; }
    public required string Policy { get; init; }
    /// <summary>Budget as the user wrote it ("86", "mean:57", ...); null for the unpruned model.</summary>
    public string? Budget { get; init; }
    public required string Scorer { get; init; }
    public required string Benchmark { get; init; }
    /// <summary>Absolute path of the questions file; informational (the data may move between machines).</summary>
    public string? Questions { get; init; }
    /// <summary>"i/N" or null for the whole benchmark.</summary>
    public string? Shard { get; init; }
    /// <summary>Further engine settings that change predictions (position mode, dtype, ...); compared on resume.</summary>
    public Dictionary<string, string>? Options { get; init; }

    public static string MetaPath(string predictionsPath) => predictionsPath + ".meta.json";

    public void Save(string metaPath) => EvalJson.WriteAtomic(metaPath, JsonSerializer.Serialize(this, EvalJson.Options));

    public static EvalRunSettings Load(string metaPath) => EvalJson.Read<EvalRunSettings>(metaPath, "run meta file");

    /// <summary>Differences that make two runs' predictions not interchangeable; shard compared only when asked.</summary>
    public IReadOnlyList<string> Differences(EvalRunSettings other, bool includeShard)
    {
        var d = new List<string>();
        void Cmp(string name, string? a, string? b)
        {
            if (!string.Equals(a, b, StringComparison.Ordinal)) d.Add($"{name}: '{a ?? "(none)"}' vs '{b ?? "(none)"}'");
        }
        Cmp("model", Model, other.Model);
        Cmp("policy", Policy, other.Policy);
        Cmp("budget", Budget, other.Budget);
        Cmp("scorer", Scorer, other.Scorer);
        Cmp("benchmark", Benchmark, other.Benchmark);
        if (includeShard) Cmp("shard", Shard, other.Shard);
        var keys = (Options?.Keys ?? Enumerable.Empty<string>()).Union(other.Options?.Keys ?? Enumerable.Empty<string>()).Order(StringComparer.Ordinal);
        foreach (var k in keys)
            Cmp("option " + k, Options?.GetValueOrDefault(k), other.Options?.GetValueOrDefault(k));
        return d;
    }
}
