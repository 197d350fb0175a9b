using System.Globalization;
using System.Text;
using System.Text.Json;

namespace AutoPrune.Evaluation;

/// <summary>One line of the sweep table; percentages in 0-100, null where undefined.</summary>
public sealed record SweepRow
{
    public required string Benchmark { get; init; }
    public required string Policy { get; init; }
    public string? Budget { get; init; }
    public bool IsBaseline { get; init; }
    public int N { get; init; }
    public double? Accuracy { get; init; }
    /// <summary>100 * accuracy / unpruned accuracy.</summary>
    public double? RelativeAccuracy { get; init; }
    public Dictionary<string, double> ByCategory { get; init; } = new();
    public double MeanVisualTokens { get; init; }
    public double FlopsReduction { get; init; }
    /// <summary>Measured, not derived from FLOPs: the interleaved timing's median speedup when the sweep ran one
    /// (<see cref="SweepReport.WithTimings"/>), else unpruned prefill_ms_mean / this prefill_ms_mean.</summary>
    public double? PrefillSpeedup { get; init; }
    /// <summary>Median prefill ms of the interleaved timing, null without one.</summary>
    public double? PrefillMsMedian { get; init; }

    /// <summary>Settings other than the policy's defaults, e.g. budget-mode=faithful; part of the row's label.</summary>
    public SortedDictionary<string, string>? Settings { get; init; }

    public string Label => (IsBaseline ? $"{Policy} (unpruned)" : Budget is null ? Policy : $"{Policy}@{Budget}") +
                          (Settings is { Count: > 0 } s ? $" ({string.Join(", ", s.Select(kv => $"{kv.Key}={kv.Value}"))})" : "");
}

/// <summary>The paper-style comparison of pruned runs against the unpruned run on the same benchmark and model.</summary>
public sealed class SweepReport
{
    public IReadOnlyList<SweepRow> Rows { get; }

    /// <summary>How the speedups were measured, printed under the table; null: from each run's own mean prefill time.</summary>
    public string? TimingNote { get; }

    private SweepReport(IReadOnlyList<SweepRow> rows, string? timingNote = null) { Rows = rows; TimingNote = timingNote; }

    /// <summary>
    /// Replaces the speedups by those of an interleaved timing (<see cref="SweepTiming"/>); <paramref name="timed"/>[c] is
    /// the result of configuration c (configuration 0 the unpruned one). Rows that were not timed get no speedup.
    /// </summary>
    public SweepReport WithTimings(IReadOnlyList<EvalResult> timed, SweepTimings t)
    {
        var index = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int c = 0; c < timed.Count; c++) index[Row(timed[c], timed[0], baseline: c == 0).Label] = c;
        var rows = Rows.Select(r => index.TryGetValue(r.Label, out var c)
            ? r with { PrefillSpeedup = t.Speedup[c], PrefillMsMedian = t.MedianMs[c] }
            : r with { PrefillSpeedup = null, PrefillMsMedian = null }).ToList();
        var note = $"Prefill speedup: median over {t.Questions} question(s) x {t.Repetitions} repetition(s) of the unpruned prefill time " +
                   "divided by this row's on the same question, all configurations interleaved per question after an untimed warm-up pass " +
                   "(wall clock, vision tower included).";
        return new SweepReport(rows, note);
    }

    public static SweepReport Build(EvalResult unpruned, IEnumerable<EvalResult> pruned) => Build([unpruned], pruned);

    /// <summary>
    /// One baseline per benchmark; every pruned result needs the baseline of its benchmark with the same
    /// model, scorer and question count, else the relative numbers would compare different things.
    /// Rows: per benchmark (in baseline order) the baseline, then pruned runs by policy and decreasing budget.
    /// </summary>
    public static SweepReport Build(IEnumerable<EvalResult> unpruned, IEnumerable<EvalResult> pruned)
    {
        var baselines = new Dictionary<string, EvalResult>(StringComparer.Ordinal);
        var order = new List<string>();
        foreach (var b in unpruned)
        {
            if (!baselines.TryAdd(b.Benchmark, b))
                throw new EvalSettingsException($"sweep: two unpruned results for benchmark '{b.Benchmark}'");
            order.Add(b.Benchmark);
        }
        var groups = new Dictionary<string, List<EvalResult>>(StringComparer.Ordinal);
        foreach (var p in pruned)
        {
            if (!baselines.TryGetValue(p.Benchmark, out var b))
                throw new EvalSettingsException($"sweep: no unpruned result for benchmark '{p.Benchmark}' ({p.Policy}@{p.Budget})");
            if (p.Model != b.Model || p.Scorer != b.Scorer || p.N != b.N)
                throw new EvalSettingsException(
                    $"sweep: {p.Policy}@{p.Budget} on '{p.Benchmark}' ({p.Model}, {p.Scorer}, n={p.N}) is not comparable with the unpruned run ({b.Model}, {b.Scorer}, n={b.N})");
            (groups.TryGetValue(p.Benchmark, out var g) ? g : groups[p.Benchmark] = []).Add(p);
        }

        var rows = new List<SweepRow>();
        foreach (var name in order)
        {
            var b = baselines[name];
            rows.Add(Row(b, b, baseline: true));
            var list = groups.GetValueOrDefault(name) ?? [];
            foreach (var p in list.OrderBy(p => p.Policy, StringComparer.Ordinal)
                         .ThenByDescending(p => BudgetValue(p.Budget))
                         .ThenBy(p => p.Budget, StringComparer.Ordinal))
                rows.Add(Row(p, b, baseline: false));
        }
        return new SweepReport(rows);
    }

    // Budgets are free text ("86", "mean:57"); sort by the number in them when there is one.
    private static double BudgetValue(string? budget)
    {
        if (budget is null) return double.PositiveInfinity;
        var digits = new string(budget.SkipWhile(c => !char.IsDigit(c)).TakeWhile(c => char.IsDigit(c) || c == '.').ToArray());
        return double.TryParse(digits, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) ? v : double.NegativeInfinity;
    }

    private static SweepRow Row(EvalResult r, EvalResult b, bool baseline) => new()
    {
        Benchmark = r.Benchmark,
        Policy = r.Policy,
        Budget = r.Budget,
        Settings = r.Settings,
        IsBaseline = baseline,
        N = r.N,
        Accuracy = r.Accuracy,
        RelativeAccuracy = r.Accuracy is double a && b.Accuracy is double ba && ba > 0 ? 100 * a / ba : null,
        ByCategory = r.ByCategory,
        MeanVisualTokens = r.MeanVisualTokens,
        FlopsReduction = r.FlopsReduction,
        PrefillSpeedup = r.PrefillMsMean > 0 && b.PrefillMsMean > 0 ? b.PrefillMsMean / r.PrefillMsMean : null,
    };

    /// <summary>One Markdown table per benchmark; categories are the baseline's, "–" where a run lacks one.</summary>
    public string ToMarkdown()
    {
        var sb = new StringBuilder();
        foreach (var bench in Rows.GroupBy(r => r.Benchmark))
        {
            var rows = bench.ToList();
            var cats = rows[0].ByCategory.Keys.Order(StringComparer.Ordinal).ToList();
            if (sb.Length > 0) sb.Append('\n');
            sb.Append($"### {Esc(bench.Key)} (n={rows[0].N})\n\n");
            sb.Append("| Method | Acc | Rel. acc | ");
            foreach (var c in cats) sb.Append(Esc(c)).Append(" | ");
            sb.Append("Mean visual tokens | FLOPs reduction | Prefill speedup |\n");
            sb.Append("|---|---:|---:|");
            foreach (var _ in cats) sb.Append("---:|");
            sb.Append("---:|---:|---:|\n");
            foreach (var r in rows)
            {
                sb.Append($"| {Esc(r.Label)} | {F(r.Accuracy, 1)} | {Pct(r.RelativeAccuracy)} | ");
                foreach (var c in cats) sb.Append(F(r.ByCategory.TryGetValue(c, out var v) ? v : null, 1)).Append(" | ");
                sb.Append($"{F(r.MeanVisualTokens, 1)} | {Pct(r.FlopsReduction)} | {(r.PrefillSpeedup is double s ? F(s, 2) + "x" : "–")} |\n");
            }
        }
        if (TimingNote != null) sb.Append('\n').Append(TimingNote).Append('\n');
        return sb.ToString();
    }

    public string ToJson() => JsonSerializer.Serialize(new { rows = Rows, timing = TimingNote }, EvalJson.Options);

    private static string F(double? v, int digits) => v is double d ? d.ToString("F" + digits, CultureInfo.InvariantCulture) : "–";
    private static string Pct(double? v) => v is double d ? F(d, 1) + "%" : "–";
    private static string Esc(string s) => s.Replace("|", "\\|");
}
