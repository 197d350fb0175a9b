using System.Globalization;
using AutoPrune.Benchmarking;
using AutoPrune.Tensors;

namespace AutoPrune.Benchmarks;

/// <summary>
/// `--quant [--reps N] [--threads T] [--simd all|avx2|avx512] [--m 576] [--copies C]`: block-quantized GEMM (prefill,
/// M x 4096 x 4096) and GEMV (decode, 4096 x 11008; C distinct weights per rep, so the bytes can exceed the L3 cache)
/// beside BF16, interleaved rep by rep, with the plain read of each weight size.
/// </summary>
public static class QuantQuick
{
    public static int Run(string[] args)
    {
        int reps = 10, threads = Environment.ProcessorCount, m = 576, copies = 1, nPanel = 4096;
        int[]? panels = null, crossover = null, layerAb = null;
        int layers = 2, text = 60;
        string? simd = null;
        for (int i = 1; i < args.Length; i++)
        {
            if (args[i] == "--reps") reps = int.Parse(args[++i], CultureInfo.InvariantCulture);
            else if (args[i] == "--threads") threads = int.Parse(args[++i], CultureInfo.InvariantCulture);
            else if (args[i] == "--simd") simd = args[++i];
            else if (args[i] == "--m") m = int.Parse(args[++i], CultureInfo.InvariantCulture);
            else if (args[i] == "--copies") copies = int.Parse(args[++i], CultureInfo.InvariantCulture);
            else if (args[i] == "--panels") panels = args[++i].Split(',').Select(v => int.Parse(v, CultureInfo.InvariantCulture)).ToArray();
            else if (args[i] == "--n") nPanel = int.Parse(args[++i], CultureInfo.InvariantCulture);
            else if (args[i] == "--layer-ab") layerAb = args[++i].Split(',').Select(v => int.Parse(v, CultureInfo.InvariantCulture)).ToArray();
            else if (args[i] == "--layers") layers = int.Parse(args[++i], CultureInfo.InvariantCulture);
            else if (args[i] == "--text") text = int.Parse(args[++i], CultureInfo.InvariantCulture);
            else if (args[i] == "--crossover") crossover = args[++i].Split(',').Select(v => int.Parse(v, CultureInfo.InvariantCulture)).ToArray();
        }
        if (crossover != null) return Crossover(crossover, nPanel, reps, threads);
        if (layerAb != null) return LayerAb(layerAb, layers, text, reps, threads);
        if (panels != null) return Panels(panels, nPanel, reps, threads);
        var levels = simd == "all" ? Simd.Supported.Where(l => l >= SimdLevel.Avx2).ToArray()
            : [simd == null ? Simd.Level : Enum.Parse<SimdLevel>(simd, ignoreCase: true)];
        Parallelism.MaxThreads = threads;
        Console.WriteLine($"{Simd.CpuModel()} ({Simd.CpuFeatures()}); {threads} thread(s), {reps} reps interleaved; load average {LoadAverage()}");
        DType[] types = [DType.BF16, DType.Q8_0, DType.Q4_K, DType.Q6_K];
        foreach (var level in levels)
        {
            using var _ = Simd.Use(level);
            Console.WriteLine($"-- {level.Name()}: block kernels {Tensors.Quant.QuantDot.Isa}");
            var g = InterleavedBenchmark.Gemm(m, 4096, 4096, types, Math.Max(3, reps / 2));
            foreach (var r in g)
                Console.WriteLine($"GEMM {m}x4096x4096 {r.WeightDType.Name(),-5} {r.Best,7:F1} GFLOP/s (median {r.Median,6:F1})  {r.Best / g[0].Best,5:F2}x BF16");
            if (level == SimdLevel.Avx512) PanelRows([64, m], 4096, Math.Max(3, reps / 2));
            var i8 = Int8Prefill(m, reps: 3);
            Console.WriteLine($"GEMM {m}x4096x4096 Q8_0 on the int8 decode kernels instead of decoded panels: {i8.Int8:F1} GFLOP/s vs BF16 {i8.Bf16:F1} ({i8.Int8 / i8.Bf16:F2}x)");
            var v = InterleavedBenchmark.Gemv(4096, 11008, types, reps, copies);
            foreach (var r in v)
                Console.WriteLine($"GEMV 1x4096x11008{(copies > 1 ? $" x{copies}" : "")} {r.WeightDType.Name(),-5} {r.Best,6:F1} GB/s (median {r.Median,5:F1}), read {r.ReadGBps,5:F1} GB/s: " +
                                  $"{100 * r.Best / r.ReadGBps,5:F1}% | {r.BestMicroseconds,7:F0} us, {v[0].BestMicroseconds / r.BestMicroseconds,5:F2}x BF16 speed");
        }
        Console.WriteLine($"load average {LoadAverage()}");
        return 0;
    }

    /// <summary>`--panels M,M,.. [--n N]`: only the prefill GEMMs M x N x 4096, panels decoded directly vs in two steps.</summary>
    private static int Panels(int[] ms, int n, int reps, int threads)
    {
        Parallelism.MaxThreads = threads;
        Console.WriteLine($"{Simd.CpuModel()}; {threads} thread(s), {reps} reps interleaved; load average {LoadAverage()}");
        PanelRows(ms, n, reps);
        Console.WriteLine($"load average {LoadAverage()}");
        return 0;
    }

    /// <summary>`--crossover M,M,..`: int8 block kernels vs the packed GEMM on decoded panels at each M (where Gemm.SmallM should sit).</summary>
    private static int Crossover(int[] ms, int n, int reps, int threads)
    {
        Parallelism.MaxThreads = threads;
        Console.WriteLine($"{Simd.CpuModel()}; {threads} thread(s), {reps} reps interleaved; M x {n} x 4096; load average {LoadAverage()}");
        foreach (var t in new[] { DType.Q4_K, DType.Q6_K, DType.Q8_0 })
            foreach (int m in ms)
            {
                var (i8, packed) = InterleavedBenchmark.QuantCrossover(m, n, 4096, t, reps);
                Console.WriteLine($"M {m,4} {t.Name(),-5} int8 kernels {i8,6:F1} GFLOP/s, packed decoded panels {packed,6:F1} ({packed / i8:F2}x)");
            }
        Console.WriteLine($"load average {LoadAverage()}");
        return 0;
    }

    /// <summary>
    /// `--layer-ab V,V,.. [--layers 2] [--text 60]`: decoder prefill per layer at the LLaVA-1.5-7B shape (random weights,
    /// as `autoprune bench`) in Q4_K and BF16, with this build's W packers and the previous ones, interleaved.
    /// </summary>
    private static int LayerAb(int[] visual, int layers, int text, int reps, int threads)
    {
        Parallelism.MaxThreads = threads;
        Console.WriteLine($"{Simd.CpuModel()}; {threads} thread(s), {reps} reps interleaved; llava-7b shape, {layers} layers, {text} text tokens; load average {LoadAverage()}");
        var cfg = ModelShapes.Get("llava-7b");
        using var q = SyntheticDecoder.Create("llava-7b", cfg.Text, cfg.ImageSeqLength, cfg.Vision.HiddenSize, layers, DType.Q4_K);
        using var b = SyntheticDecoder.Create("llava-7b", cfg.Text, cfg.ImageSeqLength, cfg.Vision.HiddenSize, layers, DType.BF16);
        Console.WriteLine("visual tokens   Q4_K ms/layer (previous packers)   BF16 ms/layer (previous)   Q4_K new/old   formula GFLOP/s Q4_K, BF16");
        foreach (int v in visual)
        {
            var p = ModelBenchmark.MeasurePrefillPackers([q, b], v, text, reps, cfg.ImageTokenIndex);
            Console.WriteLine($"{v,6} +{text,4} {p[0, 0].MsPerLayer,10:F1} ({p[0, 1].MsPerLayer,7:F1}) {p[1, 0].MsPerLayer,14:F1} ({p[1, 1].MsPerLayer,7:F1}) " +
                              $"{p[0, 0].MsPerLayer / p[0, 1].MsPerLayer,14:F3} {p[0, 0].FormulaGflops,12:F1} {p[1, 0].FormulaGflops,6:F1}");
        }
        Console.WriteLine($"load average {LoadAverage()}");
        return 0;
    }

    private static void PanelRows(int[] ms, int n, int reps)
    {
        foreach (var t in new[] { DType.Q4_K, DType.Q6_K, DType.Q8_0 })
        {
            var (direct, twoStep, bf16, bf16Previous) = InterleavedBenchmark.PanelPacking(n, 4096, t, reps);
            Console.WriteLine($"packing W {n}x4096 {t.Name(),-5} one thread: directly {direct,5:F3} ns/weight, two steps {twoStep,5:F3} ({twoStep / direct:F2}x as long); " +
                              $"BF16 {bf16,5:F3}, AVX2 packer {bf16Previous,5:F3} ({bf16Previous / bf16:F2}x as long)");
        }
        foreach (int m in ms)
            foreach (var t in new[] { DType.Q4_K, DType.Q6_K, DType.Q8_0 })
            {
                var (direct, twoStep, bf16, bf16Previous) = InterleavedBenchmark.QuantPanels(m, n, 4096, t, reps);
                Console.WriteLine($"GEMM {m}x{n}x4096 {t.Name(),-5} panels decoded into the packed layout {direct,6:F1} GFLOP/s, " +
                                  $"via F32 rows + packer {twoStep,6:F1} ({direct / twoStep:F2}x); BF16 {bf16,6:F1} ({direct / bf16:F2}x BF16), " +
                                  $"BF16 with the AVX2 packer {bf16Previous,6:F1} ({bf16 / bf16Previous:F2}x)");
            }
    }

    /// <summary>The alternative prefill design, measured: Q8_0 through QuantMatMul (int8 activations) against BF16, alternating.</summary>
    private static unsafe (double Int8, double Bf16) Int8Prefill(int m, int reps)
    {
        var owners = new List<IDisposable>();
        try
        {
            var q = SyntheticWeights.Create("q", DType.Q8_0, [4096, 4096], 1, 1f, owners);
            var b = SyntheticWeights.Create("b", DType.BF16, [4096, 4096], 1, 1f, owners);
            var x = new float[m * 4096];
            for (int i = 0; i < x.Length; i++) x[i] = (i % 17 - 8) / 8f;
            var y = new float[m * 4096];
            double tq = double.MaxValue, tb = double.MaxValue;
            for (int r = 0; r <= reps; r++)
            {
                long t0 = System.Diagnostics.Stopwatch.GetTimestamp();
                Tensors.Quant.QuantMatMul.Linear(x, m, q, default, y);
                double a = System.Diagnostics.Stopwatch.GetElapsedTime(t0).TotalSeconds;
                t0 = System.Diagnostics.Stopwatch.GetTimestamp();
                MatMul.Linear(x, m, b, default, y);
                double c = System.Diagnostics.Stopwatch.GetElapsedTime(t0).TotalSeconds;
                if (r > 0) { tq = Math.Min(tq, a); tb = Math.Min(tb, c); }   // rep 0 warms up
            }
            double flop = 2.0 * m * 4096 * 4096;
            return (flop / tq / 1e9, flop / tb / 1e9);
        }
        finally { foreach (var o in owners) o.Dispose(); }
    }

    private static string LoadAverage()
    {
        try { return File.Exists("/proc/loadavg") ? string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "n/a"; }
        catch (IOException) { return "n/a"; }
    }
}
