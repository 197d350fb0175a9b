namespace AutoPrune.Tensors.Quant;

/// <summary>
/// Y[M,N] = X[M,K]·W[N,K]ᵀ (+bias) for block-quantized W, working on the blocks directly: X is quantized once per
/// call (int8 per 32 values), then every output is one integer block dot product (<see cref="QuantDot"/>).
/// Threads own chunks of W rows; within a chunk each X row meets every W row of the chunk while the chunk stays in
/// cache. Each output is computed the same way whatever the chunking, so results do not depend on the thread count.
/// </summary>
public static unsafe class QuantMatMul
{
    private const int RowChunk = 16;

    public static void Linear(ReadOnlySpan<float> x, int m, Weight w, ReadOnlySpan<float> bias, Span<float> y)
    {
        int n = w.Rows, k = w.Cols;
        if (m == 0 || n == 0) return;
        fixed (float* px = x, py = y, pb = bias)
        {
            var acts = QuantizedActivations.For(px, m, k);
            float* bp = bias.IsEmpty ? null : pb;
            int chunks = (n + RowChunk - 1) / RowChunk;
            if (Parallelism.MaxThreads == 1 || (long)n * k < 1 << 16)
                for (int c = 0; c < chunks; c++) Chunk(c, acts, m, w, bp, py);
            else
                Parallelism.For(chunks, new Job { Acts = acts, M = m, W = w, Bias = bp, Y = py },
                    static (ref readonly Job j, int c) => Chunk(c, j.Acts, j.M, j.W, j.Bias, j.Y));
        }
    }

    private struct Job
    {
        public QuantizedActivations Acts;
        public int M;
        public Weight W;
        public float* Bias, Y;
    }

    private static void Chunk(int c, QuantizedActivations acts, int m, Weight w, float* bias, float* y)
    {
        int n = w.Rows, k = w.Cols;
        int r0 = c * RowChunk, r1 = Math.Min(n, r0 + RowChunk);
        long rowBytes = w.RowBytes;
        var t = w.DType;
        int i = 0;
        if (t == DType.Q8_0)
        {
            float* o = stackalloc float[4];
            for (; i + 4 <= m; i += 4)
            {
                ActRow a0 = ActRow.Of(acts, i), a1 = ActRow.Of(acts, i + 1), a2 = ActRow.Of(acts, i + 2), a3 = ActRow.Of(acts, i + 3);
                for (int r = r0; r < r1; r++)
                {
                    QuantDot.Q8_0x4(w.Data + r * rowBytes, a0, a1, a2, a3, k, o);
                    float b = bias == null ? 0 : bias[r];
                    for (int j = 0; j < 4; j++) y[(long)(i + j) * n + r] = o[j] + b;
                }
            }
        }
        for (; i < m; i++)
        {
            var a = ActRow.Of(acts, i);
            float* yi = y + (long)i * n;
            for (int r = r0; r < r1; r++)
                yi[r] = QuantDot.Fast(t, w.Data + r * rowBytes, a, k) + (bias == null ? 0 : bias[r]);
        }
    }

    /// <summary>The scalar definition: same activation quantization, <see cref="QuantDot.Reference"/> per output.</summary>
    public static void LinearReference(ReadOnlySpan<float> x, int m, Weight w, ReadOnlySpan<float> bias, Span<float> y)
    {
        int n = w.Rows, k = w.Cols;
        fixed (float* px = x)
        {
            var acts = QuantizedActivations.For(px, m, k);
            for (int i = 0; i < m; i++)
                for (int r = 0; r < n; r++)
                    y[i * n + r] = QuantDot.Reference(w.DType, w.Data + r * w.RowBytes, ActRow.Of(acts, i), k) + (bias.IsEmpty ? 0 : bias[r]);
        }
    }
}
