using System.Numerics.Tensors;

namespace AutoPrune.Tensors;

/// <summary>Linear-layer products: Y[M,N] = X[M,K] · W[N,K]ᵀ (+ bias[N]).</summary>
public static class MatMul
{
    private const int RowBlock = 16;

    public static void Linear(ReadOnlySpan<float> x, int m, Weight w, ReadOnlySpan<float> bias, Span<float> y)
    {
        int n = w.Rows, k = w.Cols;
        if (x.Length < m * k) throw new ArgumentException($"x has {x.Length} elements, need {m}x{k} for {w.Name}");
        if (y.Length < m * n) throw new ArgumentException($"y has {y.Length} elements, need {m}x{n} for {w.Name}");
        if (!bias.IsEmpty && bias.Length != n) throw new ArgumentException($"bias has {bias.Length} elements, need {n}");
        unsafe
        {
            fixed (float* px = x, py = y, pb = bias)
            {
                var (xp, yp, bp, hasBias) = ((nint)px, (nint)py, (nint)pb, !bias.IsEmpty);
                int blocks = (n + RowBlock - 1) / RowBlock;
                Parallel.For(0, blocks, () => new float[RowBlock * k], (blk, _, wbuf) =>
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
