using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using AutoPrune.Models;

namespace AutoPrune.Cli.Commands;

/// <summary>`autoprune ask`: answer one question about one image.</summary>
public static class AskCommand
{
    public static Command Create()
    {
        var question = Cli.QuestionArgument();
        var image = Cli.ImageOption();
        var model = Cli.ModelOption();
        var weights = Cli.WeightsOption();
        var mmproj = Cli.MmprojOption();
        var quantize = Cli.QuantizeOption();
        var kvCache = Cli.KvCacheOption();
        var maxNew = Cli.MaxNewTokensOption();
        var sampling = new SamplingOptionsCli();
        var pad = Cli.PadToSquareOption();
        var maxPixels = Cli.MaxImagePixelsOption();
        var checkWeights = Cli.CheckWeightsOption();
        var fit = new Option<bool>("--fit-context")
        {
            Description = "when the prompt plus --max-new-tokens exceed the model's context (max_position_embeddings), generate only as many tokens as fit instead of refusing",
        };
        var json = Cli.JsonOption();
        var trace = new Option<bool>("--trace") { Description = "print visual tokens per layer, MI, FLOPs and timings" };
        var pruning = new PolicyOptionsCli();

        var cmd = new Command("ask", "Answer a question about an image") { question, image, model, weights, mmproj, quantize, kvCache, maxNew, pad, maxPixels, checkWeights, fit, json, trace };
        sampling.AddTo(cmd);
        pruning.AddTo(cmd);
        cmd.SetAction(r =>
        {
            var q = r.GetValue(question)!;
            if (string.IsNullOrWhiteSpace(q)) throw new InvalidPromptException("the question is empty");
            var pol = pruning.Create(r);
            Cli.ApplyImageLimit(r, maxPixels);
            var sw = Stopwatch.StartNew();
            using var m = Cli.LoadModel(r, model, weights, mmproj, quantize, r.GetValue(pad), checkWeights, kvCache);
            double loadMs = sw.Elapsed.TotalMilliseconds;
            var prompt = m.Tokenize(q);              // the question is checked before the image work
            sw.Restart();
            var imagePath = r.GetValue(image)!;
            var source = AutoPrune.Loading.ImageLoader.Load(imagePath);
            double imageMs = sw.Elapsed.TotalMilliseconds;
            var answer = Generator.Generate(m, prompt, source, imagePath, sampling.Options(r, r.GetValue(maxNew)) with { Policy = pol, FitToContext = r.GetValue(fit) });
            var o = r.InvocationConfiguration.Output;
            var t = answer.Trace;
            if (r.GetValue(json))
            {
                var obj = new Dictionary<string, object?>
                {
                    ["answer"] = answer.Text,
                    ["output_ids"] = answer.OutputIds,
                    ["prompt_tokens"] = answer.PromptTokens,
                    ["visual_tokens"] = answer.VisualTokens,
                    ["visual_tokens_into_decoder"] = t.VisualTokensIntoDecoder,
                    ["load_ms"] = Math.Round(loadMs, 2),
                    ["image_ms"] = Math.Round(imageMs, 2),
                    ["prefill_ms"] = Math.Round(answer.PrefillMs, 2),
                    ["decode_ms"] = Math.Round(answer.DecodeMs, 2),
                    ["generated_tokens"] = answer.OutputIds.Length,
                    ["policy"] = t.Policy,
                    ["kv_cache"] = Cli.KvCacheName(m.LanguageModel.KvCacheType),
                    ["trace"] = AutoPrune.Accounting.TraceJson.ToObject(t),
                };
                o.WriteLine(JsonSerializer.Serialize(obj));
            }
            else
            {
                o.WriteLine(answer.Text);
                if (r.GetValue(trace)) TraceTable.Print(t, o);
                r.InvocationConfiguration.Error.WriteLine(SummaryLine(loadMs, imageMs, answer) +
                    (m.LanguageModel.KvCacheType == KvCacheType.F32 ? "" : $" | KV cache {Cli.KvCacheName(m.LanguageModel.KvCacheType)}"));
            }
            return 0;
        });
        return cmd;
    }

    /// <summary>The one-line run summary on stderr. Visual tokens are those that entered the decoder, after any
    /// pre-decoder pruning; image time is decoding the file (prefill includes preprocessing and the vision tower).</summary>
    internal static string SummaryLine(double loadMs, double imageMs, Answer a)
    {
        var t = a.Trace;
        string visual = t.VisualTokensIntoDecoder == a.VisualTokens ? $"{a.VisualTokens} visual tokens" : $"{t.VisualTokensIntoDecoder} of {a.VisualTokens} visual tokens";
        return $"load {loadMs:F0} ms | image {imageMs:F1} ms | prefill {a.PrefillMs:F1} ms ({t.TextTokens} text + {visual}) | " +
               $"decode {a.DecodeMs:F1} ms ({a.OutputIds.Length} tokens) | mean visual tokens/layer {t.MeanVisualTokens:F1} | FLOPs -{t.FlopsReduction:F1}%";
    }
}
