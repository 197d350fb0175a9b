using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using AutoPrune.Tensors;

namespace AutoPrune.Benchmarking;

/// <summary>
/// This CPU's F32 FMA peak: threads × clock × vector lanes × FMA instructions per cycle × 2 FLOPs.
/// The clock is measured, not read: /proc/cpuinfo shows the nominal (TSC) frequency, which under a hypervisor or with
/// turbo is not what the core runs at. A chain of dependent scalar FMAs retires one per 4 cycles (the FMA latency on
/// every x86 core with AVX2 since Skylake and Zen 2), so clock = 4 × chain FMAs per second. FMA instructions per cycle
/// come from a loop of independent vector FMAs at the GEMM's width, rounded to a whole number of units.
/// </summary>
public sealed record FmaPeak(int Threads, double ClockGhz, double NominalMhz, int Lanes, int FmaPerCycle)
{
    public double PeakGflops => Threads * ClockGhz * Lanes * FmaPerCycle * 2;
}

public static class CpuPeak
{
    private const int FmaLatency = 4;

    /// <summary>Null when the GEMM runs without FMA (the portable path).</summary>
    public static FmaPeak? Measure(int threads)
    {
        if (!Fma.IsSupported || Simd.Level < SimdLevel.Avx2) return null;
        bool wide = Simd.Level == SimdLevel.Avx512;
        // Short runs, best of many: on a shared machine some run gets a whole time slice.
        const long chain = 2_000_000, loop = 400_000;
        double best = double.MaxValue, bestT = double.MaxValue;
        Chain(1000, 1f); Throughput(1000, wide);
        for (int r = 0; r < 30; r++)
        {
            long t0 = Stopwatch.GetTimestamp();
            Chain(chain, 1f);
            best = Math.Min(best, Stopwatch.GetElapsedTime(t0).TotalSeconds);
            t0 = Stopwatch.GetTimestamp();
            Throughput(loop, wide);
            bestT = Math.Min(bestT, Stopwatch.GetElapsedTime(t0).TotalSeconds);
        }
        double hz = FmaLatency * chain / best;
        int accumulators = wide ? 16 : 10;
        double perCycle = accumulators * loop / bestT / hz;
        return new FmaPeak(threads, hz / 1e9, NominalMhz(), wide ? 16 : 8, Math.Max(1, (int)Math.Round(perCycle)));
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static float Chain(long n, float a)
    {
        const float m = 0.9999999f, c = 1e-7f;
        for (long i = 0; i < n; i += 8)
        {
            a = MathF.FusedMultiplyAdd(a, m, c); a = MathF.FusedMultiplyAdd(a, m, c);
            a = MathF.FusedMultiplyAdd(a, m, c); a = MathF.FusedMultiplyAdd(a, m, c);
            a = MathF.FusedMultiplyAdd(a, m, c); a = MathF.FusedMultiplyAdd(a, m, c);
            a = MathF.FusedMultiplyAdd(a, m, c); a = MathF.FusedMultiplyAdd(a, m, c);
        }
        return a;
    }

    // Enough independent chains to cover latency × units (4 × 2) with room; AVX2 keeps 10 so that the
    // accumulators and the two constants fit the 16 ymm registers.
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static float Throughput(long n, bool wide)
    {
        if (wide)
        {
            var m = Vector512.Create(0.9999999f); var c = Vector512.Create(1e-7f);
            Vector512<float> a0 = Vector512<float>.One, a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0,
                a8 = a0, a9 = a0, a10 = a0, a11 = a0, a12 = a0, a13 = a0, a14 = a0, a15 = a0;
            for (long i = 0; i < n; i++)
            {
                a0 = Avx512F.FusedMultiplyAdd(a0, m, c); a1 = Avx512F.FusedMultiplyAdd(a1, m, c);
                a2 = Avx512F.FusedMultiplyAdd(a2, m, c); a3 = Avx512F.FusedMultiplyAdd(a3, m, c);
                a4 = Avx512F.FusedMultiplyAdd(a4, m, c); a5 = Avx512F.FusedMultiplyAdd(a5, m, c);
                a6 = Avx512F.FusedMultiplyAdd(a6, m, c); a7 = Avx512F.FusedMultiplyAdd(a7, m, c);
                a8 = Avx512F.FusedMultiplyAdd(a8, m, c); a9 = Avx512F.FusedMultiplyAdd(a9, m, c);
                a10 = Avx512F.FusedMultiplyAdd(a10, m, c); a11 = Avx512F.FusedMultiplyAdd(a11, m, c);
                a12 = Avx512F.FusedMultiplyAdd(a12, m, c); a13 = Avx512F.FusedMultiplyAdd(a13, m, c);
                a14 = Avx512F.FusedMultiplyAdd(a14, m, c); a15 = Avx512F.FusedMultiplyAdd(a15, m, c);
            }
            return Vector512.Sum(a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11 + a12 + a13 + a14 + a15);
        }
        var mv = Vector256.Create(0.9999999f); var cv = Vector256.Create(1e-7f);
        Vector256<float> b0 = Vector256<float>.One, b1 = b0, b2 = b0, b3 = b0, b4 = b0, b5 = b0, b6 = b0, b7 = b0, b8 = b0, b9 = b0;
        for (long i = 0; i < n; i++)
        {
            b0 = Fma.MultiplyAdd(b0, mv, cv); b1 = Fma.MultiplyAdd(b1, mv, cv); b2 = Fma.MultiplyAdd(b2, mv, cv);
            b3 = Fma.MultiplyAdd(b3, mv, cv); b4 = Fma.MultiplyAdd(b4, mv, cv); b5 = Fma.MultiplyAdd(b5, mv, cv);
            b6 = Fma.MultiplyAdd(b6, mv, cv); b7 = Fma.MultiplyAdd(b7, mv, cv); b8 = Fma.MultiplyAdd(b8, mv, cv);
            b9 = Fma.MultiplyAdd(b9, mv, cv);
        }
        return Vector256.Sum(b0 + b1 + b2 + b3 + b4 + b5 + b6 + b7 + b8 + b9);
    }

    /// <summary>The "cpu MHz" /proc/cpuinfo reports (nominal; 0 where unavailable).</summary>
    private static double NominalMhz()
    {
        try
        {
            if (File.Exists("/proc/cpuinfo"))
                foreach (var line in File.ReadLines("/proc/cpuinfo"))
                    if (line.StartsWith("cpu MHz", StringComparison.Ordinal) && line.IndexOf(':') is int c and > 0
                        && double.TryParse(line.AsSpan(c + 1).Trim(), System.Globalization.CultureInfo.InvariantCulture, out var mhz))
                        return mhz;
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        return 0;
    }
}
