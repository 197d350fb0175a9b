using System.Numerics.Tensors;

namespace AutoPrune.Tensors;

/// <summary>Linear-layer products: Y[M,N] = X[M,K] · W[N,K]ᵀ (+ bias[N]).</summary>
public static class MatMul
{
    private const int RowBlock = 16;

    /// <summary>
    /// Y[M,N] = X[M,K]·W[N,K]ᵀ + bias, W kept in its file dtype. Float W goes to the packed AVX2/FMA GEMM
    /// (<see cref="Gemm"/>) when the CPU has it, else a portable dot-product loop. Block-quantized W: below
    /// <see cref="Gemm.SmallM"/> rows (decode) the integer block kernels on int8 activations
    /// (<see cref="Quant.QuantMatMul"/>); from there on (prefill) the same packed GEMM, which decodes W panel by
    /// panel into F32, so prefill multiplies exact weight values at the F32 kernel's rate.
    /// </summary>
    public static void Linear(ReadOnlySpan<float> x, int m, Weight w, ReadOnlySpan<float> bias, Span<float> y) =>
        Linear(x, m, w, bias, y, default(Epilogue));

    /// <summary>Y = activation(X·Wᵀ + bias): the packed GEMM applies the activation to each block of Y as it finishes.</summary>
    public static unsafe void Linear(ReadOnlySpan<float> x, int m, Weight w, ReadOnlySpan<float> bias, Span<float> y, Activation activation) =>
        Linear(x, m, w, bias, y, new Epilogue(activation, null));

    /// <summary>
    /// residual += X·Wᵀ + bias (a transformer's residual connection), added block by block as the GEMM finishes them;
    /// <paramref name="y"/> [M,N] is scratch that receives the product. Bitwise the same as Linear then an add.
    /// </summary>
    public static unsafe void LinearAddTo(ReadOnlySpan<float> x, int m, Weight w, ReadOnlySpan<float> bias, Span<float> y, Span<float> residual)
    {
        if (residual.Length < (long)m * w.Rows) throw new ArgumentException($"residual has {residual.Length} elements, need {m}x{w.Rows} for {w.Name}");
        fixed (float* pr = residual) Linear(x, m, w, bias, y, new Epilogue(Activation.None, pr));
    }

    private static void Linear(ReadOnlySpan<float> x, int m, Weight w, ReadOnlySpan<float> bias, Span<float> y, in Epilogue ep)
    {
        int n = w.Rows, k = w.Cols;
        if (m < 0) throw new ArgumentOutOfRangeException(nameof(m));
        if (x.Length < (long)m * k) throw new ArgumentException($"x has {x.Length} elements, need {m}x{k} for {w.Name}");
        if (y.Length < (long)m * n) throw new ArgumentException($"y has {y.Length} elements, need {m}x{n} for {w.Name}");
        if (!bias.IsEmpty && bias.Length != n) throw new ArgumentException($"bias has {bias.Length} elements, need {n}");
        if (w.DType.IsQuantized() && m < Gemm.SmallM)
        {
            Quant.QuantMatMul.Linear(x, m, w, bias, y);
            if (!ep.IsNone) ep.ApplyAll(y, m, n);
            return;
        }
        if (Simd.Level >= SimdLevel.Avx2)
        {
            unsafe
            {
                fixed (float* px = x, py = y, pb = bias)
                    Gemm.Run(px, m, w, bias.IsEmpty ? null : pb, py, ep);
            }
            return;
        }
        LinearPortable(x, m, w, bias, y);
        if (!ep.IsNone) ep.ApplyAll(y, m, n);
    }

    /// <summary>Portable path (no AVX2/FMA): widen 16 W rows at a time, dot with each X row.</summary>
    internal static void LinearPortable(ReadOnlySpan<float> x, int m, Weight w, ReadOnlySpan<float> bias, Span<float> y)
    {
        int n = w.Rows, k = w.Cols;
        unsafe
        {
            fixed (float* px = x, py = y, pb = bias)
            {
                var job = new PortableJob { X = px, Y = py, Bias = bias.IsEmpty ? null : pb, M = m, W = w };
                Parallelism.For((n + RowBlock - 1) / RowBlock, job, static (ref readonly PortableJob j, int blk) => PortableBlock(j, blk));
            }
        }
    }

    private unsafe struct PortableJob
    {
        public float* X, Y, Bias;
        public int M;
        public Weight W;
    }

    [ThreadStatic] private static float[]? t_rows;

    private static unsafe void PortableBlock(in PortableJob j, int blk)
    {
        int n = j.W.Rows, k = j.W.Cols, m = j.M;
        int n0 = blk * RowBlock, nb = Math.Min(RowBlock, n - n0);
        var wbuf = t_rows;
        if (wbuf == null || wbuf.Length < nb * k) t_rows = wbuf = new float[RowBlock * k];
        j.W.CopyTo((long)n0 * k, wbuf.AsSpan(0, nb * k));
        var xs = new ReadOnlySpan<float>(j.X, m * k);
        var ys = new Span<float>(j.Y, m * n);
        for (int i = 0; i < m; i++)
        {
            var xr = xs.Slice(i * k, k);
            for (int r = 0; r < nb; r++)
            {
                float s = TensorPrimitives.Dot(xr, wbuf.AsSpan(r * k, k));
                if (j.Bias != null) s += j.Bias[n0 + r];
                ys[i * n + n0 + r] = s;
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
