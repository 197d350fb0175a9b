using System.Diagnostics;
using AutoPrune.Benchmarking;
using AutoPrune.Loading.Gguf;

namespace AutoPrune.LlamaCppBench;

/// <summary>
/// The model files both engines run, in the work folder: the random llava-hf BF16 folder and, converted from it by
/// the library's converter, one language-model GGUF per type beside one mmproj. Each file is written once; a GGUF is
/// reused when its ".done" marker names the source folder's current stamp (a rewritten source converts again).
/// </summary>
public sealed class BenchFiles
{
    public required string SafetensorsDir { get; init; }
    public required string GgufDir { get; init; }
    public string Mmproj => Path.Combine(GgufDir, LlavaGgufConverter.MmprojFileName);
    public string LanguageModel(GgufFileType t) => Path.Combine(GgufDir, LlavaGgufConverter.FileName(t));

    public static BenchFiles Prepare(BenchOptions o, Action<string> log)
    {
        string stem = $"{o.Shape}-L{o.Layers}";
        var files = new BenchFiles
        {
            SafetensorsDir = Path.Combine(Path.GetFullPath(o.Work), stem + "-bf16"),
            GgufDir = Path.Combine(Path.GetFullPath(o.Work), stem + "-gguf"),
        };
        var sw = Stopwatch.StartNew();
        log($"model folder {files.SafetensorsDir} ({o.Shape}, {o.Layers} decoder layers, BF16)");
        RandomLlavaFolder.Create(files.SafetensorsDir, o.Shape, o.Layers, progress: m => log("  " + m));
        log($"  ready in {sw.Elapsed.TotalSeconds:F0} s");
        Directory.CreateDirectory(files.GgufDir);
        var source = File.ReadAllText(Path.Combine(files.SafetensorsDir, RandomLlavaFolder.StampFileName));
        foreach (var t in o.Types)
        {
            var lm = files.LanguageModel(t);
            string done = lm + ".done", mmDone = files.Mmproj + ".done";
            if (Marked(lm, done, source) && Marked(files.Mmproj, mmDone, source))
            {
                log($"reusing {lm}");
                continue;
            }
            // Every conversion rewrites the shared mmproj: unmark it too until this one completes.
            File.Delete(done);
            File.Delete(mmDone);
            sw.Restart();
            log($"converting to {t} (library converter) ...");
            LlavaGgufConverter.Convert(files.SafetensorsDir, files.GgufDir, t, progress: m => log("  " + m));
            File.WriteAllText(done, source);
            File.WriteAllText(mmDone, source);
            log($"  {new FileInfo(lm).Length / 1e9:F2} GB in {sw.Elapsed.TotalSeconds:F0} s");
        }
        return files;
    }

    private static bool Marked(string file, string marker, string source) =>
        File.Exists(file) && File.Exists(marker) && File.ReadAllText(marker) == source;
}
