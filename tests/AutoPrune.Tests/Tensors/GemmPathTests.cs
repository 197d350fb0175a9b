using AutoPrune.Tensors;
using AutoPrune.Tests.Support;

namespace AutoPrune.Tests.Tensors;

/// <summary>
/// Forces <see cref="MatMul.Linear"/> onto the packed or the streaming path by moving the process-wide
/// <see cref="Gemm.SmallM"/>; runs alone, since a test running beside it would see its quantized small-M products
/// take the packed path (different numerics) instead of the integer block kernels.
/// </summary>
[Collection(EnvironmentCollection.Name)]
public class GemmPathTests
{
    [Fact]
    public void PackedPath_EveryMFrom1To16_MatchesReference()
    {
        // Forces the packed kernel (edge tiles in M and N) where Linear would stream W instead.
        int saved = Gemm.SmallM;
        Gemm.SmallM = 1;
        try
        {
            for (int m = 1; m <= 16; m++)
                foreach (var dt in new[] { DType.F32, DType.BF16, DType.F16 })
                    MatMulTests.Check(m, 37, 77, dt, withBias: m % 2 == 1);
        }
        finally { Gemm.SmallM = saved; }
    }

    [Fact]
    public void StreamingPath_M20_MatchesReference()
    {
        int saved = Gemm.SmallM;
        Gemm.SmallM = 64;
        try { MatMulTests.Check(20, 45, 300, DType.F16, withBias: true); }
        finally { Gemm.SmallM = saved; }
    }
}
