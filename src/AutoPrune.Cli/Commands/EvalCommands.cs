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
        public readonly Option<string?> Scorer = new("--scorer") { Description = $"scorer: {string.Join(", ", Scorers.Names)} (default: from the file name, else exact)" };
        public readonly Option<int?> Limit = new("--limit") { Description = "only the first N questions", HelpName = "N" };
        public readonly Option<int?> MaxNew = new("--max-new-tokens") { Description = "answer length limit (default: the model's generation_config.json)", HelpName = "N" };

        public void AddTo(Command c) { c.Add(Data); c.Add(Questions); c.Add(Answers); c.Add(Images); c.Add(Scorer); c.Add(Limit); c.Add(MaxNew); }

        public (BenchmarkSet set, string scorer) Load(ParseResult r)
        {
            string? data = r.GetValue(Data), q = r.GetValue(Questions), a = r.GetValue(Answers), img = r.GetValue(Images);
            if (data != null)
            {
                if (!Directory.Exists(data)) throw new BenchmarkFormatException(data, null, "benchmark folder not found");
                q ??= Path.Combine(data, "questions.jsonl");
                var defaultAnswers = Path.Combine(data, "answers.jsonl");
                a ??= File.Exists(defaultAnswers) ? defaultAnswers : null;
                img ??= Path.Combine(data, "images");
            }
            if (q == null) throw new EvalSettingsException("give --data DIR or --questions FILE (with --images DIR)");
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
        var (policy, budget, settings, positions) = PolicyOptionsCli.Create();
        var output = new Option<string>("--output", "-o") { Description = "summary JSON file", DefaultValueFactory = _ => "result.json", HelpName = "FILE" };
        var preds = new Option<string?>("--predictions") { Description = "per-question JSON lines (default: <output>.predictions.jsonl); re-running resumes it", HelpName = "FILE" };
        var shard = new Option<string?>("--shard") { Description = "run shard i of N (i/N, 0-based); join with `autoprune merge`", HelpName = "i/N" };
        var cmd = new Command("eval", "Answer a benchmark's questions and score them (resumable, shardable)") { model, weights, policy, budget, settings, positions, output, preds, shard };
        foreach (var f in PolicyOptionsCli.SettingFlags()) cmd.Options.Add(f);
        d.AddTo(cmd);
        cmd.SetAction((r, ct) =>
        {
            var (set, scorer) = d.Load(r);
            var polOptions = PolicyOptionsCli.BuildOptions(r, budget, settings, positions);
            var pol = PolicyFactory.Create(r.GetValue(policy)!, polOptions);
            using var m = VisionLanguageModel.Load(r.GetValue(model) ?? Cli.DefaultModelDir(), r.GetValue(weights));
            ModelAnswerer.CheckFeasible(m, pol);
            var outPath = r.GetValue(output)!;
            var predPath = r.GetValue(preds) ?? DefaultPredictions(outPath);
            var runSettings = RunSettings(m, r.GetValue(weights), pol, r.GetValue(budget), polOptions.Settings, r.GetValue(positions), scorer, set.Name, r.GetValue(shard), r.GetValue(d.MaxNew));
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

    public static Command Merge()
    {
        var inputs = new Argument<string[]>("predictions") { Description = "shard prediction files (.predictions.jsonl)", Arity = ArgumentArity.OneOrMore };
        var output = new Option<string>("--output", "-o") { Description = "summary JSON of the merged run", DefaultValueFactory = _ => "result.json", HelpName = "FILE" };
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
        var policies = new Option<string>("--policies") { Description = "comma-separated policies (the unpruned model always runs once)", DefaultValueFactory = _ => "autoprune" };
        var budgets = new Option<string>("--budgets") { Description = "comma-separated budgets T (mean visual tokens per layer)", Required = true, HelpName = "T,T,..." };
        var settings = new Option<string[]>("--set") { Description = "policy setting NAME=VALUE for every policy, repeatable", HelpName = "NAME=VALUE" };
        var outDir = new Option<string>("--out") { Description = "output folder (per-run results and predictions, sweep.md, sweep.json)", DefaultValueFactory = _ => "sweep", HelpName = "DIR" };
        var cmd = new Command("sweep", "Run policies x budgets on a benchmark and write the paper-style table (resumable)") { model, weights, policies, budgets, settings, outDir };
        d.AddTo(cmd);
        cmd.SetAction((r, ct) =>
        {
            var (set, scorer) = d.Load(r);
            var dir = r.GetValue(outDir)!;
            Directory.CreateDirectory(dir);
            var budgetList = ParseBudgets(r.GetValue(budgets)!);
            var policyNames = r.GetValue(policies)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            foreach (var p in policyNames) if (!PolicyFactory.Names.Contains(p, StringComparer.OrdinalIgnoreCase))
                throw new PruningOptionException($"unknown policy '{p}' (available: {string.Join(", ", PolicyFactory.Names)})");
            var extra = PolicyOptionsCli.ParseSettings(r.GetValue(settings));
            using var m = VisionLanguageModel.Load(r.GetValue(model) ?? Cli.DefaultModelDir(), r.GetValue(weights));
            var err = r.InvocationConfiguration.Error;
            int? maxNew = r.GetValue(d.MaxNew);
            var predictionFiles = new Dictionary<EvalResult, string>(ReferenceEqualityComparer.Instance);

            EvalResult RunOne(string name, double? budget)
            {
                var pol = PolicyFactory.Create(name, new PolicyOptions { Budget = budget, Settings = extra });
                string label = budget is null ? name : $"{name}_{budget.Value.ToString(CultureInfo.InvariantCulture)}";
                var outPath = Path.Combine(dir, label + ".json");
                var rs = RunSettings(m, r.GetValue(weights), pol, budget, extra, null, scorer, set.Name, null, maxNew);
                var res = EvalProgressDisplay.Run($"{set.Name} {label}", err, progress =>
                    EvalRunner.Run(set, rs, DefaultPredictions(outPath), ModelAnswerer.Create(m, pol, maxNew),
                        new EvalRunOptions { Limit = r.GetValue(d.Limit), Progress = progress }, ct));
                res.Save(outPath);
                predictionFiles[res] = DefaultPredictions(outPath);
                return res;
            }

            var baseline = RunOne("none", null);
            var pruned = new List<EvalResult>();
            var skipped = new List<string>();
            foreach (var name in policyNames)
            {
                if (name.Equals("none", StringComparison.OrdinalIgnoreCase)) continue;
                foreach (var b in budgetList)
                {
                    try { ModelAnswerer.CheckFeasible(m, PolicyFactory.Create(name, new PolicyOptions { Budget = b, Settings = extra })); }
                    catch (PruningOptionException e)
                    {
                        skipped.Add($"{name}@{b.ToString(CultureInfo.InvariantCulture)}: {e.Message}");
                        err.WriteLine($"skipping {name}@{b.ToString(CultureInfo.InvariantCulture)}: {e.Message}");
                        continue;
                    }
                    pruned.Add(RunOne(name, b));
                }
            }
            var report = SweepReport.Build(baseline, pruned);
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

    internal static string DefaultPredictions(string outputPath) =>
        Path.Combine(Path.GetDirectoryName(Path.GetFullPath(outputPath))!, Path.GetFileNameWithoutExtension(outputPath) + ".predictions.jsonl");

    private static List<double> ParseBudgets(string text)
    {
        var list = new List<double>();
        foreach (var s in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var b) || b <= 0)
                throw new PruningOptionException($"--budgets: '{s}' is not a positive number");
            list.Add(b);
        }
        if (list.Count == 0) throw new PruningOptionException("--budgets is empty");
        return list;
    }

    private static EvalRunSettings RunSettings(IVisionLanguageModel m, string? weights, IPruningPolicy pol, double? budget,
        IReadOnlyDictionary<string, string> settings, string? positions, string scorer, string benchmark, string? shard, int? maxNew)
    {
        // Everything that changes predictions goes into the run's meta, so a resume with other settings is refused.
        var opts = new Dictionary<string, string>();
        foreach (var (k, v) in settings) opts["set:" + k.ToLowerInvariant()] = v;
        if (positions != null) opts["positions"] = positions;
        if (maxNew != null) opts["max_new_tokens"] = maxNew.Value.ToString(CultureInfo.InvariantCulture);
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
