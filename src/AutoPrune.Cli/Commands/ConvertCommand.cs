using System.CommandLine;
using System.Diagnostics;
using AutoPrune.Loading.Gguf;

namespace AutoPrune.Cli.Commands;

/// <summary>`autoprune convert`: write a llava-hf folder as llama.cpp's two GGUF files.</summary>
public static class ConvertCommand
{
    public static Command Create()
    {
        var modelDir = new Argument<string>("model") { Description = "llava-hf model folder (config.json, *.safetensors, tokenizer.model)" };
        var outDir = new Argument<string>("out") { Description = "output folder (created if missing)" };
        var type = new Option<string>("--type", "-t")
        {
            Description = "weight type of the language model: f16, q8_0, q4_0 or q4_k_m (llama.cpp's mix of Q4_K and Q6_K); the mmproj file is always F16",
            DefaultValueFactory = _ => "f16",
            HelpName = "TYPE",
        };
        type.AcceptOnlyFromAmong("f16", "q8_0", "q4_0", "q4_k_m");
        var weights = Cli.WeightsOption();
        var cmd = new Command("convert", "Write a llava-hf model as llama.cpp GGUF files: ggml-model-TYPE.gguf (language model) and mmproj-model-f16.gguf")
        {
            modelDir, outDir, type, weights,
        };
        cmd.SetAction(r =>
        {
            var t = LlavaGgufConverter.ParseType(r.GetValue(type)!);
            var o = r.InvocationConfiguration.Output;
            var sw = Stopwatch.StartNew();
            var (lm, mm) = LlavaGgufConverter.Convert(r.GetValue(modelDir)!, r.GetValue(outDir)!, t, r.GetValue(weights));
            o.WriteLine($"{lm} ({new FileInfo(lm).Length / 1048576.0:F1} MiB)");
            o.WriteLine($"{mm} ({new FileInfo(mm).Length / 1048576.0:F1} MiB)");
            o.WriteLine($"converted in {sw.Elapsed.TotalSeconds:F1} s");
            return 0;
        });
        return cmd;
    }
}
