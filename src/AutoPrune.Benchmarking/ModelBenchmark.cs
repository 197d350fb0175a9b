using System.Diagnostics;
using AutoPrune.Accounting;
using AutoPrune.Models;
using AutoPrune.Pruning;

namespace AutoPrune.Benchmarking;

/// <summary>Decoder prefill at one visual-token count: time per layer and what the FLOP formula predicts.</summary>
public sealed record PrefillPoint(int VisualTokens, int TotalTokens, double MsPerLayer, double FlopsPerLayer)
{
    /// <summary>Formula FLOPs per second / 1e9 (the formula counts a multiply-add as one FLOP: half the GEMM rate).</summary>
    public double FormulaGflops => FlopsPerLayer / (MsPerLayer * 1e6);
}

/// <summary>Pruned vs unpruned prefill of the same input, measured in the same run.</summary>
public sealed record PolicyPoint(string Policy, double? Budget, double PrefillMsUnpruned, double PrefillMsPruned, double Flops,
    double FlopsUnpruned, double MeanVisualTokens, int[] VisualTokensPerLayer)
{
    public double Speedup => PrefillMsUnpruned / PrefillMsPruned;
    /// <summary>The speedup the FLOP formula predicts (unpruned / pruned FLOPs).</summary>
    public double FlopRatio => FlopsUnpruned / Flops;
}

/// <summary>End-to-end decoder timings on a synthetic model (medians of repeated runs; the first run warms up).</summary>
public static class ModelBenchmark
{
    public static PrefillPoint MeasurePrefill(SyntheticDecoder sd, int visualTokens, int textTokens, int reps, int imageTokenId)
    {
        var prompt = sd.Prompt(textTokens, imageTokenId);
        var image = sd.Image(visualTokens);
        var times = new double[reps];
        Run(sd, prompt, image, new NoPruning(), out _);   // warm-up
        for (int r = 0; r < reps; r++) times[r] = Run(sd, prompt, image, new NoPruning(), out _);
        int n = textTokens + visualTokens;
        var c = sd.Config;
        return new PrefillPoint(visualTokens, n, Median(times) / c.NumHiddenLayers, Flops.DecoderLayer(n, c.HiddenSize, c.IntermediateSize));
    }

    /// <summary>
    /// Prefill per layer of several synthetic decoders (e.g. Q4_K and BF16 weights) with the W packers of this build and
    /// the previous AVX2-era ones (<c>GemmKernel.PreviousPackers</c>), every repetition running each combination in
    /// turn so all see the same machine load. Result [decoder, previous ? 1 : 0]: the median point.
    /// </summary>
    public static PrefillPoint[,] MeasurePrefillPackers(IReadOnlyList<SyntheticDecoder> decoders, int visualTokens, int textTokens, int reps, int imageTokenId)
    {
        var times = new double[decoders.Count, 2, reps];
        bool saved = Tensors.GemmKernel.PreviousPackers;
        try
        {
            for (int r = -1; r < reps; r++)   // r = -1 warms up
                for (int d = 0; d < decoders.Count; d++)
                    for (int prev = 0; prev < 2; prev++)
                    {
                        Tensors.GemmKernel.PreviousPackers = prev == 1;
                        double t = Run(decoders[d], decoders[d].Prompt(textTokens, imageTokenId), decoders[d].Image(visualTokens), new NoPruning(), out _);
                        if (r >= 0) times[d, prev, r] = t;
                    }
        }
        finally { Tensors.GemmKernel.PreviousPackers = saved; }
        var result = new PrefillPoint[decoders.Count, 2];
        int n = textTokens + visualTokens;
        for (int d = 0; d < decoders.Count; d++)
            for (int prev = 0; prev < 2; prev++)
            {
                var row = new double[reps];
                for (int r = 0; r < reps; r++) row[r] = times[d, prev, r];
                var c = decoders[d].Config;
                result[d, prev] = new PrefillPoint(visualTokens, n, Median(row) / c.NumHiddenLayers, Flops.DecoderLayer(n, c.HiddenSize, c.IntermediateSize));
            }
        return result;
    }

    /// <summary>Mean time of one decode step (all layers + lm_head) after a prefill of visual + text tokens; the first step warms up.</summary>
    public static double MeasureDecodeMs(SyntheticDecoder sd, int visualTokens, int textTokens, int steps, int imageTokenId)
    {
        var prompt = sd.Prompt(textTokens, imageTokenId);
        var run = new InferenceRun(sd.LanguageModel, prompt, [sd.Image(visualTokens)], null, steps + 2);
        run.Prefill();
        // Feed a fixed cycle of prompt tokens; time decodes 2..steps+1 (the loop's pick runs before each decode).
        int picked = 0;
        var sw = new Stopwatch();
        run.Generate(steps + 2, _ =>
        {
            if (picked == 1) sw.Start();
            return prompt.Ids[1 + picked++ % 4];
        }, eosId: -1);
        sw.Stop();
        return sw.Elapsed.TotalMilliseconds / steps;
    }

    /// <summary>Alternates unpruned and pruned prefills of the same input so both see the same machine load.</summary>
    public static PolicyPoint MeasurePolicy(SyntheticDecoder sd, IPruningPolicy policy, double? budget, int textTokens, int reps, int imageTokenId) =>
        MeasurePolicies(sd, [(policy, budget)], textTokens, reps, imageTokenId)[0];

    /// <summary>
    /// Several policies (e.g. one policy at several budgets) against one unpruned prefill: each repetition runs the
    /// unpruned prefill, then every policy, so all see the same machine load. The warm-up is one small unpruned
    /// prefill (it compiles the kernels), so a full-depth comparison does not pay for an extra full-size prefill.
    /// </summary>
    public static PolicyPoint[] MeasurePolicies(SyntheticDecoder sd, IReadOnlyList<(IPruningPolicy Policy, double? Budget)> policies, int textTokens,
        int reps, int imageTokenId)
    {
        var prompt = sd.Prompt(textTokens, imageTokenId);
        var image = sd.Image(sd.VisualTokens);
        Run(sd, prompt, sd.Image(Math.Min(sd.VisualTokens, 64)), new NoPruning(), out _);
        var tu = new double[reps];
        var tp = new double[policies.Count][];
        var traces = new PrefillTrace[policies.Count];
        for (int i = 0; i < tp.Length; i++) tp[i] = new double[reps];
        for (int r = 0; r < reps; r++)
        {
            tu[r] = Run(sd, prompt, image, new NoPruning(), out _);
            for (int i = 0; i < policies.Count; i++) tp[i][r] = Run(sd, prompt, image, policies[i].Policy, out traces[i]);
        }
        var points = new PolicyPoint[policies.Count];
        for (int i = 0; i < points.Length; i++)
        {
            var t = traces[i];
            points[i] = new PolicyPoint(policies[i].Policy.Name, policies[i].Budget, Median(tu), Median(tp[i]), t.Flops, t.FlopsUnpruned,
                t.MeanVisualTokens, t.VisualTokensPerLayer);
        }
        return points;
    }

    private static double Run(SyntheticDecoder sd, TokenizedPrompt prompt, ImageFeatures image, IPruningPolicy policy, out PrefillTrace trace)
    {
        var sw = Stopwatch.StartNew();
        var run = new InferenceRun(sd.LanguageModel, prompt, [image], policy, 0);
        run.Prefill();
        trace = run.Trace;
        return sw.Elapsed.TotalMilliseconds;
    }

    /// <summary>Peak resident set size of this process (VmHWM), in MiB; 0 where /proc is unavailable.</summary>
    public static double PeakRssMb()
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/self/status"))
                if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
                    return long.Parse(line.AsSpan(6).Trim().TrimEnd("kB").Trim()) / 1024.0;
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        return 0;
    }

    internal static double Median(double[] v)
    {
        var s = (double[])v.Clone();
        Array.Sort(s);
        return s.Length % 2 == 1 ? s[s.Length / 2] : (s[s.Length / 2 - 1] + s[s.Length / 2]) / 2;
    }
}
