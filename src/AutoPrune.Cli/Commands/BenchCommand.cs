using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using AutoPrune.Benchmarking;
using AutoPrune.Loading;
using AutoPrune.Tensors;

namespace AutoPrune.Cli.Commands;

/// <summary>`autoprune bench`: kernel and decoder timings on a random-weight model built in memory.</summary>
public static class BenchCommand
{
    public static Command Create()
    {
        var shape = new Option<string>("--shape") { Description = "llava-7b, llava-13b, tiny (the embedded model's shape) or a model folder", DefaultValueFactory = _ => "llava-7b" };
        var layers = new Option<int?>("--layers") { Description = "decoder layers to build (default 4; the shape's full depth is more faithful for --policy)", HelpName = "N" };
        var dtype = new Option<string>("--dtype") { Description = "weight dtype of the synthetic model: bf16, f16, f32", DefaultValueFactory = _ => "bf16" };
        dtype.AcceptOnlyFromAmong("bf16", "f16", "f32");
        var visual = new Option<string?>("--visual") { Description = "visual-token counts for the prefill timings (default 1/9, 2/9, 1/3 and all of the shape's tokens: 64,128,192,576 for LLaVA-1.5)", HelpName = "N,N,..." };
        var text = new Option<int>("--text") { Description = "text tokens around the image", DefaultValueFactory = _ => 60 };
        var reps = new Option<int>("--reps") { Description = "timed repetitions per point (median reported)", DefaultValueFactory = _ => 3 };
        var decodeSteps = new Option<int>("--decode-steps") { Description = "decode steps to average", DefaultValueFactory = _ => 16 };
        var noGemm = new Option<bool>("--no-gemm") { Description = "skip the GEMM/GEMV kernel timings" };
        var blas = new Option<bool>("--compare-blas") { Description = "also time OpenBLAS sgemm (libopenblas0, loaded only if installed) on the same shapes" };
        var json = Cli.JsonOption();
        var (policy, budget, settings, positions) = PolicyOptionsCli.Create();
        var cmd = new Command("bench", "Time GEMM, decoder prefill per layer, decode and a pruning policy on a random-weight model (no download)")
        {
            shape, layers, dtype, visual, text, reps, decodeSteps, noGemm, blas, policy, budget, settings, positions, json,
        };
        foreach (var f in PolicyOptionsCli.SettingFlags()) cmd.Options.Add(f);
        cmd.SetAction(r =>
        {
            var err = r.InvocationConfiguration.Error;
            var o = r.InvocationConfiguration.Output;
            int nReps = r.GetValue(reps), nText = r.GetValue(text), nDecode = r.GetValue(decodeSteps);
            if (nReps < 1 || nText < 2 || nDecode < 1) throw new ArgumentException("--reps and --decode-steps must be >= 1 and --text >= 2");
            var dt = r.GetValue(dtype) switch { "f32" => DType.F32, "f16" => DType.F16, _ => DType.BF16 };
            var shapeName = r.GetValue(shape)!;
            var (tc, n0, vh, imageToken) = ResolveShape(shapeName);
            var pol = r.GetValue(policy) is "none" ? null : PolicyOptionsCli.Build(r, policy, budget, settings, positions);

            var result = new Dictionary<string, object?>
            {
                ["shape"] = shapeName, ["weight_dtype"] = dt.Name(), ["threads"] = Environment.ProcessorCount,
            };
            if (!r.GetValue(noGemm))
            {
                bool compare = r.GetValue(blas);
                if (compare && !OpenBlas.TryLoad(out var why)) { err.WriteLine($"OpenBLAS not available ({why}); timing ours only"); compare = false; }
                var gemm = new List<GemmRow>();
                foreach (var (m, n, k) in new[] { (576, 4096, 4096), (576, 11008, 4096), (576, 4096, 11008) })
                    foreach (var wd in new[] { DType.F32, DType.BF16 })
                    {
                        err.WriteLine($"gemm {m}x{n}x{k} {wd.Name()} ...");
                        var g = GemmBenchmark.MeasureGemm(m, n, k, wd, reps: Math.Max(3, nReps), compareBlas: compare);
                        gemm.Add(new GemmRow(m, n, k, wd.Name(), R(g.Gflops), g.BlasGflops is { } b ? R(b) : null, g.Ratio is { } q ? R(q, 3) : null));
                    }
                result["gemm"] = gemm;
                err.WriteLine("gemv 1x4096x11008 BF16 ...");
                var gv = GemmBenchmark.MeasureGemv(4096, 11008, DType.BF16);
                result["gemv"] = new GemvRow(gv.N, gv.K, gv.WeightDType.Name(), R(gv.GBps), R(GemmBenchmark.MeasureReadBandwidth()));
            }

            err.WriteLine($"building a random {shapeName} decoder ({r.GetValue(layers) ?? 4} layers, {dt.Name()}) ...");
            using var sd = SyntheticDecoder.Create(shapeName, tc, n0, vh, r.GetValue(layers) ?? 4, dt);
            var points = new List<PrefillPoint>();
            foreach (var v in VisualCounts(r.GetValue(visual), n0))
            {
                err.WriteLine($"prefill {v} visual + {nText} text tokens ...");
                points.Add(ModelBenchmark.MeasurePrefill(sd, v, nText, nReps, imageToken));
            }
            // How well time follows the FLOP formula: each point against the rate of the largest one.
            var refPoint = points[^1];
            double msPerFlop = refPoint.MsPerLayer / refPoint.FlopsPerLayer;
            var prefillRows = new List<PrefillRow>();
            foreach (var p in points)
                prefillRows.Add(new PrefillRow(p.VisualTokens, p.TotalTokens, R(p.MsPerLayer, 3), p.FlopsPerLayer, R(p.FormulaGflops),
                    R(p.MsPerLayer / (p.FlopsPerLayer * msPerFlop), 3)));
            result["prefill"] = prefillRows;
            err.WriteLine("decode ...");
            result["decode_ms_per_token"] = R(ModelBenchmark.MeasureDecodeMs(sd, n0, nText, nDecode, imageToken), 3);
            if (pol != null)
            {
                err.WriteLine($"policy {pol.Name} vs unpruned ...");
                var pp = ModelBenchmark.MeasurePolicy(sd, pol, r.GetValue(budget), nText, nReps, imageToken);
                result["policy"] = new PolicyRow(pp.Policy, pp.Budget, sd.Config.NumHiddenLayers, R(pp.PrefillMsUnpruned), R(pp.PrefillMsPruned),
                    R(pp.Speedup, 3), R(pp.FlopRatio, 3), R(pp.Speedup / pp.FlopRatio, 3), R(pp.MeanVisualTokens), pp.VisualTokensPerLayer);
            }
            result["peak_rss_mb"] = R(ModelBenchmark.PeakRssMb(), 1);
            result["note"] = "one random layer shared by all layers (timing-equivalent); peak_rss_mb excludes a real checkpoint's mapped weights";

            if (r.GetValue(json)) { o.WriteLine(JsonSerializer.Serialize(result, JsonOut)); return 0; }
            Print(result, o);
            return 0;
        });
        return cmd;
    }

    private static (LlamaConfig text, int visualTokens, int visionHidden, int imageToken) ResolveShape(string name)
    {
        var cfg = ModelShapes.IsNamed(name) ? ModelShapes.Get(name)
            : LlavaConfig.Load(Path.Combine(ModelFolder.Resolve(name == "tiny" ? Cli.DefaultModelDir() : name), ModelFolder.ConfigFileName));
        return (cfg.Text, cfg.ImageSeqLength, cfg.Vision.HiddenSize, cfg.ImageTokenIndex);
    }

    private static List<int> VisualCounts(string? text, int n0)
    {
        if (text == null) return [(int)Math.Round(n0 / 9.0), (int)Math.Round(2 * n0 / 9.0), (int)Math.Round(n0 / 3.0), n0];
        var list = new List<int>();
        foreach (var s in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!int.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out var v) || v < 1 || v > n0)
                throw new ArgumentException($"--visual: '{s}' must be a whole number from 1 to {n0}");
            list.Add(v);
        }
        return list;
    }

    private static double R(double v, int digits = 2) => Math.Round(v, digits);

    private static readonly JsonSerializerOptions JsonOut = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    private sealed record GemmRow(int M, int N, int K, string WeightDtype, double Gflops, double? BlasGflops, double? Ratio);
    private sealed record GemvRow(int N, int K, string WeightDtype, double Gbps, double ReadGbps);
    /// <summary>FormulaGflops: the FLOP formula's count per second; the formula counts a multiply-add as one FLOP.</summary>
    private sealed record PrefillRow(int VisualTokens, int TotalTokens, double MsPerLayer, double FlopsPerLayer, double FormulaGflops, double VsFlopModel);
    private sealed record PolicyRow(string Policy, double? Budget, int Layers, double PrefillMsUnpruned, double PrefillMsPruned, double Speedup,
        double FlopRatio, double SpeedupVsFlopRatio, double MeanVisualTokens, int[] VisualTokensPerLayer);

    private static void Print(Dictionary<string, object?> res, TextWriter o)
    {
        o.WriteLine($"shape {res["shape"]} | weights {res["weight_dtype"]} | threads {res["threads"]}");
        if (res.GetValueOrDefault("gemm") is List<GemmRow> gl)
        {
            o.WriteLine("GEMM (M x N x K)      dtype  GFLOP/s  OpenBLAS  ratio");
            foreach (var x in gl)
                o.WriteLine($"  {$"{x.M}x{x.N}x{x.K}",-19} {x.WeightDtype,-5} {x.Gflops,8} {x.BlasGflops?.ToString() ?? "-",9} {x.Ratio?.ToString() ?? "-",6}");
            if (res.GetValueOrDefault("gemv") is GemvRow gv)
                o.WriteLine($"GEMV 1x{gv.N}x{gv.K} {gv.WeightDtype}: {gv.Gbps} GB/s (plain parallel read: {gv.ReadGbps} GB/s)");
        }
        o.WriteLine("prefill  visual  total  ms/layer  formula GFLOP/s (1 per multiply-add)  time vs FLOP model");
        foreach (var p in (List<PrefillRow>)res["prefill"]!)
            o.WriteLine($"         {p.VisualTokens,6} {p.TotalTokens,6} {p.MsPerLayer,9} {p.FormulaGflops,8} {p.VsFlopModel,37}");
        o.WriteLine($"decode {res["decode_ms_per_token"]} ms/token");
        if (res.GetValueOrDefault("policy") is PolicyRow pr)
            o.WriteLine($"policy {pr.Policy} budget {pr.Budget} over {pr.Layers} layers: prefill {pr.PrefillMsUnpruned} -> {pr.PrefillMsPruned} ms, " +
                        $"speedup {pr.Speedup}x vs FLOP ratio {pr.FlopRatio}x ({pr.SpeedupVsFlopRatio}), mean visual tokens {pr.MeanVisualTokens}");
        o.WriteLine($"peak RSS {res["peak_rss_mb"]} MiB ({res["note"]})");
    }
}
