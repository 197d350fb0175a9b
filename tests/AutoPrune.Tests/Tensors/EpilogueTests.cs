using System.Numerics.Tensors;
using AutoPrune.Tensors;

namespace AutoPrune.Tests.Tensors;

/// <summary>
/// A linear layer's fused epilogue (activation, residual add) is bitwise the plain product followed by the separate
/// pass, on every instruction-set path and GEMM path: GEMV (M &lt; 16), packed with several M, N and K blocks and
/// tails, the portable loop, and the block-quantized kernels.
/// </summary>
[Collection(ThreadCountCollection.Name)]
public sealed class EpilogueTests
{
    private static readonly (int M, int N, int K, DType Type)[] Shapes =
    [
        (3, 97, 65, DType.F32), (15, 40, 33, DType.BF16), (16, 64, 300, DType.BF16), (300, 97, 520, DType.F32),
        (577, 160, 64, DType.BF16), (150, 64, 577, DType.F16), (8, 64, 256, DType.Q8_0), (40, 64, 256, DType.Q4_K),
    ];

    [Theory, MemberData(nameof(SimdPathTests.Levels), MemberType = typeof(SimdPathTests))]
    public void FusedEqualsSeparatePasses(SimdLevel level)
    {
        var owners = new List<IDisposable>();
        try
        {
            foreach (var (m, n, k, dt) in Shapes)
            {
                var w = SyntheticWeights.Create("w", dt, [n, k], m + n + k, 0.2f, owners);
                var x = MatMulTests.Random(m * k, m * 3 + k);
                var bias = MatMulTests.Random(n, n);
                var residual = MatMulTests.Random(m * n, 7 * m + n);
                using var _ = Simd.Use(level);
                foreach (var act in new[] { Activation.QuickGelu, Activation.Gelu })
                {
                    var plain = new float[m * n];
                    MatMul.Linear(x, m, w, bias, plain);
                    if (act == Activation.QuickGelu) Ops.QuickGelu(plain); else Ops.Gelu(plain);
                    var fused = new float[m * n];
                    MatMul.Linear(x, m, w, bias, fused, act);
                    AssertBitwise(plain, fused, $"{level.Name()} {dt} {m}x{n}x{k} {act}");
                }
                var expected = (float[])residual.Clone();
                var y = new float[m * n];
                MatMul.Linear(x, m, w, bias, y);
                TensorPrimitives.Add(expected, y, expected);
                var actual = (float[])residual.Clone();
                var scratch = new float[m * n];
                MatMul.LinearAddTo(x, m, w, bias, scratch, actual);
                AssertBitwise(expected, actual, $"{level.Name()} {dt} {m}x{n}x{k} residual");
                AssertBitwise(y, scratch, $"{level.Name()} {dt} {m}x{n}x{k} product");
            }
        }
        finally { foreach (var o in owners) o.Dispose(); }
    }

    [Fact]
    public void FusedDoesNotDependOnThreadCount()
    {
        var owners = new List<IDisposable>();
        try
        {
            int m = 300, n = 200, k = 300;
            var w = SyntheticWeights.Create("w", DType.BF16, [n, k], 3, 0.2f, owners);
            var x = MatMulTests.Random(m * k, 1);
            var residual = MatMulTests.Random(m * n, 2);
            float[] Run(int threads) => Threads.With(threads, () =>
            {
                var r = (float[])residual.Clone();
                var y = new float[m * n];
                MatMul.Linear(x, m, w, default, y, Activation.Gelu);
                MatMul.LinearAddTo(x, m, w, default, new float[m * n], r);
                return (float[])[.. y, .. r];
            });
            AssertBitwise(Run(1), Run(3), "1 vs 3 threads");
        }
        finally
        {
            foreach (var o in owners) o.Dispose();
        }
    }

    [Fact]
    public void ShortResidualIsRefused()
    {
        var owners = new List<IDisposable>();
        try
        {
            var w = SyntheticWeights.Create("w", DType.F32, [8, 4], 1, 1f, owners);
            Assert.Throws<ArgumentException>(() => MatMul.LinearAddTo(new float[2 * 4], 2, w, default, new float[2 * 8], new float[15]));
        }
        finally { foreach (var o in owners) o.Dispose(); }
    }

    private static void AssertBitwise(float[] expected, float[] actual, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(BitConverter.SingleToInt32Bits(expected[i]) == BitConverter.SingleToInt32Bits(actual[i]),
                $"{what} [{i}]: {actual[i]:R} vs {expected[i]:R}");
    }
}
