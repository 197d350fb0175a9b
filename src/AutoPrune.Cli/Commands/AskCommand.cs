using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using AutoPrune.Models;
using AutoPrune.Pruning;

namespace AutoPrune.Cli.Commands;

/// <summary>`autoprune ask`: answer one question about one image.</summary>
public static class AskCommand
{
    public static Command Create()
    {
        var question = new Argument<string>("question") { Description = "the question about the image" };
        var image = new Option<string>("--image", "-i") { Description = "image file (PNG, JPEG, BMP, GIF, TGA)", Required = true, HelpName = "FILE" };
        var model = Cli.ModelOption();
        var weights = Cli.WeightsOption();
        var maxNew = new Option<int?>("--max-new-tokens") { Description = "stop after this many tokens (default: the model's generation_config.json)", HelpName = "N" };
        var temperature = new Option<float>("--temperature") { Description = "sampling temperature; 0 = greedy (default)", DefaultValueFactory = _ => 0f };
        var topP = new Option<float>("--top-p") { Description = "nucleus sampling threshold (with --temperature > 0)", DefaultValueFactory = _ => 1f };
        var seed = new Option<int>("--seed") { Description = "random seed for sampling", DefaultValueFactory = _ => 0 };
        var pad = new Option<bool>("--pad-to-square") { Description = "pad the image to a square with the mean color first (original LLaVA), instead of llava-hf's center crop" };
        var json = Cli.JsonOption();
        var trace = new Option<bool>("--trace") { Description = "print visual tokens per layer, MI, FLOPs and timings" };
        var (policy, budget, settings, positions) = PolicyOptionsCli.Create();

        var cmd = new Command("ask", "Answer a question about an image")
        {
            question, image, model, weights, maxNew, temperature, topP, seed, pad, policy, budget, settings, positions, json, trace,
        };
        foreach (var f in PolicyOptionsCli.SettingFlags()) cmd.Options.Add(f);
        cmd.SetAction(r =>
        {
            var q = r.GetValue(question)!;
            if (string.IsNullOrWhiteSpace(q)) throw new InvalidPromptException("the question is empty");
            var pol = PolicyOptionsCli.Build(r, policy, budget, settings, positions);
            var sw = Stopwatch.StartNew();
            using var m = VisionLanguageModel.Load(r.GetValue(model) ?? Cli.DefaultModelDir(), r.GetValue(weights), r.GetValue(pad));
            double loadMs = sw.Elapsed.TotalMilliseconds;
            var answer = Generator.Ask(m, r.GetValue(image)!, q, new GenerationOptions
            {
                MaxNewTokens = r.GetValue(maxNew), Temperature = r.GetValue(temperature), TopP = r.GetValue(topP),
                Seed = r.GetValue(seed), Policy = pol,
            });
            var o = r.InvocationConfiguration.Output;
            if (r.GetValue(json))
            {
                var obj = new Dictionary<string, object?>
                {
                    ["answer"] = answer.Text,
                    ["output_ids"] = answer.OutputIds,
                    ["prompt_tokens"] = answer.PromptTokens,
                    ["visual_tokens"] = answer.VisualTokens,
                    ["load_ms"] = Math.Round(loadMs, 2),
                    ["prefill_ms"] = Math.Round(answer.PrefillMs, 2),
                    ["decode_ms"] = Math.Round(answer.DecodeMs, 2),
                    ["generated_tokens"] = answer.OutputIds.Length,
                    ["policy"] = answer.Trace.Policy,
                    ["trace"] = AutoPrune.Accounting.TraceJson.ToObject(answer.Trace),
                };
                o.WriteLine(JsonSerializer.Serialize(obj));
            }
            else
            {
                o.WriteLine(answer.Text);
                if (r.GetValue(trace)) TraceTable.Print(answer.Trace, o);
                var e = r.InvocationConfiguration.Error;
                e.WriteLine($"load {loadMs:F0} ms | prefill {answer.PrefillMs:F1} ms ({answer.Trace.TextTokens} text + {answer.VisualTokens} visual tokens) | " +
                            $"decode {answer.DecodeMs:F1} ms ({answer.OutputIds.Length} tokens) | mean visual tokens/layer {answer.Trace.MeanVisualTokens:F1} | " +
                            $"FLOPs -{answer.Trace.FlopsReduction:F1}%");
            }
            return 0;
        });
        return cmd;
    }
}
