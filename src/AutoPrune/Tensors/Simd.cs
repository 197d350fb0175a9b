using System.Runtime.Intrinsics.X86;

namespace AutoPrune.Tensors;

/// <summary>Instruction sets the kernels are written for, lowest first.</summary>
public enum SimdLevel
{
    /// <summary>Portable code only (System.Numerics.Tensors, plain loops): the reference every SIMD path is tested against.</summary>
    Scalar,
    /// <summary>AVX2 + FMA, 256-bit.</summary>
    Avx2,
    /// <summary>AVX-512 F/BW/VL, 512-bit, with 32 vector registers.</summary>
    Avx512,
}

/// <summary>
/// Kernel dispatch: every kernel in Tensors/ picks its code path from <see cref="Level"/>, which defaults to the best
/// the CPU has. Lowering it forces the fallbacks (tests run every path this way; a user can rule out a SIMD path
/// when chasing a numerical difference). Float results of different levels agree within each kernel's tested
/// tolerance; within one level they never depend on the thread count.
/// </summary>
public static class Simd
{
    /// <summary>The best level this CPU (and runtime) supports.</summary>
    public static SimdLevel Best { get; } =
        Avx512F.IsSupported && Avx512BW.IsSupported && Avx512F.VL.IsSupported && Fma.IsSupported ? SimdLevel.Avx512
        : Avx2.IsSupported && Fma.IsSupported ? SimdLevel.Avx2
        : SimdLevel.Scalar;

    private static SimdLevel s_level = Best;
    [ThreadStatic] private static SimdLevel? t_scoped;

    /// <summary>
    /// The level kernels use now: this thread's <see cref="Use"/> scope if one is open, else the process-wide setting.
    /// Setting it changes the process-wide level; above <see cref="Best"/> it stays at <see cref="Best"/>.
    /// </summary>
    public static SimdLevel Level
    {
        get => t_scoped ?? s_level;
        set => s_level = Clamp(value);
    }

    /// <summary>
    /// Runs the kernels called from this thread at <paramref name="level"/> (clamped to <see cref="Best"/>) until the
    /// scope is disposed. Kernels read the level on the calling thread and hand it to their workers, so other
    /// threads' work is unaffected (tests force each path this way while others run).
    /// </summary>
    public static Scope Use(SimdLevel level)
    {
        var previous = t_scoped;
        t_scoped = Clamp(level);
        return new Scope(previous);
    }

    /// <summary>Restores the previous scope of this thread on Dispose.</summary>
    public readonly struct Scope(SimdLevel? previous) : IDisposable
    {
        public void Dispose() => t_scoped = previous;
    }

    private static SimdLevel Clamp(SimdLevel l) => l > Best ? Best : l < SimdLevel.Scalar ? SimdLevel.Scalar : l;

    /// <summary>All levels this machine can run, lowest first (what tests iterate over).</summary>
    public static IReadOnlyList<SimdLevel> Supported { get; } =
        Enum.GetValues<SimdLevel>().Where(l => l <= Best).ToArray();

    /// <summary>Display name of a level ("scalar", "AVX2", "AVX-512").</summary>
    public static string Name(this SimdLevel level) => level switch
    {
        SimdLevel.Avx512 => "AVX-512",
        SimdLevel.Avx2 => "AVX2",
        _ => "scalar",
    };

    /// <summary>The CPU's model name (from /proc/cpuinfo on Linux), or the architecture where unavailable.</summary>
    public static string CpuModel()
    {
        try
        {
            if (File.Exists("/proc/cpuinfo"))
                foreach (var line in File.ReadLines("/proc/cpuinfo"))
                    if (line.StartsWith("model name", StringComparison.Ordinal) && line.IndexOf(':') is int c and > 0)
                        return line[(c + 1)..].Trim();
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        return System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture.ToString();
    }

    /// <summary>The x86 vector extensions the CPU reports that matter here (e.g. "AVX2 FMA AVX512F AVX512BW AVX512-VNNI").</summary>
    public static string CpuFeatures()
    {
        var f = new List<string>();
        if (Avx2.IsSupported) f.Add("AVX2");
        if (Fma.IsSupported) f.Add("FMA");
        if (Avx512F.IsSupported) f.Add("AVX512F");
        if (Avx512BW.IsSupported) f.Add("AVX512BW");
        if (Avx512F.VL.IsSupported) f.Add("AVX512VL");
        if (AvxVnni.IsSupported) f.Add("AVX-VNNI");
        try
        {
            if (File.Exists("/proc/cpuinfo"))
                foreach (var line in File.ReadLines("/proc/cpuinfo"))
                    if (line.StartsWith("flags", StringComparison.Ordinal))
                    {
                        var flags = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                        if (flags.Contains("avx512_vnni")) f.Add("AVX512-VNNI");
                        if (flags.Contains("avx512_bf16")) f.Add("AVX512-BF16");
                        if (flags.Contains("amx_bf16")) f.Add("AMX-BF16");
                        break;
                    }
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        return string.Join(' ', f);
    }
}
