using System.Globalization;
using AutoPrune.Benchmarking;
using AutoPrune.Tensors;
using BenchmarkDotNet.Running;

namespace AutoPrune.Benchmarks;

/// <summary>
/// `dotnet run -c Release -- --quick [--reps N] [--threads T]`: ours vs OpenBLAS (when installed) in one
/// run, plus GEMV bandwidth. Anything else goes to BenchmarkDotNet (e.g. `--filter *Gemm*`).
/// </summary>
public static class Program
{
    public static int Main(string[] args)
    {
        if (args.Length > 0 && args[0] == "--quick") return Quick(args);
        if (args.Length > 0 && args[0] == "--attention") return AttentionQuick(args);
        if (args.Length > 0 && args[0] == "--quant") return QuantQuick.Run(args);
        if (args.Length > 0 && args[0] == "--vision") return VisionQuick(args);
        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
        return 0;
    }

    private static int Quick(string[] args)
    {
        string gemv = "BF16,F16,F32";
        string? simd = null;
        int reps = 5, threads = Environment.ProcessorCount;
        string shapes = "576x4096x4096:F32,576x4096x4096:BF16,576x4096x4096:F16,576x11008x4096:F32,576x11008x4096:BF16,577x1024x1024:F32,16x4096x4096:BF16,8x4096x4096:BF16,4x4096x4096:BF16";
        for (int i = 1; i < args.Length; i++)
        {
            if (args[i] == "--reps") reps = int.Parse(args[++i], CultureInfo.InvariantCulture);
            else if (args[i] == "--threads") threads = int.Parse(args[++i], CultureInfo.InvariantCulture);
            else if (args[i] == "--shapes") shapes = args[++i];
            else if (args[i] == "--gemv") gemv = args[++i];
            else if (args[i] == "--small-m") Gemm.SmallM = int.Parse(args[++i], CultureInfo.InvariantCulture);
            else if (args[i] == "--simd") simd = args[++i];
        }
        // "--simd all": every level this CPU runs, measured one after the other for each shape in the same process.
        var levels = simd == "all" ? Simd.Supported.Where(l => l >= SimdLevel.Avx2).ToArray()
            : [simd == null ? Simd.Level : Enum.Parse<SimdLevel>(simd, ignoreCase: true)];
        Console.WriteLine($"{Simd.CpuModel()} ({Simd.CpuFeatures()}); kernels: {Gemm.Isa}");
        Gemm.MaxThreads = threads;
        bool blas = OpenBlas.TryLoad(out var why);
        if (blas) OpenBlas.SetThreads(threads);
        Console.WriteLine(blas ? $"OpenBLAS loaded, {threads} thread(s)" : $"no OpenBLAS: {why}");
        Console.WriteLine($"{"M",5} {"N",6} {"K",6} {"dtype",5} {"isa",7} {"GFLOP/s",8} {"median",8} {"BLAS",8} {"ratio",6}");
        foreach (var spec in shapes.Split(',', StringSplitOptions.RemoveEmptyEntries))
        {
            var parts = spec.Split(':');
            var d = parts[0].Split('x');
            var dt = DTypes.Parse(parts[1]) ?? throw new ArgumentException(spec);
            foreach (var level in levels)
            {
                using var _ = Simd.Use(level);
                var r = GemmBenchmark.MeasureGemm(int.Parse(d[0]), int.Parse(d[1]), int.Parse(d[2]), dt, reps, blas);
                Console.WriteLine($"{r.M,5} {r.N,6} {r.K,6} {dt.Name(),5} {level.Name(),7} {r.Gflops,8:F1} {r.MedianGflops,8:F1} " +
                    $"{(r.BlasGflops is double b ? b.ToString("F1") : "-"),8} {(r.Ratio is double q ? q.ToString("P0") : "-"),6}");
            }
        }
        foreach (var name in gemv.Split(',', StringSplitOptions.RemoveEmptyEntries))
        {
            var dt = DTypes.Parse(name) ?? throw new ArgumentException(name);
            foreach (var level in levels)
            {
                using var _ = Simd.Use(level);
                var g = GemmBenchmark.MeasureGemv(dtype: dt);
                Console.WriteLine($"GEMV M=1 {g.N}x{g.K} {dt.Name()} {level.Name()}: {g.GBps:F1} GB/s best, {g.MedianGBps:F1} median ({g.Microseconds:F0} us)");
            }
        }
        if (gemv.Length > 0)
        {
            Console.WriteLine($"managed bytes allocated per call: GEMV 1x4096x4096 {AllocPerCall(1)}, GEMM 64x4096x4096 {AllocPerCall(64)}");
            Console.WriteLine($"plain parallel read of the same 90 MB: {GemmBenchmark.MeasureReadBandwidth():F1} GB/s");
        }
        return 0;
    }

    /// <summary>
    /// `--attention [--reps N] [--threads T] [--shapes nq x nk x heads x kvHeads x hd [:nc], ...]`: streaming vs previous
    /// attention kernel in one run (":nc" = not causal). Defaults: the llava-7b decoder prefill and decode shapes.
    /// </summary>
    private static int AttentionQuick(string[] args)
    {
        int reps = 10, threads = Environment.ProcessorCount;
        string shapes = "640x640x32x32x128,1x640x32x32x128,577x577x16x16x64:nc,1x2048x8x8x128,1x640x4x4x32";
        for (int i = 1; i < args.Length; i++)
        {
            if (args[i] == "--reps") reps = int.Parse(args[++i], CultureInfo.InvariantCulture);
            else if (args[i] == "--threads") threads = int.Parse(args[++i], CultureInfo.InvariantCulture);
            else if (args[i] == "--shapes") shapes = args[++i];
        }
        Parallelism.MaxThreads = threads;
        Console.WriteLine($"{threads} thread(s), {reps} reps, old/new alternate");
        Console.WriteLine($"{"nq",5} {"nk",5} {"heads",5} {"kv",3} {"hd",4} {"causal",6} {"new ms",8} {"old ms",8} {"old/new",7} {"B/call",7}");
        foreach (var spec in shapes.Split(',', StringSplitOptions.RemoveEmptyEntries))
        {
            var parts = spec.Split(':');
            var d = Array.ConvertAll(parts[0].Split('x'), x => int.Parse(x, CultureInfo.InvariantCulture));
            bool causal = parts.Length < 2 || parts[1] != "nc";
            var r = AttentionBenchmark.Measure(d[0], d[1], d[2], d[3], d[4], causal, reps);
            Console.WriteLine($"{r.Nq,5} {r.Nk,5} {r.Heads,5} {r.KvHeads,3} {r.HeadDim,4} {r.Causal,6} {r.NewMedianMs,8:F3} {r.OldMedianMs,8:F3} {r.Speedup,7:F2} {r.BytesPerCall,7}");
        }
        return 0;
    }

    /// <summary>
    /// `--vision [--reps N] [--threads T] [--shape llava-7b] [--dtype BF16]`: one CLIP encoder layer of the shape, step by
    /// step (median ms per step, GFLOP/s of the products), and the whole tower + projector as the `bench` vision row times it.
    /// </summary>
    private static int VisionQuick(string[] args)
    {
        int reps = 7, threads = Environment.ProcessorCount;
        string shape = "llava-7b";
        var dt = DType.BF16;
        for (int i = 1; i < args.Length; i++)
        {
            if (args[i] == "--reps") reps = int.Parse(args[++i], CultureInfo.InvariantCulture);
            else if (args[i] == "--threads") threads = int.Parse(args[++i], CultureInfo.InvariantCulture);
            else if (args[i] == "--shape") shape = args[++i];
            else if (args[i] == "--dtype") dt = DTypes.Parse(args[++i]) ?? throw new ArgumentException(args[i]);
        }
        Parallelism.MaxThreads = threads;
        var cfg = ModelShapes.Get(shape);
        var v = cfg.Vision;
        Console.WriteLine($"{Simd.CpuModel()}; {threads} thread(s); {shape} vision layer: {v.NumPatches + 1} tokens, hidden {v.HiddenSize}, " +
                          $"mlp {v.IntermediateSize}, {v.NumAttentionHeads} heads, {dt.Name()} weights; median of {reps}");
        var stages = VisionProfile.Measure(v, dt, reps);
        double total = stages.Where(s => !s.Alternative).Sum(s => s.Ms), gemm = stages.Where(s => s.Gflop > 0 && !s.Alternative).Sum(s => s.Ms);
        foreach (var s in stages)
            Console.WriteLine($"  {s.Name,-38} {s.Ms,8:F2} ms {(s.Alternative ? "" : $"{100 * s.Ms / total,5:F1}%"),6}" + (s.Gflop > 0 ? $" {s.Gflop / s.Ms * 1e3,7:F1} GFLOP/s" : ""));
        Console.WriteLine($"  {"layer",-38} {total,8:F2} ms; products {gemm:F2} ms, everything else {total - gemm:F2} ms ({100 * (total - gemm) / total:F1}%)");
        // The whole tower + projector as the `bench` vision row times it, against BF16 GEMMs timed between its repetitions.
        using var tower = SyntheticVisionTower.Create(cfg, dt);
        int n = v.NumPatches + 1, t = cfg.Text.HiddenSize;
        var gemms = new (int M, int N, int K)[] { (n, v.HiddenSize, v.HiddenSize), (n, v.IntermediateSize, v.HiddenSize), (n, v.HiddenSize, v.IntermediateSize),
            (n - 1, t, t), (576, 4096, 11008) };
        var towerMs = new List<double>();
        var best = new double[gemms.Length];
        for (int r = 0; r < Math.Max(1, reps / 2); r++)
        {
            towerMs.Add(tower.MeasureTilesMs(1, 1));
            for (int g = 0; g < gemms.Length; g++)
                best[g] = Math.Max(best[g], GemmBenchmark.MeasureGemm(gemms[g].M, gemms[g].N, gemms[g].K, DType.BF16, reps: 2).Gflops);
        }
        towerMs.Sort();
        double ms = towerMs[towerMs.Count / 2], gf = SyntheticVisionTower.Flops(cfg, 1) / (ms * 1e6);
        Console.WriteLine($"tower + projector: {ms:F0} ms (median of {towerMs.Count}), {SyntheticVisionTower.Flops(cfg, 1) / 1e9:F1} GFLOP of products, {gf:F1} GFLOP/s");
        for (int g = 0; g < gemms.Length; g++)
            Console.WriteLine($"  BF16 GEMM {gemms[g].M}x{gemms[g].N}x{gemms[g].K}: {best[g],6:F1} GFLOP/s best; tower + projector at {gf / best[g]:F3} of it");
        Console.WriteLine($"one head ({v.NumPatches + 1} x {v.HeadDim}) on one thread:");
        foreach (var s in VisionProfile.MeasureHead(v.NumPatches + 1, v.HeadDim, reps * 4))
            Console.WriteLine($"  {s.Name,-38} {s.Ms,8:F3} ms" + (s.Gflop > 0 ? $" {s.Gflop / s.Ms * 1e3,7:F1} GFLOP/s" : ""));
        return 0;
    }

    private static long AllocPerCall(int m)
    {
        var owners = new List<IDisposable>();
        var w = SyntheticWeights.Create("w", DType.BF16, new[] { 4096, 4096 }, 1, 1f, owners);
        var x = new float[m * 4096];
        var y = new float[m * 4096];
        for (int i = 0; i < 3; i++) MatMul.Linear(x, m, w, default, y);
        long a0 = GC.GetTotalAllocatedBytes(true);
        for (int i = 0; i < 20; i++) MatMul.Linear(x, m, w, default, y);
        long per = (GC.GetTotalAllocatedBytes(true) - a0) / 20;
        foreach (var o in owners) o.Dispose();
        return per;
    }
}
