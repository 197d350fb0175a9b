using System.Globalization;
using AutoPrune.Benchmarking;
using AutoPrune.Loading.Gguf;

namespace AutoPrune.LlamaCppBench;

/// <summary>A bad command line: printed as one <c>error:</c> line, exit code 2.</summary>
public sealed class BenchUsageException(string message) : Exception(message);

/// <summary>A pruning policy to time on our side: NAME@BUDGET (budget = mean visual tokens per decoder layer).</summary>
public sealed record PolicyChoice(string Name, double Budget)
{
    public override string ToString() => $"{Name}@{Budget.ToString(CultureInfo.InvariantCulture)}";
}

/// <summary>The command line of the side-by-side benchmark.</summary>
public sealed record BenchOptions
{
    public const string Usage = """
        usage: AutoPrune.LlamaCppBench --work DIR [options]

        Writes a random-weight LLaVA-1.5 model (llava-hf BF16 safetensors) and its GGUF files into DIR once, then times
        this engine against llama.cpp (LLamaSharp 0.30.0) on the same weights, interleaved, in one process.

          --work DIR          folder for the model files (reused when complete; ~12 GB at 8 layers, ~35 GB at 32)
          --shape NAME        llava-7b (default) or llava-13b
          --layers N          decoder layers (default 8: every file fits in the page cache of a 24 GiB machine)
          --types LIST        GGUF types to compare: f16,q8_0,q4_k_m (default all; ours BF16 safetensors always runs)
          --threads N         threads for both engines (default 2)
          --reps N            interleaved repetitions (default 3); min and median are reported
          --policies LIST     our pruned runs, NAME@BUDGET,... (default autoprune@64,fastervlm@64; "none" for none).
                              Defaults infeasible at this depth are left out with a note; given ones are an error
          --decode-tokens N   decode steps timed after the prefill (default 32)
          --answer-tokens N   answer length of the end-to-end run (default 16)
          --output FILE       also write the Markdown report to FILE
        """;

    public string Work { get; init; } = "";
    public string Shape { get; init; } = "llava-7b";
    public int Layers { get; init; } = 8;
    public IReadOnlyList<GgufFileType> Types { get; init; } = [GgufFileType.F16, GgufFileType.Q8_0, GgufFileType.Q4_K_M];
    public int Threads { get; init; } = 2;
    public int Reps { get; init; } = 3;
    public IReadOnlyList<PolicyChoice> Policies { get; init; } = DefaultPolicies;
    public bool PoliciesGiven { get; init; }
    public int DecodeTokens { get; init; } = 32;
    public int AnswerTokens { get; init; } = 16;
    public string? Output { get; init; }

    public static readonly PolicyChoice[] DefaultPolicies = [new("autoprune", 64), new("fastervlm", 64)];

    /// <summary>Parses the arguments; null means --help was asked for.</summary>
    public static BenchOptions? Parse(string[] args)
    {
        var o = new BenchOptions();
        for (int i = 0; i < args.Length; i++)
        {
            string a = args[i];
            if (a is "-h" or "--help") return null;
            string Value() => i + 1 < args.Length && !args[i + 1].StartsWith("--", StringComparison.Ordinal)
                ? args[++i] : throw new BenchUsageException($"{a} needs a value");
            o = a switch
            {
                "--work" => o with { Work = Value() },
                "--shape" => o with { Shape = ShapeName(Value()) },
                "--layers" => o with { Layers = Int(a, Value(), 1, 1024) },
                "--types" => o with { Types = TypeList(Value()) },
                "--threads" => o with { Threads = Int(a, Value(), 1, 1024) },
                "--reps" => o with { Reps = Int(a, Value(), 1, 1000) },
                "--policies" => o with { Policies = PolicyList(Value()), PoliciesGiven = true },
                "--decode-tokens" => o with { DecodeTokens = Int(a, Value(), 1, 1024) },
                "--answer-tokens" => o with { AnswerTokens = Int(a, Value(), 1, 1024) },
                "--output" => o with { Output = Value() },
                _ => throw new BenchUsageException($"unknown option '{a}' (--help lists them)"),
            };
        }
        if (o.Work.Length == 0) throw new BenchUsageException("--work DIR is required: the folder the model files are written to");
        int full = ModelShapes.Get(o.Shape).Text.NumHiddenLayers;
        if (o.Layers > full) throw new BenchUsageException($"--layers {o.Layers}: {o.Shape} has {full} decoder layers");
        return o;
    }

    private static string ShapeName(string s) => s is "llava-7b" or "llava-13b" ? s
        : throw new BenchUsageException($"--shape '{s}' is not llava-7b or llava-13b");

    private static int Int(string option, string s, int min, int max) =>
        int.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out int v) && v >= min && v <= max ? v
            : throw new BenchUsageException($"{option} '{s}' must be a whole number from {min} to {max}");

    private static List<GgufFileType> TypeList(string s)
    {
        var list = new List<GgufFileType>();
        foreach (var t in s.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var type = t.ToLowerInvariant() switch
            {
                "f16" => GgufFileType.F16, "q8_0" => GgufFileType.Q8_0, "q4_k_m" => GgufFileType.Q4_K_M,
                _ => throw new BenchUsageException($"--types '{t}' is not f16, q8_0 or q4_k_m"),
            };
            if (!list.Contains(type)) list.Add(type);
        }
        return list.Count > 0 ? list : throw new BenchUsageException("--types is empty");
    }

    private static List<PolicyChoice> PolicyList(string s)
    {
        var list = new List<PolicyChoice>();
        if (s.Trim() == "none") return list;
        foreach (var p in s.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            int at = p.IndexOf('@');
            if (at <= 0 || !double.TryParse(p.AsSpan(at + 1), NumberStyles.Float, CultureInfo.InvariantCulture, out var b) || !(b > 0) || double.IsInfinity(b))
                throw new BenchUsageException($"--policies '{p}' must be NAME@BUDGET with a positive budget, e.g. autoprune@64");
            var name = p[..at];
            if (!AutoPrune.Pruning.PolicyFactory.Names.Contains(name) || name == "none")
                throw new BenchUsageException($"--policies '{name}' is not a pruning policy ({string.Join(", ", AutoPrune.Pruning.PolicyFactory.Names.Where(n => n != "none"))})");
            list.Add(new PolicyChoice(name, b));
        }
        return list;
    }
}
