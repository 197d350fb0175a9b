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
        var shape = new Option<string>("--shape") { Description = "llava-7b, llava-13b, llava-next-7b (5 tiles, 2,880 visual tokens), tiny (the embedded model's shape, built in) or a model folder", DefaultValueFactory = _ => "llava-7b", HelpName = "NAME|DIR" };
        var layers = new Option<int?>("--layers") { Description = "decoder layers to build (default 4; the shape's full depth is more faithful for --policy)", HelpName = "N" }
            .Validate(n => n is null or >= 1, "at least 1");
        var dtype = new Option<string>("--dtype")
        {
            Description = "weight type of the synthetic model: bf16, f16, f32, or a GGUF block type q8_0, q4_k, q6_k, q4_0 " +
                          "(then the GEMM and GEMV rows also time that type beside BF16)",
            DefaultValueFactory = _ => "bf16", HelpName = "TYPE",
        };
        dtype.AcceptOnlyFromAmong("bf16", "f16", "f32", "q8_0", "q4_k", "q6_k", "q4_0");
        var visual = new Option<string?>("--visual") { Description = "visual-token counts for the prefill timings (default 1/9, 2/9, 1/3 and all of the shape's tokens: 64,128,192,576 for LLaVA-1.5)", HelpName = "N,N,..." };
        var text = new Option<int>("--text") { Description = "text tokens around the image", DefaultValueFactory = _ => 60, HelpName = "N" }.Validate(n => n >= 2, "at least 2");
        var reps = new Option<int>("--reps") { Description = "timed repetitions per point (median reported)", DefaultValueFactory = _ => 3, HelpName = "N" }.Validate(n => n >= 1, "at least 1");
        var decodeSteps = new Option<int>("--decode-steps") { Description = "decode steps to average", DefaultValueFactory = _ => 16, HelpName = "N" }.Validate(n => n >= 1, "at least 1");
        var noGemm = new Option<bool>("--no-gemm") { Description = "skip the GEMM/GEMV kernel timings" };
        var budgets = new Option<string?>("--budgets") { Description = "time --policy at each of these budgets against one shared unpruned prefill (instead of --budget)", HelpName = "T,T,..." };
        var policyOnly = new Option<bool>("--policy-only") { Description = "time only --policy against unpruned: no GEMM, per-layer prefill, decode or vision timings (for full-depth runs)" };
        var blas = new Option<bool>("--compare-blas") { Description = "also time OpenBLAS sgemm (libopenblas0, loaded only if installed) on the same GEMM shapes (not with --no-gemm)" };
        var kvCache = new Option<string>("--kv-cache")
        {
            Description = "KV cache type(s) of the decode timing: f32 (default, exact), bf16, or f32,bf16 for both, timed interleaved in one run " +
                          "(one decode row each; the first is the JSON's \"decode\", all are in \"decode_by_kv_cache\")",
            DefaultValueFactory = _ => "f32", HelpName = "TYPE[,TYPE]",
        };
        var json = Cli.JsonOption();
        var pruning = new PolicyOptionsCli();
        var cmd = new Command("bench", "Time GEMM, decoder prefill per layer, decode and a pruning policy on a random-weight model (no download). " +
                                       "Text results print as they are measured; --json prints one object at the end")
        {
            shape, layers, dtype, visual, text, reps, decodeSteps, kvCache, noGemm, blas, budgets, policyOnly, json,
        };
        pruning.AddTo(cmd);
        cmd.SetAction(r =>
        {
            var err = r.InvocationConfiguration.Error;
            var o = r.InvocationConfiguration.Output;
            bool asJson = r.GetValue(json);
            // Every option is checked before the first timing.
            int nReps = r.GetValue(reps), nText = r.GetValue(text), nDecode = r.GetValue(decodeSteps);
            if (r.GetValue(blas) && r.GetValue(noGemm)) throw new UsageException("--compare-blas times the GEMMs, which --no-gemm skips; drop one of them");
            var dt = r.GetValue(dtype) switch
            {
                "f32" => DType.F32, "f16" => DType.F16, "q8_0" => DType.Q8_0, "q4_k" => DType.Q4_K, "q6_k" => DType.Q6_K, "q4_0" => DType.Q4_0,
                _ => DType.BF16,
            };
            var kvTypes = ParseKvCacheTypes(r.GetValue(kvCache)!);
            string kvNames = string.Join(",", kvTypes.Select(Cli.KvCacheName));
            var shapeName = r.GetValue(shape)!;
            var (cfg, tiles) = ResolveShape(shapeName);
            var tc = cfg.Text;
            int n0 = cfg.ImageSeqLength * tiles, vh = cfg.Vision.HiddenSize, imageToken = cfg.ImageTokenIndex;
            int nLayers = r.GetValue(layers) ?? Math.Min(4, tc.NumHiddenLayers);
            var counts = VisualCounts(r.GetValue(visual), n0);
            bool only = r.GetValue(policyOnly);
            var policies = new List<(Pruning.IPruningPolicy Policy, double? Budget)>();
            if (r.GetValue(budgets) is string list)
            {
                if (r.GetValue(pruning.Budget) != null) throw new UsageException("--budgets and --budget both give the budget; drop one of them");
                foreach (var b in ParseBudgets(list)) policies.Add((Pruning.PolicyFactory.Create(r.GetValue(pruning.Policy)!, pruning.Options(r, b)), b));
            }
            else if (pruning.Create(r) is var created and not Pruning.NoPruning) policies.Add((created, r.GetValue(pruning.Budget)));
            if (policies.Count > 0 && policies[0].Policy is Pruning.NoPruning) throw new UsageException("--budgets needs a --policy other than none");
            if (only && policies.Count == 0) throw new UsageException("--policy-only needs --policy (and --budget or --budgets)");
            foreach (var (p, _) in policies) p.Begin(new Pruning.PruningSetup(n0, nLayers, new Accounting.PrefillTrace()));   // infeasible budget: refused now
            bool noGemmValue = only;
            if (only) counts.Clear();
            bool compare = r.GetValue(blas);
            if (compare && !OpenBlas.TryLoad(out var why)) { err.WriteLine($"OpenBLAS not available ({why}); timing ours only"); compare = false; }

            // GEMMs of this shape's prefill: all visual tokens against the attention and MLP projections.
            var gemmShapes = new[] { (n0, tc.HiddenSize, tc.HiddenSize), (n0, tc.IntermediateSize, tc.HiddenSize), (n0, tc.HiddenSize, tc.IntermediateSize) };
            var gemmTypes = dt.IsQuantized() ? new[] { DType.F32, DType.BF16, dt } : [DType.F32, DType.BF16];
            bool skipGemm = r.GetValue(noGemm) || noGemmValue;
            int steps = (skipGemm ? 0 : gemmShapes.Length * gemmTypes.Length + 1) + counts.Count + (only ? 0 : 2) + (policies.Count > 0 ? 1 : 0), step = 0;
            void Step(string what) => err.WriteLine($"[{++step}/{steps}] {what} ...");
            void Line(string text) { if (!asJson) { o.WriteLine(text); o.Flush(); } }

            var result = new Dictionary<string, object?>
            {
                ["shape"] = shapeName, ["weight_dtype"] = dt.Name(), ["kv_cache"] = kvNames, ["threads"] = Environment.ProcessorCount,
                ["cpu"] = Simd.CpuModel(), ["cpu_features"] = Simd.CpuFeatures(),
                ["kernels"] = new Dictionary<string, string>
                {
                    ["gemm"] = Gemm.Isa, ["gemv"] = Gemm.Isa, ["attention"] = Attention.Isa, ["elementwise"] = Ops.Isa,
                    ["block_quantized"] = Tensors.Quant.QuantDot.Isa,
                },
            };
            Line($"shape {shapeName} | weights {dt.Name()} | KV cache {kvNames} | threads {Environment.ProcessorCount}");
            Line($"cpu {result["cpu"]} ({result["cpu_features"]}) | kernels: GEMM/GEMV {Gemm.Isa}, attention {Attention.Isa}, elementwise {Ops.Isa}, " +
                 $"block-quantized {Tensors.Quant.QuantDot.Isa}");
            double bestBf16Gemm = 0;
            if (!skipGemm)
            {
                // The hardware ceiling for the GEMM rows: clock measured by an FMA latency chain (see CpuPeak).
                var peak = CpuPeak.Measure(Parallelism.MaxThreads);
                if (peak != null)
                {
                    result["fma_peak"] = new PeakRow(peak.Threads, R(peak.ClockGhz, 3), R(peak.NominalMhz, 0), peak.Lanes, peak.FmaPerCycle, R(peak.PeakGflops));
                    Line($"FMA peak {R(peak.PeakGflops)} GFLOP/s = {peak.Threads} threads x {R(peak.ClockGhz, 2)} GHz x {peak.Lanes} lanes x " +
                         $"{peak.FmaPerCycle} FMA/cycle x 2 (clock measured by a dependent-FMA chain; /proc/cpuinfo says {R(peak.NominalMhz, 0)} MHz)");
                }
                var gemm = new List<GemmRow>();
                Line("GEMM (M x N x K)      dtype  GFLOP/s  OpenBLAS  ratio  % of FMA peak");
                foreach (var (m, n, k) in gemmShapes)
                    foreach (var wd in gemmTypes)
                    {
                        Step($"gemm {m}x{n}x{k} {wd.Name()}");
                        var g = GemmBenchmark.MeasureGemm(m, n, k, wd, reps: Math.Max(3, nReps), compareBlas: compare);
                        var x = new GemmRow(m, n, k, wd.Name(), R(g.Gflops), g.BlasGflops is { } bl ? R(bl) : null, g.Ratio is { } q ? R(q, 3) : null,
                            peak == null ? null : R(100 * g.Gflops / peak.PeakGflops, 1));
                        gemm.Add(x);
                        if (wd == DType.BF16) bestBf16Gemm = Math.Max(bestBf16Gemm, g.Gflops);
                        Line($"  {$"{x.M}x{x.N}x{x.K}",-19} {x.WeightDtype,-5} {x.Gflops,8} {x.BlasGflops?.ToString() ?? "-",9} {x.Ratio?.ToString() ?? "-",6} {x.PeakPercent?.ToString() ?? "-",8}");
                    }
                result["gemm"] = gemm;
                Step($"gemv 1x{tc.HiddenSize}x{tc.IntermediateSize} BF16");
                var gv = GemmBenchmark.MeasureGemv(tc.HiddenSize, tc.IntermediateSize, DType.BF16);
                var gvr = new GemvRow(gv.N, gv.K, gv.WeightDType.Name(), R(gv.GBps), R(GemmBenchmark.MeasureReadBandwidth((long)tc.HiddenSize * tc.IntermediateSize * 2)));
                result["gemv"] = gvr;
                Line($"GEMV 1x{gvr.N}x{gvr.K} {gvr.WeightDtype}: {gvr.Gbps} GB/s (plain parallel read of the same bytes: {gvr.ReadGbps} GB/s, " +
                     $"{R(gvr.Gbps / gvr.ReadGbps * 100, 1)}%)");
                if (dt.IsQuantized())
                {
                    // Bandwidth counts the bytes of blocks read; BF16, the block type and a plain read of each size take
                    // turns rep by rep, so the percentages and the speed ratio come from the same moments of a shared machine.
                    var pair = InterleavedBenchmark.Gemv(tc.HiddenSize, tc.IntermediateSize, [DType.BF16, dt], 20);
                    var (b, q) = (pair[0], pair[1]);
                    var qr = new GemvRow(tc.HiddenSize, tc.IntermediateSize, dt.Name(), R(q.Best), R(q.ReadGBps));
                    result["gemv_quantized"] = qr;
                    Line($"GEMV 1x{qr.N}x{qr.K} {qr.WeightDtype}: {qr.Gbps} GB/s of blocks (plain parallel read: {qr.ReadGbps} GB/s, " +
                         $"{R(qr.Gbps / qr.ReadGbps * 100, 1)}%); {R(q.BestMicroseconds, 1)} us vs BF16 {R(b.BestMicroseconds, 1)} us " +
                         $"({R(b.BestMicroseconds / q.BestMicroseconds, 2)}x; BF16 {R(b.Best)} GB/s, {R(b.Best / b.ReadGBps * 100, 1)}% of its read, in the same reps)");
                }
            }

            err.WriteLine($"building a random {shapeName} decoder ({nLayers} layers, {dt.Name()}) ...");
            using var sd = SyntheticDecoder.Create(shapeName, tc, n0, vh, nLayers, dt);
            // How well time follows the FLOP formula: each point against the rate of the full-image one (all n0 tokens),
            // measured first so every row can print as soon as it is measured.
            var order = counts.OrderByDescending(v => v).ToList();
            var points = new Dictionary<int, PrefillPoint>();
            double msPerFlop = 0;
            if (counts.Count > 0) Line("prefill  visual  total  ms/layer  formula GFLOP/s (1 per multiply-add)  time vs FLOP model (largest = 1)");
            var prefillRows = new List<PrefillRow>();
            foreach (var v in order)
            {
                Step($"prefill {v} visual + {nText} text tokens");
                var p = ModelBenchmark.MeasurePrefill(sd, v, nText, nReps, imageToken);
                if (msPerFlop == 0) msPerFlop = p.MsPerLayer / p.FlopsPerLayer;
                var row = new PrefillRow(p.VisualTokens, p.TotalTokens, R(p.MsPerLayer, 3), p.FlopsPerLayer, R(p.FormulaGflops), R(p.MsPerLayer / (p.FlopsPerLayer * msPerFlop), 3));
                prefillRows.Add(row);
                Line($"         {row.VisualTokens,6} {row.TotalTokens,6} {row.MsPerLayer,9} {row.FormulaGflops,8} {row.VsFlopModel,37}");
            }
            if (!only)
            {
                result["prefill"] = counts.Select(v => prefillRows.First(x => x.VisualTokens == v)).ToList();
                Step($"decode, KV cache {kvNames}");
                var dbs = DecodeBenchmark.Measure(sd, n0, nText, nDecode, imageToken, kvTypes);
                var decodeRows = new List<DecodeRow>();
                foreach (var db in dbs)
                {
                    string kv = Cli.KvCacheName(db.KvCache);
                    var row = new DecodeRow(kv, R(db.TokenMs, 3), R(db.GemvMs, 3), R(db.AttentionMs, 3), R(db.OtherMs, 3), R(db.GemvGBps), R(db.ReadGBps),
                        R(db.GemvGBps / db.ReadGBps * 100, 1), R(db.AttentionGBps), R(db.OutsideGemvPercent, 1));
                    decodeRows.Add(row);
                    Line($"decode {row.MsPerToken} ms/token, KV cache {kv}: GEMVs {R(db.GemvMs, 2)} ms ({R(db.GemvGBps)} GB/s of weights, " +
                         $"{R(db.GemvGBps / db.ReadGBps * 100, 1)}% of a plain read's {R(db.ReadGBps)} GB/s) | attention {R(db.AttentionMs, 2)} ms " +
                         $"({R(db.AttentionGBps)} GB/s of {kv.ToUpperInvariant()} KV) | other {R(db.OtherMs, 2)} ms | outside GEMVs {R(db.OutsideGemvPercent, 1)}%");
                }
                result["decode_ms_per_token"] = decodeRows[0].MsPerToken;
                result["decode"] = decodeRows[0];
                result["decode_by_kv_cache"] = decodeRows;

                // The vision tower against the decoder: all tiles of one image, and the full-depth decoder prefill of
                // its n0 visual + text tokens (the all-tokens point's ms/layer times the shape's layer count).
                Step($"vision tower + projector, {tiles} tile{(tiles > 1 ? "s" : "")}");
                // A quantized model's vision tower stays F16, as in llama.cpp's mmproj files (its patch rows are not whole blocks).
                using var tower = SyntheticVisionTower.Create(cfg, dt.IsQuantized() ? DType.F16 : dt);
                var full = prefillRows.FirstOrDefault(x => x.VisualTokens == n0);
                double flops = SyntheticVisionTower.Flops(cfg, tiles), visionMs = tower.MeasureTilesMs(tiles, nReps), visionGflops = flops / (visionMs * 1e6);
                var vision = new VisionRow(tiles, R(visionMs), tc.NumHiddenLayers, full == null ? null : R(full.MsPerLayer * tc.NumHiddenLayers),
                    R(flops / 1e9, 2), R(visionGflops), bestBf16Gemm > 0 ? R(visionGflops / bestBf16Gemm, 3) : null);
                result["vision"] = vision;
                Line($"vision tower + projector {vision.Tiles} tile(s) {vision.VisionMs} ms, {vision.Gflops} GFLOP/s of {vision.GemmGflop} GFLOP of products" +
                     (vision.VsGemm is double vg ? $" ({vg} of the best BF16 GEMM row)" : "") + (vision.DecoderPrefillMs is double dp
                    ? $" | decoder prefill {n0}+{nText} tokens x {vision.DecoderLayers} layers {dp} ms (ms/layer x layers) | vision share {R(vision.VisionMs / (vision.VisionMs + dp) * 100, 1)}%"
                    : ""));
            }
            if (policies.Count > 0)
            {
                Step($"policy {policies[0].Policy.Name} at {policies.Count} budget(s) vs unpruned");
                var rows = new List<PolicyRow>();
                foreach (var pp in ModelBenchmark.MeasurePolicies(sd, policies, nText, nReps, imageToken))
                {
                    var pr = new PolicyRow(pp.Policy, pp.Budget, sd.Config.NumHiddenLayers, R(pp.PrefillMsUnpruned), R(pp.PrefillMsPruned),
                        R(pp.Speedup, 3), R(pp.FlopRatio, 3), R(pp.Speedup / pp.FlopRatio, 3), R(pp.MeanVisualTokens), R(100 * (1 - 1 / pp.FlopRatio), 1),
                        pp.VisualTokensPerLayer);
                    rows.Add(pr);
                    Line($"policy {pr.Policy} budget {pr.Budget} over {pr.Layers} layers: prefill {pr.PrefillMsUnpruned} -> {pr.PrefillMsPruned} ms, " +
                         $"speedup {pr.Speedup}x vs FLOP ratio {pr.FlopRatio}x ({pr.SpeedupVsFlopRatio}), mean visual tokens {pr.MeanVisualTokens}, FLOPs -{pr.FlopsReductionPercent}%");
                }
                if (rows.Count == 1) result["policy"] = rows[0]; else result["policies"] = rows;
            }
            result["peak_rss_mb"] = R(ModelBenchmark.PeakRssMb(), 1);
            result["note"] = "one random layer shared by all layers (timing-equivalent); peak_rss_mb excludes a real checkpoint's mapped weights";
            Line($"peak RSS {result["peak_rss_mb"]} MiB ({result["note"]})");
            if (asJson) o.WriteLine(JsonSerializer.Serialize(result, JsonOut));
            return 0;
        });
        return cmd;
    }

    /// <summary>The shape's config and how many vision-tower tiles one image runs as (LLaVA-NeXT: its largest tiling).</summary>
    private static (LlavaConfig Config, int Tiles) ResolveShape(string name)
    {
        LlavaConfig cfg;
        if (ModelShapes.IsNamed(name)) return (ModelShapes.Get(name), ModelShapes.Tiles(name));
        else if (name == "tiny")
        {
            // The embedded model's config.json is built into the tool, so the shape works outside a checkout.
            using var s = typeof(BenchCommand).Assembly.GetManifestResourceStream(TinyConfigResource)
                ?? throw new InvalidOperationException($"resource {TinyConfigResource} missing from the build");
            using var doc = JsonDocument.Parse(s);
            cfg = LlavaConfig.Parse(doc.RootElement, $"{Cli.EmbeddedModelName}/config.json");
        }
        else
        {
            var path = Path.Combine(ModelFolder.Resolve(name), ModelFolder.ConfigFileName);
            if (Models.VisionLanguageModel.ModelType(name) == "llava_next")
            {
                var next = LlavaNextConfig.Load(path);
                int tile = next.Llava.Vision.ImageSize;
                return (next.Llava, 1 + next.ImageGridPinpoints.Max(p => (p.Height / tile) * (p.Width / tile)));
            }
            cfg = LlavaConfig.Load(path);
        }
        return (cfg, 1);
    }

    private static List<double> ParseBudgets(string text)
    {
        var list = new List<double>();
        foreach (var s in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var b) || !(b > 0) || double.IsInfinity(b))
                throw new UsageException($"--budgets '{s}' must be a positive number");
            list.Add(b);
        }
        if (list.Count == 0) throw new UsageException("--budgets is empty");
        return list;
    }

    private const string TinyConfigResource = "AutoPrune.Cli.tiny-config.json";

    private static List<int> VisualCounts(string? text, int n0)
    {
        if (text == null) return [(int)Math.Round(n0 / 9.0), (int)Math.Round(2 * n0 / 9.0), (int)Math.Round(n0 / 3.0), n0];
        var list = new List<int>();
        foreach (var s in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!int.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out var v) || v < 1 || v > n0)
                throw new UsageException($"--visual '{s}' must be a whole number from 1 to {n0}");
            list.Add(v);
        }
        return list;
    }

    /// <summary>--kv-cache's comma list: f32 and/or bf16, each at most once.</summary>
    private static List<Models.KvCacheType> ParseKvCacheTypes(string text)
    {
        var list = new List<Models.KvCacheType>();
        foreach (var s in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var t = Cli.ParseKvCache(s) ?? throw new UsageException($"--kv-cache '{s}' is not one of: f32, bf16");
            if (list.Contains(t)) throw new UsageException($"--kv-cache lists {s} twice");
            list.Add(t);
        }
        if (list.Count == 0) throw new UsageException("--kv-cache is empty");
        return list;
    }

    private static double R(double v, int digits = 2) => Math.Round(v, digits);

    private static readonly JsonSerializerOptions JsonOut = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    private sealed record GemmRow(int M, int N, int K, string WeightDtype, double Gflops, double? BlasGflops, double? Ratio, double? PeakPercent);
    private sealed record PeakRow(int Threads, double ClockGhz, double NominalMhz, int Lanes, int FmaPerCycle, double PeakGflops);
    /// <summary>One decode step split into its GEMVs, its attention and the rest (each timed alone in the same run).</summary>
    private sealed record DecodeRow(string KvCache, double MsPerToken, double GemvMs, double AttentionMs, double OtherMs, double GemvGbps, double ReadGbps,
        double GemvPercentOfRead, double AttentionGbps, double OutsideGemvPercent);
    private sealed record GemvRow(int N, int K, string WeightDtype, double Gbps, double ReadGbps);
    /// <summary>FormulaGflops: the FLOP formula's count per second; the formula counts a multiply-add as one FLOP.</summary>
    private sealed record PrefillRow(int VisualTokens, int TotalTokens, double MsPerLayer, double FlopsPerLayer, double FormulaGflops, double VsFlopModel);
    private sealed record PolicyRow(string Policy, double? Budget, int Layers, double PrefillMsUnpruned, double PrefillMsPruned, double Speedup,
        double FlopRatio, double SpeedupVsFlopRatio, double MeanVisualTokens, double FlopsReductionPercent, int[] VisualTokensPerLayer);
    /// <summary>DecoderPrefillMs: the all-visual-tokens point's ms/layer times the shape's full depth (null without that point).</summary>
    private sealed record VisionRow(int Tiles, double VisionMs, int DecoderLayers, double? DecoderPrefillMs, double GemmGflop, double Gflops, double? VsGemm);
}
