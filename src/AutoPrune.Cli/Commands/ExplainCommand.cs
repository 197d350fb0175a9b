using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using AutoPrune.Accounting;
using AutoPrune.Loading;
using AutoPrune.Models;
using AutoPrune.Plots;
using AutoPrune.Pruning;

namespace AutoPrune.Cli.Commands;

/// <summary>`autoprune explain`: answer a question and draw what the policy pruned, layer by layer.</summary>
public static class ExplainCommand
{
    public const string FigureFile = "pruning.png", TokensFile = "tokens_per_layer.png", RetentionFile = "retention_curve.png", TraceFile = "trace.json";

    public static Command Create()
    {
        var image = Cli.ImageOption();
        var question = Cli.QuestionArgument();
        var compare = new Option<string?>("--compare-question") { Description = "a second (e.g. harder) question on the same image, drawn beside the first", HelpName = "QUESTION" };
        var outDir = new Option<string>("--output", "-o") { Description = "output folder for pruning.png, tokens_per_layer.png, retention_curve.png, trace.json", Required = true, HelpName = "DIR" };
        var layers = new Option<string?>("--draw-layers") { Description = "decoder layers to draw, e.g. 0,1,4,7 (default: all of an 8-layer model, else 0,1,2,L/2,L-1)", HelpName = "L,L,..." };
        var model = Cli.ModelOption();
        var weights = Cli.WeightsOption();
        var mmproj = Cli.MmprojOption();
        var quantize = Cli.QuantizeOption();
        var kvCache = Cli.KvCacheOption();
        var maxNew = Cli.MaxNewTokensOption();
        var pad = Cli.PadToSquareOption();
        var maxPixels = Cli.MaxImagePixelsOption();
        var pruning = new PolicyOptionsCli();

        var cmd = new Command("explain", "Answer a question and draw which image regions each decoder layer kept")
        {
            question, image, compare, outDir, layers, model, weights, mmproj, quantize, kvCache, maxNew, pad, maxPixels,
        };
        pruning.AddTo(cmd);
        cmd.SetAction(r =>
        {
            var questions = new List<string> { r.GetValue(question)! };
            if (r.GetValue(compare) is { } q2) questions.Add(q2);
            foreach (var q in questions)
                if (string.IsNullOrWhiteSpace(q)) throw new InvalidPromptException("the question is empty");
            // Fail on bad policy options before loading anything.
            pruning.Create(r);
            Cli.ApplyImageLimit(r, maxPixels);
            using var m = Cli.LoadModel(r, model, weights, mmproj, quantize, r.GetValue(pad), kvCache: kvCache);
            int numLayers = m.LanguageModel.Config.NumHiddenLayers;
            var layerList = ParseLayers(r.GetValue(layers), numLayers);
            var imagePath = r.GetValue(image)!;
            var source = ImageLoader.Load(imagePath);
            var (features, views, tokensText) = Encode(m, source);

            var answers = new List<Answer>();
            foreach (var q in questions)
            {
                var prompt = m.Tokenize(q);
                // A fresh policy per question: nothing carries over between prefills.
                var pol = pruning.Create(r);
                answers.Add(Generator.Generate(m, prompt, [features], new GenerationOptions { MaxNewTokens = r.GetValue(maxNew), Policy = pol }));
            }

            var dir = r.GetValue(outDir)!;
            Directory.CreateDirectory(dir);
            var runs = questions.Select((q, i) => new PruningRun($"Q{i + 1}: {q}  →  {answers[i].Text}", answers[i].Trace)).ToList();
            var t0 = answers[0].Trace;
            double? b = r.GetValue(pruning.Budget) ?? t0.Budget;
            string budgetText = b is double bv ? $" @ T={bv.ToString(CultureInfo.InvariantCulture)}" : "";
            string title = $"{t0.Policy}{budgetText} on {Path.GetFileName(imagePath)} ({tokensText}, {numLayers} layers)";

            var written = new List<string>();
            var figPath = Path.Combine(dir, FigureFile);
            new PruningFigure(views, layerList, runs, title).Save(figPath);
            written.Add(figPath);
            var tokPath = Path.Combine(dir, TokensFile);
            TokensPerLayerPlot.Save(runs, tokPath, b, $"Visual tokens per layer: {t0.Policy}{budgetText}");
            written.Add(tokPath);
            var retPath = Path.Combine(dir, RetentionFile);
            bool hasCurve = RetentionCurvePlot.TrySave(runs, retPath, $"Planned retention curve: {t0.Policy}{budgetText}");
            if (hasCurve) written.Add(retPath);
            else if (File.Exists(retPath)) File.Delete(retPath);   // a stale curve from an earlier run would mislead
            var tracePath = Path.Combine(dir, TraceFile);
            File.WriteAllText(tracePath, TraceDocument(questions, answers, imagePath));
            written.Add(tracePath);

            var o = r.InvocationConfiguration.Output;
            for (int i = 0; i < answers.Count; i++)
            {
                var t = answers[i].Trace;
                o.WriteLine($"Q{i + 1}: {questions[i]}");
                o.WriteLine($"A{i + 1}: {answers[i].Text}");
                o.WriteLine($"    visual tokens per layer {string.Join(" ", t.VisualTokensPerLayer)} | mean {t.MeanVisualTokens.ToString("F1", CultureInfo.InvariantCulture)} | " +
                            $"FLOPs -{t.FlopsReduction.ToString("F1", CultureInfo.InvariantCulture)}%" + (TraceSummary.Line(t) is { Length: > 0 } s ? " | " + s : ""));
            }
            if (!hasCurve) o.WriteLine($"no {RetentionFile}: policy '{t0.Policy}' recorded no retention curve");
            o.WriteLine("wrote:");
            foreach (var f in written) o.WriteLine("  " + f);
            return 0;
        });
        return cmd;
    }

    /// <summary>
    /// The image's visual tokens and where each shows on the figure: LLaVA-1.5's input crop as one square grid;
    /// LLaVA-NeXT's original image twice, with its tile tokens and with its base-view tokens (newline tokens have no place).
    /// </summary>
    internal static (ImageFeatures Features, TokenView[] Views, string Tokens) Encode(IVisionLanguageModel m, RgbImage source)
    {
        if (m is Models.LlavaNext.LlavaNextModel next)
        {
            var a = next.EncodeAnyres(source);
            var l = a.Layout;
            return (a.Features,
                [new TokenView($"{l.GridRows}x{l.GridCols} tiles", source, l.TokenOfPixel(a.Image, baseView: false)),
                 new TokenView("base view", source, l.TokenOfPixel(a.Image, baseView: true))],
                $"{a.Tokens} tokens: {l.BaseTokens} base + {l.Count - l.BaseTokens - l.NewlineTokens} tile + {l.NewlineTokens} newline");
        }
        var llava = (LlavaModel)m;
        int side = llava.Config.Vision.PatchesPerSide;
        return (llava.EncodeImage(source), [TokenView.Grid(ModelCrop.Prepare(llava.ImageProcessor, source), side)], $"{side}x{side} tokens");
    }

    /// <summary>"0,1,4,7" → sorted distinct layers, each in 0..L-1; null → the figure's default selection.</summary>
    internal static int[] ParseLayers(string? text, int numLayers)
    {
        if (text is null) return PruningFigure.DefaultLayers(numLayers);
        var list = new List<int>();
        foreach (var s in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out var l) || l < 0 || l >= numLayers)
                throw new UsageException($"--draw-layers '{s}' is not a decoder layer (0..{numLayers - 1})");
            list.Add(l);
        }
        if (list.Count == 0) throw new UsageException("--draw-layers is empty");
        return list.Distinct().Order().ToArray();
    }

    /// <summary>The first question's trace object with answer, question and visual ids; a compared question under "compare".</summary>
    internal static string TraceDocument(IReadOnlyList<string> questions, IReadOnlyList<Answer> answers, string imagePath)
    {
        Dictionary<string, object?> One(int i)
        {
            var o = TraceJson.ToObject(answers[i].Trace);
            o["question"] = questions[i];
            o["answer"] = answers[i].Text;
            o["visual_ids_per_layer"] = answers[i].Trace.VisualIdsPerLayer;
            return o;
        }
        var doc = One(0);
        doc["image"] = imagePath;
        if (answers.Count > 1) doc["compare"] = One(1);
        return JsonSerializer.Serialize(doc, new JsonSerializerOptions { WriteIndented = true });
    }
}
