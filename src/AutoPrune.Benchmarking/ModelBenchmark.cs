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
        var (vis, feats) = sd.Image(visualTokens);
        var times = new double[reps];
        Run(sd, prompt, vis, feats, new NoPruning(), out _);   // warm-up
        for (int r = 0; r < reps; r++) times[r] = Run(sd, prompt, vis, feats, new NoPruning(), out _);
        int n = textTokens + visualTokens;
        var c = sd.Config;
        return new PrefillPoint(visualTokens, n, Median(times) / c.NumHiddenLayers, Flops.DecoderLayer(n, c.HiddenSize, c.IntermediateSize));
    }

    /// <summary>Mean time of one decode step (all layers + lm_head) after a prefill of visual + text tokens.</summary>
    public static double MeasureDecodeMs(SyntheticDecoder sd, int visualTokens, int textTokens, int steps, int imageTokenId)
    {
        var prompt = sd.Prompt(textTokens, imageTokenId);
        var (vis, feats) = sd.Image(visualTokens);
        var trace = new PrefillTrace();
        var pre = sd.Decoder.PrefillMultimodal(prompt, vis, feats, sd.VisionHiddenSize, new NoPruning(), trace, steps + 2);
        var scratch = new LlamaDecoderLayer.Scratch(1, sd.Config);
        sd.Decoder.DecodeStep(prompt.Ids[1], pre.Cache, pre.Positions, scratch);   // warm-up
        var sw = Stopwatch.StartNew();
        for (int i = 0; i < steps; i++) sd.Decoder.DecodeStep(prompt.Ids[1 + i % 4], pre.Cache, pre.Positions, scratch);
        return sw.Elapsed.TotalMilliseconds / steps;
    }

    /// <summary>Alternates unpruned and pruned prefills of the same input so both see the same machine load.</summary>
    public static PolicyPoint MeasurePolicy(SyntheticDecoder sd, IPruningPolicy policy, double? budget, int textTokens, int reps, int imageTokenId)
    {
        var prompt = sd.Prompt(textTokens, imageTokenId);
        var (vis, feats) = sd.Image(sd.VisualTokens);
        Run(sd, prompt, vis, feats, new NoPruning(), out _);
        Run(sd, prompt, vis, feats, policy, out _);
        var tu = new double[reps]; var tp = new double[reps];
        PrefillTrace trace = null!;
        for (int r = 0; r < reps; r++)
        {
            tu[r] = Run(sd, prompt, vis, feats, new NoPruning(), out _);
            tp[r] = Run(sd, prompt, vis, feats, policy, out trace);
        }
        return new PolicyPoint(policy.Name, budget, Median(tu), Median(tp), trace.Flops, trace.FlopsUnpruned, trace.MeanVisualTokens,
            trace.VisualTokensPerLayer);
    }

    private static double Run(SyntheticDecoder sd, PromptTokens prompt, VisionOutput vis, float[] feats, IPruningPolicy policy, out PrefillTrace trace)
    {
        trace = new PrefillTrace { Policy = policy.Name };
        var sw = Stopwatch.StartNew();
        sd.Decoder.PrefillMultimodal(prompt, vis, feats, sd.VisionHiddenSize, policy, trace, 0);
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

    private static double Median(double[] v)
    {
        var s = (double[])v.Clone();
        Array.Sort(s);
        return s.Length % 2 == 1 ? s[s.Length / 2] : (s[s.Length / 2 - 1] + s[s.Length / 2]) / 2;
    }
}
