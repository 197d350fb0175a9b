using System.Numerics.Tensors;

namespace AutoPrune.Tensors;

/// <summary>Linear-layer products: Y[M,N] = X[M,K] · W[N,K]ᵀ (+ bias[N]).</summary>
public static class MatMul
{
    private const int RowBlock = 16;

    /// <summary>
    /// Y[M,N] = X[M,K]·W[N,K]ᵀ + bias, W kept in its file dtype. Block-quantized W goes to the integer
    /// block kernels (<see cref="Quant.QuantMatMul"/>); float W to the packed AVX2/FMA GEMM
    /// (<see cref="Gemm"/>) when the CPU has it, else a portable dot-product loop.
    /// </summary>
    public static void Linear(ReadOnlySpan<float> x, int m, Weight w, ReadOnlySpan<float> bias, Span<float> y)
    {
        int n = w.Rows, k = w.Cols;
        if (m < 0) throw new ArgumentOutOfRangeException(nameof(m));
        if (x.Length < (long)m * k) throw new ArgumentException($"x has {x.Length} elements, need {m}x{k} for {w.Name}");
        if (y.Length < (long)m * n) throw new ArgumentException($"y has {y.Length} elements, need {m}x{n} for {w.Name}");
        if (!bias.IsEmpty && bias.Length != n) throw new ArgumentException($"bias has {bias.Length} elements, need {n}");
        if (w.DType.IsQuantized())
        {
            Quant.QuantMatMul.Linear(x, m, w, bias, y);
            return;
        }
        if (Gemm.IsSupported)
        {
            unsafe
            {
                fixed (float* px = x, py = y, pb = bias)
                    Gemm.Run(px, m, w, bias.IsEmpty ? null : pb, py);
            }
            return;
        }
        LinearPortable(x, m, w, bias, y);
    }

    /// <summary>Portable path (no AVX2/FMA): widen 16 W rows at a time, dot with each X row.</summary>
    internal static void LinearPortable(ReadOnlySpan<float> x, int m, Weight w, ReadOnlySpan<float> bias, Span<float> y)
    {
        int n = w.Rows, k = w.Cols;
        unsafe
        {
            fixed (float* px = x, py = y, pb = bias)
            {
                var (xp, yp, bp, hasBias) = ((nint)px, (nint)py, (nint)pb, !bias.IsEmpty);
                int blocks = (n + RowBlock - 1) / RowBlock;
                Parallel.For(0, blocks, Parallelism.Options, () => new float[RowBlock * k], (blk, _, wbuf) =>
                {
                    int n0 = blk * RowBlock, nb = Math.Min(RowBlock, n - n0);
                    w.CopyTo((long)n0 * k, wbuf.AsSpan(0, nb * k));
                    var xs = new ReadOnlySpan<float>((float*)xp, m * k);
                    var ys = new Span<float>((float*)yp, m * n);
                    for (int i = 0; i < m; i++)
                    {
                        var xr = xs.Slice(i * k, k);
                        for (int j = 0; j < nb; j++)
                        {
                            float s = TensorPrimitives.Dot(xr, wbuf.AsSpan(j * k, k));
                            if (hasBias) s += ((float*)bp)[n0 + j];
                            ys[i * n + n0 + j] = s;
                        }
                    }
                    return wbuf;
                }, _ => { });
            }
        }
    }

    /// <summary>Scalar reference used by kernel tests.</summary>
    public static void LinearReference(ReadOnlySpan<float> x, int m, float[] w, int n, int k, ReadOnlySpan<float> bias, Span<float> y)
    {
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double s = bias.IsEmpty ? 0 : bias[j];
                for (int t = 0; t < k; t++) s += (double)x[i * k + t] * w[j * k + t];
                y[i * n + j] = (float)s;
            }
    }
}
