namespace AutoPrune.Tensors.Quant;

/// <summary>
/// Y[M,N] = X[M,K]·W[N,K]ᵀ (+bias) for block-quantized W, working on the blocks directly: X is quantized once per
/// call (int8 per 32 values), then every output is one integer block dot product (<see cref="QuantDot"/>).
/// This is the decode path (small M; <see cref="MatMul.Linear"/> sends prefill-sized M to the packed GEMM, which
/// dequantizes W panel by panel). Threads own 16-row chunks of W; within a chunk each X row meets every W row of
/// the chunk while the chunk stays in cache, 4 W rows per pass at AVX-512. Chunk and group boundaries do not
/// depend on the thread count, so neither do the results.
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
            var acts = QuantizedActivations.For(px, m, k, w.DType);
            float* bp = bias.IsEmpty ? null : pb;
            var level = Simd.Level;
            int chunks = (n + RowChunk - 1) / RowChunk;
            if (Parallelism.MaxThreads == 1 || (long)n * k < 1 << 16)
                for (int c = 0; c < chunks; c++) Chunk(c, acts, m, w, bp, py, level);
            else
                Parallelism.For(chunks, new Job { Acts = acts, M = m, W = w, Bias = bp, Y = py, Level = level },
                    static (ref readonly Job j, int c) => Chunk(c, j.Acts, j.M, j.W, j.Bias, j.Y, j.Level));
        }
    }

    private struct Job
    {
        public QuantizedActivations Acts;
        public int M;
        public Weight W;
        public float* Bias, Y;
        public SimdLevel Level;
    }

    private static void Chunk(int c, QuantizedActivations acts, int m, Weight w, float* bias, float* y, SimdLevel level)
    {
        int n = w.Rows, k = w.Cols;
        int r0 = c * RowChunk, r1 = Math.Min(n, r0 + RowChunk);
        long rowBytes = w.RowBytes;
        var t = w.DType;
        int i = 0;
        if (level == SimdLevel.Avx512 && QuantDot512.Handles(t))
        {
            // Each X row against the chunk 4 W rows at a time (the last rows of W one by one, same arithmetic).
            for (; i < m; i++)
            {
                var a = ActRow.Of(acts, i);
                float* yi = y + (long)i * n;
                int r = r0;
                for (; r + 4 <= r1; r += 4)
                {
                    // The first X row streams W from memory: fetch the next 4 rows meanwhile, into the next chunk too
                    // (whichever thread takes it then finds them in a cache rather than in DRAM).
                    byte* next = i == 0 && r + 8 <= n ? w.Data + (r + 4) * rowBytes : null;
                    QuantDot512.Dot4(t, w.Data + r * rowBytes, rowBytes, a, k, yi + r, next);
                }
                for (; r < r1; r++) yi[r] = QuantDot512.Dot1(t, w.Data + r * rowBytes, a, k);
                if (bias != null)
                    for (r = r0; r < r1; r++) yi[r] += bias[r];
            }
            return;
        }
        if (t == DType.Q8_0 && level >= SimdLevel.Avx2)
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
                yi[r] = QuantDot.Fast(level, t, w.Data + r * rowBytes, a, k) + (bias == null ? 0 : bias[r]);
        }
    }

    /// <summary>The scalar definition: same activation quantization, <see cref="QuantDot.Reference"/> per output.</summary>
    public static void LinearReference(ReadOnlySpan<float> x, int m, Weight w, ReadOnlySpan<float> bias, Span<float> y)
    {
        int n = w.Rows, k = w.Cols;
        fixed (float* px = x)
        {
            var acts = QuantizedActivations.For(px, m, k, w.DType);
            for (int i = 0; i < m; i++)
                for (int r = 0; r < n; r++)
                    y[i * n + r] = QuantDot.Reference(w.DType, w.Data + r * w.RowBytes, ActRow.Of(acts, i), k) + (bias.IsEmpty ? 0 : bias[r]);
        }
    }
}
