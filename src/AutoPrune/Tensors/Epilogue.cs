using System.Numerics.Tensors;

namespace AutoPrune.Tensors;

/// <summary>An activation applied elementwise to a linear layer's output.</summary>
public enum Activation
{
    None,
    /// <summary>CLIP's x·sigmoid(1.702x) (<see cref="Ops.QuickGelu"/>).</summary>
    QuickGelu,
    /// <summary>Exact erf GELU (<see cref="Ops.Gelu"/>).</summary>
    Gelu,
}

/// <summary>
/// What a linear layer does with its output Y[M,N] once the product is done: an activation in place, and/or adding Y
/// into a residual stream of the same shape. The packed GEMM runs it on each finished block of Y while the block is
/// still in cache, on the thread that computed it, instead of a separate pass over memory afterwards. It is
/// elementwise and the vector maps give an element the same result wherever it sits, so it equals the separate pass
/// bit for bit.
/// </summary>
internal readonly unsafe struct Epilogue(Activation activation, float* residual)
{
    public readonly Activation Activation = activation;
    /// <summary>[M, N] with Y's row stride; Y is added into it when non-null.</summary>
    public readonly float* Residual = residual;
    /// <summary>The AVX-512 maps: the level is read where the epilogue is made, on the calling thread, since a
    /// <see cref="Simd.Use"/> scope does not reach the workers that run it.</summary>
    public readonly bool Wide = Simd.Level == SimdLevel.Avx512;

    public bool IsNone => Activation == Activation.None && Residual == null;

    /// <summary>Rows [r0, r1), columns [c0, c0 + cols) of Y (row stride n), with the vector maps (AVX2 and up).</summary>
    public void ApplyBlock(float* y, int n, int r0, int r1, int c0, int cols)
    {
        for (int r = r0; r < r1; r++)
        {
            var row = new Span<float>(y + (long)r * n + c0, cols);
            if (Activation == Activation.QuickGelu) Ops.QuickGeluVector(row, Wide);
            else if (Activation == Activation.Gelu) Ops.GeluVector(row, Wide);
            if (Residual != null)
            {
                var res = new Span<float>(Residual + (long)r * n + c0, cols);
                TensorPrimitives.Add(res, row, res);
            }
        }
    }

    /// <summary>All of Y [m, n] as separate passes at the current <see cref="Simd.Level"/> (paths without a packed GEMM).</summary>
    public void ApplyAll(Span<float> y, int m, int n)
    {
        var all = y[..(m * n)];
        if (Activation == Activation.QuickGelu) Ops.QuickGelu(all);
        else if (Activation == Activation.Gelu) Ops.Gelu(all);
        if (Residual != null)
        {
            var res = new Span<float>(Residual, m * n);
            TensorPrimitives.Add(res, all, res);
        }
    }
}
