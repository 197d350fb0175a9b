using System.CommandLine;
using System.Globalization;
using AutoPrune.Evaluation;
using AutoPrune.Models;
using AutoPrune.Pruning;

namespace AutoPrune.Cli.Commands;

/// <summary>`autoprune eval`, `merge` and `sweep`: benchmark files in the LLaVA eval layout → paper-style numbers.</summary>
public static class EvalCommands
{
    /// <summary>Where the benchmark files are: --data DIR (questions.jsonl, answers.jsonl, images/) or each file given.</summary>
    private sealed class DataOptions
    {
        public readonly Option<string?> Data = new("--data") { Description = "benchmark folder in the LLaVA eval layout: questions.jsonl, answers.jsonl, images/", HelpName = "DIR" };
        public readonly Option<string?> Questions = new("--questions") { Description = "questions .jsonl (question_id, image, text, category?)", HelpName = "FILE" };
        public readonly Option<string?> Answers = new("--answers") { Description = "answers .jsonl (question_id, answer)", HelpName = "FILE" };
        public readonly Option<string?> Images = new("--images") { Description = "image folder", HelpName = "DIR" };
        public readonly Option<string?> Scorer = new Option<string?>("--scorer") { Description = $"scorer: {string.Join(", ", Scorers.Names)} (default: from the file name, else exact)", HelpName = "NAME" }
            .Validate(n => n is null || Scorers.Names.Contains(n, StringComparer.OrdinalIgnoreCase), $"one of {string.Join(", ", Scorers.Names)}");
        public readonly Option<int?> Limit = new Option<int?>("--limit") { Description = "only the first N questions", HelpName = "N" }.Validate(n => n is null or >= 1, "at least 1");
        public readonly Option<int?> MaxNew = Cli.MaxNewTokensOption();

        public readonly Option<long?> MaxPixels = Cli.MaxImagePixelsOption();

        public void AddTo(Command c) { c.Add(Data); c.Add(Questions); c.Add(Answers); c.Add(Images); c.Add(Scorer); c.Add(Limit); c.Add(MaxNew); c.Add(MaxPixels); }

        public (BenchmarkSet set, string scorer) Load(ParseResult r)
        {
            Cli.ApplyImageLimit(r, MaxPixels);
            string? data = r.GetValue(Data), q = r.GetValue(Questions), a = r.GetValue(Answers), img = r.GetValue(Images);
            if (data != null)
            {
                if (!Directory.Exists(data)) throw new BenchmarkFormatException(data, null, "benchmark folder not found");
                q ??= Path.Combine(data, "questions.jsonl");
                var defaultAnswers = Path.Combine(data, "answers.jsonl");
                a ??= File.Exists(defaultAnswers) ? defaultAnswers : null;
                img ??= Path.Combine(data, "images");
            }
            if (q == null) throw new UsageException("give --data DIR or --questions FILE (with --images DIR)");
            img ??= Path.GetDirectoryName(Path.GetFullPath(q))!;
            var set = BenchmarkSet.Load(q, a, img, data != null ? Path.GetFileName(Path.GetFullPath(data).TrimEnd('/')) : null);
            var scorer = r.GetValue(Scorer) ?? Scorers.Default(q).Name;
            return (set, scorer);
        }
    }

    public static Command Eval()
    {
        var d = new DataOptions();
        var model = Cli.ModelOption();
        var weights = Cli.WeightsOption();
        var mmproj = Cli.MmprojOption();
        var quantize = Cli.QuantizeOption();
        var kvCache = Cli.KvCacheOption();
        var pruning = new PolicyOptionsCli();
        var output = new Option<string>("--output", "-o") { Description = "summary JSON file to write", DefaultValueFactory = _ => "result.json", HelpName = "FILE" };
        var preds = new Option<string?>("--predictions") { Description = "per-question JSON lines (default: <output>.predictions.jsonl); re-running resumes it", HelpName = "FILE" };
        var shard = new Option<string?>("--shard") { Description = "run shard i of N (i/N, 0-based); join with `autoprune merge`", HelpName = "i/N" }
            .Validate(v => v is null || IsShard(v), "i/N with whole numbers and 0 <= i < N, e.g. 0/4");
        var checkWeights = Cli.CheckWeightsOption();
        var cmd = new Command("eval", "Answer a benchmark's questions and score them (resumable, shardable)") { model, weights, mmproj, quantize, kvCache, checkWeights, output, preds, shard };
        pruning.AddTo(cmd);
        d.AddTo(cmd);
        cmd.SetAction((r, ct) =>
        {
            var pol = pruning.Create(r);
            var (set, scorer) = d.Load(r);
            using var m = Cli.LoadModel(r, model, weights, mmproj, quantize, checkWeights: checkWeights, kvCache: kvCache);
            ModelAnswerer.CheckFeasible(m, pol);
            var outPath = r.GetValue(output)!;
            var predPath = r.GetValue(preds) ?? DefaultPredictions(outPath);
            var polOptions = pruning.Options(r, r.GetValue(pruning.Budget));
            var runSettings = RunSettings(m, WeightsLabel(r, weights, mmproj, quantize), pol, polOptions.Budget, polOptions.Settings, r.GetValue(pruning.Positions), scorer, set.Name, r.GetValue(shard), r.GetValue(d.MaxNew));
            var err = r.InvocationConfiguration.Error;
            var result = EvalProgressDisplay.Run($"{set.Name} {pol.Name}", err, progress =>
                EvalRunner.Run(set, runSettings, predPath, ModelAnswerer.Create(m, pol, r.GetValue(d.MaxNew)),
                    new EvalRunOptions { Limit = r.GetValue(d.Limit), Progress = progress }, ct));
            result.Save(outPath);
            PrintSummary(result, r.InvocationConfiguration.Output, outPath, predPath);
            return Task.FromResult(0);
        });
        return cmd;
    }

    private static bool IsShard(string text)
    {
        try { ShardSpec.Parse(text); return true; }
        catch (EvalSettingsException) { return false; }
    }

    public static Command Merge()
    {
        var inputs = Cli.RejectUnknownOptions(new Argument<string[]>("predictions") { Description = "shard prediction files (.predictions.jsonl)", Arity = ArgumentArity.OneOrMore });
        var output = new Option<string>("--output", "-o") { Description = "summary JSON file of the merged run (predictions beside it)", DefaultValueFactory = _ => "result.json", HelpName = "FILE" };
        var cmd = new Command("merge", "Join the prediction files of `eval --shard i/N` runs into one result") { inputs, output };
        cmd.SetAction(r =>
        {
            var outPath = r.GetValue(output)!;
            var predPath = DefaultPredictions(outPath);
            var result = EvalMerge.Merge(predPath, r.GetValue(inputs)!);
            result.Save(outPath);
            PrintSummary(result, r.InvocationConfiguration.Output, outPath, predPath);
            return 0;
        });
        return cmd;
    }

    public static Command Sweep()
    {
        var d = new DataOptions();
        var model = Cli.ModelOption();
        var weights = Cli.WeightsOption();
        var mmproj = Cli.MmprojOption();
        var quantize = Cli.QuantizeOption();
        var kvCache = Cli.KvCacheOption();
        var policies = new Option<string>("--policies") { Description = "comma-separated policies (the unpruned model always runs once)", DefaultValueFactory = _ => "autoprune", HelpName = "NAME,NAME,..." };
        var budgets = new Option<string>("--budgets") { Description = "comma-separated budgets T (mean visual tokens per decoder layer)", Required = true, HelpName = "T,T,..." };
        var pruning = new PolicyOptionsCli(single: false);
        var outDir = new Option<string>("--output", "-o") { Description = "output folder (per-run results and predictions, sweep.md, sweep.json, plots)", DefaultValueFactory = _ => "sweep", HelpName = "DIR" };
        var timingQuestions = new Option<int>("--timing-questions")
        {
            Description = "questions of the interleaved prefill timing behind the speedup column (0: no timing, no speedups)",
            DefaultValueFactory = _ => 32, HelpName = "N",
        }.Validate(n => n >= 0, "0 or more");
        var timingReps = new Option<int>("--timing-reps") { Description = "repetitions of the timing over those questions", DefaultValueFactory = _ => 1, HelpName = "N" }
            .Validate(n => n >= 1, "at least 1");
        var cmd = new Command("sweep", "Run policies x budgets on a benchmark and write the paper-style table (resumable)") { model, weights, mmproj, quantize, kvCache, policies, budgets, outDir, timingQuestions, timingReps };
        pruning.AddTo(cmd);
        d.AddTo(cmd);
        cmd.SetAction((r, ct) =>
        {
            // Everything the command line can get wrong is checked before the model loads.
            var budgetList = ParseBudgets(r.GetValue(budgets)!);
            var policyNames = r.GetValue(policies)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            if (policyNames.Length == 0) throw new UsageException("--policies is empty");
            foreach (var p in policyNames) if (!PolicyFactory.Names.Contains(p, StringComparer.OrdinalIgnoreCase))
                throw new UsageException($"--policies: unknown policy '{p}' (available: {string.Join(", ", PolicyFactory.Names)})");
            var configs = new List<(string Name, double Budget, IPruningPolicy Policy, IReadOnlyDictionary<string, string> Settings)>();
            var common = pruning.Options(r, null);
            var swept = policyNames.Where(p => !p.Equals("none", StringComparison.OrdinalIgnoreCase)).Distinct(StringComparer.OrdinalIgnoreCase).ToList();
            foreach (var name in swept)
            {
                var own = PolicyOptionsCli.SettingsFor(name, common.Settings, swept);
                foreach (var b in budgetList)
                    configs.Add((name, b, PolicyFactory.Create(name, common with { Budget = b, Settings = own }), own));   // a bad value fails here
            }
            var (set, scorer) = d.Load(r);
            var dir = r.GetValue(outDir)!;
            using var m = Cli.LoadModel(r, model, weights, mmproj, quantize, kvCache: kvCache);
            var err = r.InvocationConfiguration.Error;
            var skipped = new List<string>();
            configs = configs.Where(c =>
            {
                try { ModelAnswerer.CheckFeasible(m, c.Policy); return true; }
                catch (InfeasibleBudgetException e)
                {
                    skipped.Add($"{c.Name}@{Fmt(c.Budget)}: {e.Message}");
                    err.WriteLine($"skipping {c.Name}@{Fmt(c.Budget)}: {e.Message}");
                    return false;
                }
            }).ToList();
            Directory.CreateDirectory(dir);
            int? maxNew = r.GetValue(d.MaxNew);
            var positions = r.GetValue(pruning.Positions);
            var predictionFiles = new Dictionary<EvalResult, string>(ReferenceEqualityComparer.Instance);

            EvalResult RunOne(string name, double? budget, IPruningPolicy pol, IReadOnlyDictionary<string, string> settings)
            {
                string label = budget is null ? name : $"{name}_{Fmt(budget.Value)}";
                var outPath = Path.Combine(dir, label + ".json");
                var rs = RunSettings(m, WeightsLabel(r, weights, mmproj, quantize), pol, budget, settings, budget is null ? null : positions, scorer, set.Name, null, maxNew);
                var res = EvalProgressDisplay.Run($"{set.Name} {label}", err, progress =>
                    EvalRunner.Run(set, rs, DefaultPredictions(outPath), ModelAnswerer.Create(m, pol, maxNew),
                        new EvalRunOptions { Limit = r.GetValue(d.Limit), Progress = progress }, ct));
                res.Save(outPath);
                predictionFiles[res] = DefaultPredictions(outPath);
                return res;
            }

            var none = new NoPruning();
            var baseline = RunOne("none", null, none, new Dictionary<string, string>());
            var pruned = configs.Select(c => RunOne(c.Name, c.Budget, c.Policy, c.Settings)).ToList();
            var report = SweepReport.Build(baseline, pruned);

            int nTiming = Math.Min(r.GetValue(timingQuestions), baseline.N);
            if (nTiming > 0)
            {
                // Accuracy runs above are resumable and ordered; their own times are not comparable. Time here, fairly.
                var questions = EvalRunner.Select(set.Questions, r.GetValue(d.Limit), null).Take(nTiming).ToList();
                var policiesTimed = new List<IPruningPolicy> { none };
                policiesTimed.AddRange(configs.Select(c => c.Policy));
                var timings = EvalProgressDisplay.Run($"{set.Name} timing ({policiesTimed.Count} configurations interleaved)", err, progress =>
                {
                    var clock = System.Diagnostics.Stopwatch.StartNew();
                    return SweepTiming.Measure(policiesTimed.Count, questions, r.GetValue(timingReps),
                        (c, q) => Generator.Ask(m, q.ImagePath, q.Text, new GenerationOptions { Policy = policiesTimed[c], MaxNewTokens = 1 }).PrefillMs,
                        ct, (done, total) =>
                        {
                            double rate = done / Math.Max(clock.Elapsed.TotalSeconds, 1e-9);
                            progress.Report(new EvalProgress(done, total, 0, rate, TimeSpan.FromSeconds((total - done) / rate), null));
                        });
                });
                report = report.WithTimings([baseline, .. pruned], timings);
            }

            var md = report.ToMarkdown();
            if (skipped.Count > 0) md += "\nNot run (infeasible):\n" + string.Concat(skipped.Select(s => $"- {s}\n"));
            File.WriteAllText(Path.Combine(dir, "sweep.md"), md);
            File.WriteAllText(Path.Combine(dir, "sweep.json"), report.ToJson());
            var o = r.InvocationConfiguration.Output;
            o.WriteLine(md);
            o.WriteLine($"wrote {Path.Combine(dir, "sweep.md")} and sweep.json");
            var (plots, plotNotes) = Plots.SweepPlots.WriteAll(dir, new(baseline, predictionFiles[baseline]), pruned.Select(p => new Plots.SweepRun(p, predictionFiles[p])).ToList());
            foreach (var f in plots) o.WriteLine($"wrote {f}");
            foreach (var n in plotNotes) o.WriteLine(n);
            return Task.FromResult(0);
        });
        return cmd;
    }

    private static string Fmt(double v) => v.ToString(CultureInfo.InvariantCulture);

    internal static string DefaultPredictions(string outputPath) =>
        Path.Combine(Path.GetDirectoryName(Path.GetFullPath(outputPath))!, Path.GetFileNameWithoutExtension(outputPath) + ".predictions.jsonl");

    private static List<double> ParseBudgets(string text)
    {
        var list = new List<double>();
        foreach (var s in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var b) || b <= 0)
                throw new UsageException($"--budgets '{s}' is not a positive number");
            list.Add(b);
        }
        if (list.Count == 0) throw new UsageException("--budgets is empty");
        return list;
    }

    /// <summary>What picks the weights inside the model path, recorded so a resume with other weights is refused.</summary>
    private static string? WeightsLabel(ParseResult r, Option<string?> weights, Option<string?> mmproj, Option<string?> quantize)
    {
        var parts = new[] { r.GetValue(weights), r.GetValue(mmproj) is string mm ? Path.GetFileName(mm) : null, r.GetValue(quantize) is string q ? "quantize " + q : null };
        var label = string.Join(" ", parts.Where(p => p != null));
        return label.Length == 0 ? null : label;
    }

    private static EvalRunSettings RunSettings(IVisionLanguageModel m, string? weights, IPruningPolicy pol, double? budget,
        IReadOnlyDictionary<string, string> settings, string? positions, string scorer, string benchmark, string? shard, int? maxNew)
    {
        // Everything that changes predictions goes into the run's meta, so a resume with other settings is refused.
        var opts = new Dictionary<string, string>();
        foreach (var (k, v) in settings) opts["set:" + k.ToLowerInvariant()] = v;
        if (positions != null) opts["positions"] = positions;
        if (maxNew != null) opts["max_new_tokens"] = maxNew.Value.ToString(CultureInfo.InvariantCulture);
        if (m.LanguageModel.KvCacheType != KvCacheType.F32) opts["kv_cache"] = Cli.KvCacheName(m.LanguageModel.KvCacheType);
        return new EvalRunSettings
        {
            Model = Path.GetFileName(m.Directory.TrimEnd('/')) + (weights != null ? "/" + weights : ""),
            Policy = pol.Name,
            Budget = budget?.ToString(CultureInfo.InvariantCulture),
            Scorer = scorer,
            Benchmark = benchmark,
            Shard = shard,
            Options = opts.Count > 0 ? opts : null,
        };
    }

    private static void PrintSummary(EvalResult r, TextWriter o, string outPath, string predPath)
    {
        var inv = CultureInfo.InvariantCulture;
        o.WriteLine($"{r.Benchmark} | {r.Policy}{(r.Budget != null ? "@" + r.Budget : "")} | n {r.N} | accuracy {r.Accuracy?.ToString("F2", inv) ?? "n/a"}% | " +
                    $"mean visual tokens {r.MeanVisualTokens.ToString("F1", inv)} | FLOPs -{r.FlopsReduction.ToString("F1", inv)}% | " +
                    $"prefill {r.PrefillMsMean.ToString("F1", inv)} ms | decode {r.DecodeMsMean.ToString("F1", inv)} ms");
        foreach (var (cat, acc) in r.ByCategory.OrderBy(kv => kv.Key, StringComparer.Ordinal))
            o.WriteLine($"  {cat,-10} {acc.ToString("F1", inv),6}%");
        o.WriteLine($"wrote {outPath} and {predPath}");
    }
}
