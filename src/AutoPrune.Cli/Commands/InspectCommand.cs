using System.CommandLine;
using System.Text.Json;
using AutoPrune.Loading;
using AutoPrune.Tensors;

namespace AutoPrune.Cli.Commands;

/// <summary>`autoprune inspect`: what a model folder holds, without running it.</summary>
public static class InspectCommand
{
    public static Command Create()
    {
        var model = Cli.ModelOption();
        var weights = Cli.WeightsOption();
        var json = Cli.JsonOption();
        var cmd = new Command("inspect", "Show a model's architecture, parameter count, dtypes, tensors and files") { model, weights, json };
        cmd.SetAction(r =>
        {
            var dir = ModelFolder.Resolve(Cli.ModelDir(r.GetValue(model)));
            var cfgPath = Path.Combine(dir, ModelFolder.ConfigFileName);
            bool isNext = AutoPrune.Models.VisionLanguageModel.ModelType(dir) == "llava_next";
            var next = isNext ? LlavaNextConfig.Load(cfgPath) : null;
            var config = next?.Llava ?? LlavaConfig.Load(cfgPath);
            var wf = r.GetValue(weights);
            using var w = CheckpointLoader.Open(wf == null ? dir : Path.Combine(dir, wf));
            long vision = 0, projector = 0, language = 0, other = 0;
            var dtypes = new SortedDictionary<string, long>();
            foreach (var t in w.All)
            {
                if (t.Name.StartsWith("vision_tower.", StringComparison.Ordinal)) vision += t.ElementCount;
                else if (t.Name.StartsWith("multi_modal_projector.", StringComparison.Ordinal)) projector += t.ElementCount;
                else if (t.Name.StartsWith("language_model.", StringComparison.Ordinal)) language += t.ElementCount;
                else other += t.ElementCount;
                dtypes[t.DType.Name()] = dtypes.GetValueOrDefault(t.DType.Name()) + 1;
            }
            var files = new SortedDictionary<string, long>();
            foreach (var f in Directory.EnumerateFiles(dir)) files[Path.GetFileName(f)] = new FileInfo(f).Length;
            var c = config; var tc = c.Text; var vc = c.Vision;
            var info = new Dictionary<string, object?>
            {
                ["model"] = dir,
                ["architecture"] = isNext ? "LlavaNextForConditionalGeneration" : "LlavaForConditionalGeneration",
                ["vision"] = $"CLIP ViT {vc.NumHiddenLayers} layers (runs {c.VisionLayersUsed}), hidden {vc.HiddenSize}, {vc.NumAttentionHeads} heads, MLP {vc.IntermediateSize}, image {vc.ImageSize}, patch {vc.PatchSize}, {vc.HiddenAct}",
                ["visual_tokens"] = next == null ? c.ImageSeqLength
                    : $"{next.ImageSeqLength} per tile; base view + a grid of tiles over pinpoints {string.Join(" ", next.ImageGridPinpoints)} (h, w)",
                ["projector"] = $"linear {vc.HiddenSize}->{tc.HiddenSize} + gelu + linear",
                ["language"] = $"{(tc.ModelType == "mistral" ? "Mistral" : "LLaMA")} {tc.NumHiddenLayers} layers, hidden {tc.HiddenSize}, {tc.NumAttentionHeads} heads ({tc.NumKeyValueHeads} kv), head_dim {tc.HeadDim}, MLP {tc.IntermediateSize}, vocab {tc.VocabSize}, rms_eps {tc.RmsNormEps}, rope_theta {tc.RopeTheta}",
                ["parameters"] = vision + projector + language + other,
                ["parameters_vision"] = vision,
                ["parameters_projector"] = projector,
                ["parameters_language"] = language,
                ["tensors"] = w.Names.Count,
                ["dtypes"] = dtypes,
                ["files"] = files,
            };
            var o = r.InvocationConfiguration.Output;
            if (r.GetValue(json)) { o.WriteLine(JsonSerializer.Serialize(info)); return 0; }
            foreach (var (k, v) in info)
            {
                string s = v switch
                {
                    long n when k.StartsWith("parameters") => $"{n:N0}",
                    System.Collections.IDictionary d => string.Join(", ", d.Keys.Cast<object>().Select(x => $"{x} {FormatSize(k, d[x])}")),
                    _ => v?.ToString() ?? "",
                };
                o.WriteLine($"{k,-22} {s}");
            }
            return 0;
        });
        return cmd;
    }

    private static string FormatSize(string key, object? v) =>
        key == "files" && v is long b ? (b >= 1 << 20 ? $"{b / (double)(1 << 20):F1} MiB" : $"{b:N0} B") : $"({v})";
}
