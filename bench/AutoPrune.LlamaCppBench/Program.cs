using System.Diagnostics;
using AutoPrune;
using AutoPrune.Accounting;
using AutoPrune.Benchmarking;
using AutoPrune.LlamaCppBench;
using AutoPrune.Loading.Gguf;
using AutoPrune.Models;
using AutoPrune.Pruning;
using AutoPrune.Tensors;
using AutoPrune.Tensors.Quant;

// The side-by-side benchmark: this engine against llama.cpp on the same random-weight LLaVA-1.5 files.
BenchOptions? o;
try { o = BenchOptions.Parse(args); }
catch (BenchUsageException e) { Console.Error.WriteLine($"error: {e.Message}"); return 2; }
if (o == null) { Console.WriteLine(BenchOptions.Usage); return 0; }

try { return Run(o); }
catch (Exception e) when (Environment.GetEnvironmentVariable("AUTOPRUNE_DEBUG") != "1")
{
    Console.Error.WriteLine($"error: {AutoPruneException.Printable(e.Message)}");
    return 1;
}

static int Run(BenchOptions o)
{
    var total = Stopwatch.StartNew();
    void Log(string m) { Console.Error.WriteLine($"[{total.Elapsed:mm\\:ss}] {m}"); }
    Parallelism.MaxThreads = o.Threads;
    var config = ModelShapes.Get(o.Shape);
    int imageTokens = config.ImageSeqLength;

    // Budgets are checked before any file is written: a default one infeasible at this depth is left out with a note.
    var notes = new List<string>();
    var policies = new List<(PolicyChoice Choice, IPruningPolicy Policy)>();
    foreach (var c in o.Policies)
    {
        var policy = PolicyFactory.Create(c.Name, new PolicyOptions { Budget = c.Budget });
        try { policy.Begin(new PruningSetup(imageTokens, o.Layers, new PrefillTrace())); }
        catch (InfeasibleBudgetException e) when (!o.PoliciesGiven)
        {
            notes.Add($"{c} not run: infeasible with {o.Layers} decoder layers (lowest feasible budget {e.LowestFeasible:F2}); " +
                      $"it runs at the full depth (--layers {config.Text.NumHiddenLayers}).");
            continue;
        }
        policies.Add((c, policy));
    }
    foreach (var n in notes) Log(n);

    var files = BenchFiles.Prepare(o, Log);
    var owned = new List<IDisposable>();
    var rows = new List<(IBenchEngine Engine, IBenchEngine? Partner)>();
    var agreements = new List<Agreement>();
    try
    {
        Log("loading ours, BF16 safetensors");
        var model = LlavaModel.Load(files.SafetensorsDir);
        owned.Add(model);
        var input = new BenchInput(BenchInput.MakeImage(config.Vision.ImageSize), model.Tokenize(BenchInput.Question),
            model.Tokenizer.EncodePrompt(BenchInput.TextPrompt));
        var ours = new OurEngine("ours BF16 safetensors", model, input);
        int context = input.Prompt.TextTokens + imageTokens + Math.Max(o.DecodeTokens, o.AnswerTokens) + 16;
        var oursGguf = new Dictionary<GgufFileType, OurEngine>();
        var llama = new Dictionary<GgufFileType, LlamaCppEngine>();
        string? mmproj = files.Mmproj;   // llama.cpp's vision through libmtmd, unless the library cannot be loaded
        foreach (var t in o.Types)
        {
            Log($"loading ours and llama.cpp, {t} GGUF");
            var m = LlavaModel.Load(files.LanguageModel(t), mmproj: files.Mmproj);
            owned.Add(m);
            oursGguf[t] = new OurEngine($"ours {t} GGUF", m, input);
            // llama.cpp gets the image as the projected features of the same mmproj file, computed by us.
            string label = $"llama.cpp {t} GGUF", lm = files.LanguageModel(t);
            var features = oursGguf[t].Features.Features;
            try { llama[t] = new LlamaCppEngine(label, lm, mmproj, o.Threads, input, features, imageTokens, context); }
            catch (Exception e) when (mmproj != null && e is DllNotFoundException or EntryPointNotFoundException)
            {
                notes.Add($"llama.cpp's vision tower not run: {e.Message}");
                mmproj = null;
                llama[t] = new LlamaCppEngine(label, lm, null, o.Threads, input, features, imageTokens, context);
            }
            owned.Add(llama[t]);
        }
        // Rows in timing order; pruned runs on the BF16 safetensors model and on the Q4_K_M file.
        var f16 = llama.GetValueOrDefault(GgufFileType.F16);
        rows.Add((ours, f16));
        foreach (var (c, p) in policies) rows.Add((new OurEngine($"ours BF16 safetensors, {c}", model, input, p), f16));
        foreach (var t in o.Types)
        {
            rows.Add((oursGguf[t], llama[t]));
            if (t == GgufFileType.Q4_K_M)
                foreach (var (c, p) in policies) rows.Add((new OurEngine($"ours {t} GGUF, {c}", oursGguf[t].Model, input, p), llama[t]));
            rows.Add((llama[t], null));
        }

        Log("agreement check (text prompt, last-token logits)");
        foreach (var (a, b) in rows)
        {
            if (b == null || a is not OurEngine { Pruned: false }) continue;
            var la = a.TextLogits(input.TextIds);
            var lb = b.TextLogits(input.TextIds);
            agreements.Add(new Agreement(a.Label, b.Label, Harness.Cosine(la, lb), Greedy.ArgMax(la) == Greedy.ArgMax(lb), null));
            Log($"  {a.Label} vs {b.Label}: cosine {agreements[^1].TextCosine:F6}");
        }
        if (agreements.FirstOrDefault(a => a.TextCosine < MinCosine) is { } bad)
            throw new BenchFailedException($"{bad.Ours} and {bad.LlamaCpp} disagree (text logits cosine {bad.TextCosine:F4} < {MinCosine}): the timings would not compare equal work");

        var engines = rows.Select(r => r.Engine).ToList();
        Log($"timing {engines.Count} engines x {o.Reps} reps, interleaved");
        var results = Harness.Run(engines, o.Reps, o.DecodeTokens, o.AnswerTokens, Log);
        var byEngine = results.ToDictionary(r => r.Engine);
        for (int i = 0; i < agreements.Count; i++)
        {
            var a = results.First(r => r.Engine.Label == agreements[i].Ours);
            var b = results.First(r => r.Engine.Label == agreements[i].LlamaCpp);
            agreements[i] = agreements[i] with { ImageCosine = Harness.Cosine(a.PrefillLogits!, b.PrefillLogits!) };
        }
        foreach (var (c, _) in policies)
        {
            var pr = engines.OfType<OurEngine>().First(e => e.Label.EndsWith(c.ToString(), StringComparison.Ordinal));
            notes.Add($"{c}: {pr.MeanVisualTokens:F1} mean visual tokens per decoder layer of {imageTokens}; its prefill tok/s counts the " +
                      $"{pr.PrefillTokens} input tokens.");
        }
        var best = results.FirstOrDefault(r => r.Engine.Label == $"llama.cpp {GgufFileType.Q4_K_M} GGUF");
        var conditions = new List<string>
        {
            $"CPU: {Simd.CpuModel()} ({Simd.CpuFeatures()}); {o.Threads} threads for both engines",
            $"our kernels: GEMM/GEMV {Gemm.Isa}, attention {Attention.Isa}, elementwise {Ops.Isa}, block-quantized {QuantDot.Isa}",
            $"llama.cpp: LLamaSharp 0.30.0 CPU backend ({LlamaCppEngine.SystemInfo()}); the image enters as {imageTokens} projected " +
            "embeddings (llama_batch embd): in the timed prefill ours from the same mmproj (identical inputs), end to end its own " +
            (mmproj != null ? "from libmtmd (its preprocessing, CLIP tower and projector; the vision column)" : "(not run: see the notes)"),
            $"model: random weights of the {o.Shape} shape (LLaMA decoder, CLIP ViT-L/14-336 + MLP projector), {o.Layers} of " +
            $"{config.Text.NumHiddenLayers} decoder layers; files written by RandomLlavaFolder and LlavaGgufConverter",
            $"prompt: {input.Prompt.TextTokens} text + {imageTokens} image tokens = {input.Prompt.TextTokens + imageTokens}; decode: " +
            $"{o.DecodeTokens} greedy steps after it; end to end: the 336x336 image (preprocessing, vision tower, projector) to {o.AnswerTokens} greedy tokens",
            $"{o.Reps} repetitions, engines interleaved rep by rep; total run {total.Elapsed.TotalMinutes:F1} min",
        };
        var partner = rows.ToDictionary(r => r.Engine, r => r.Partner);
        var report = MarkdownReport.Build(conditions, agreements, results, r => partner[r.Engine] is { } p ? byEngine[p] : null,
            best, o.DecodeTokens, o.AnswerTokens, notes);
        Console.WriteLine(report);
        if (o.Output != null) File.WriteAllText(o.Output, report);
        return 0;
    }
    finally
    {
        foreach (var d in owned) d.Dispose();
    }
}

public partial class Program
{
    /// <summary>Below this last-token logits cosine the two engines are not computing the same thing.</summary>
    private const double MinCosine = 0.99;
}

/// <summary>The run cannot give a meaningful result (e.g. the engines disagree); one error line, exit 1.</summary>
public sealed class BenchFailedException(string message) : Exception(message);
