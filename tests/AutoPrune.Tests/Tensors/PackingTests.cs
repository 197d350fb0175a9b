using System.Runtime.InteropServices;
using AutoPrune.Tensors;

namespace AutoPrune.Tests.Tensors;

/// <summary>
/// The AVX-512 W packers (<see cref="PanelTranspose512"/> for float types, <see cref="AutoPrune.Tensors.Quant.QuantPanel512"/>
/// for Q8_0/Q4_K/Q6_K) write exactly the panels of the AVX2 packers, which are the reference widening/decoding: every
/// float bit compared, with panels at the N edge (rows past N), chunks starting mid-matrix and K blocks shorter than KC.
/// </summary>
public sealed unsafe class PackingTests
{
    public static TheoryData<DType> Types() => new() { DType.F32, DType.BF16, DType.F16, DType.Q8_0, DType.Q4_K, DType.Q6_K, DType.Q4_0 };

    [Theory, MemberData(nameof(Types))]
    public void Avx512Panels_AreTheAvx2Panels(DType t)
    {
        if (Simd.Best < SimdLevel.Avx512) return; // no AVX-512 here: the AVX2 packers are the only ones this CPU runs
        const int n = 75, k = 768;   // 4 full panels + an 11-row one
        var owners = new List<IDisposable>();
        const int floats = 80 * 256;
        var wide = (float*)NativeMemory.AlignedAlloc(floats * sizeof(float), 64);   // the packers store aligned vectors
        var narrow = (float*)NativeMemory.AlignedAlloc(floats * sizeof(float), 64);
        try
        {
            var w = SyntheticWeights.Create("w", t, [n, k], 3, 1f, owners);
            var cases = new List<(int N0, int Nc, int K0, int Kc)> { (0, 80, 0, 256), (16, 64, 256, 256), (48, 32, 512, 256), (64, 16, 0, 256) };
            if (!t.IsQuantized() || t.BlockElements() == 32) cases.AddRange([(0, 80, 256, 32), (32, 48, 0, 160), (0, 16, 512, 224)]);
            foreach (var (n0, nc, k0, kc) in cases)
            {
                new Span<float>(wide, floats).Fill(float.NaN);
                new Span<float>(narrow, floats).Fill(float.NaN);
                GemmKernel.PackB(w, n0, nc, k0, kc, wide, wide: true);
                GemmKernel.PackB(w, n0, nc, k0, kc, narrow, wide: false);
                for (int i = 0; i < nc * kc; i++)
                    Assert.True(BitConverter.SingleToInt32Bits(wide[i]) == BitConverter.SingleToInt32Bits(narrow[i]),
                        $"{t} n0={n0} nc={nc} k0={k0} kc={kc} panel {i / (16 * kc)} k {i % (16 * kc) / 16} row {i % 16}: {wide[i]:R} vs {narrow[i]:R}");
            }
        }
        finally
        {
            NativeMemory.AlignedFree(wide);
            NativeMemory.AlignedFree(narrow);
            foreach (var o in owners) o.Dispose();
        }
    }
}
