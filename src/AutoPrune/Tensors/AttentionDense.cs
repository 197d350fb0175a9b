using System.Buffers;

namespace AutoPrune.Tensors;

/// <summary>
/// Non-causal self-attention of a whole sequence (the CLIP vision tower: 577 tokens, 16 heads of 64) as two products
/// per head on the packed GEMM: S = Q_h·K_hᵀ, row softmax, O_h = P·V_h. The streaming kernel's dot products, 8
/// lanes wide with a horizontal reduction per score, ran at a quarter of the GEMM's rate and took a quarter of the
/// tower's time; as GEMMs the n² products run on the 12x32 tiles. An n×n score matrix per head is cheap at this n.
/// </summary>
public static unsafe partial class Attention
{
    /// <summary>Shortest sequence sent to the dense path (below it the per-head products are too small to pay for packing).</summary>
    private const int DenseMinRows = 192;

    /// <summary>Bench switch: false keeps long non-causal sequences on the streaming kernel.</summary>
    internal static bool DenseLongSequences { get; set; } = true;

    private static void ForwardDense(float[] q, int n, float[] k, float[] v, int heads, int kvHeads, int hd, float[] output)
    {
        int qDim = heads * hd, kvDim = kvHeads * hd, group = heads / kvHeads;
        float scale = 1f / MathF.Sqrt(hd);
        var pool = ArrayPool<float>.Shared;
        float[] qh = pool.Rent(n * hd), kh = pool.Rent(n * hd), vt = pool.Rent(hd * n), s = pool.Rent(n * n), oh = pool.Rent(n * hd);
        try
        {
            fixed (float* pk = kh, pv = vt, ps = s)
            {
                var kw = new Weight("attention.k", DType.F32, [n, hd], (byte*)pk);   // [N = keys, K = hd]
                var vw = new Weight("attention.vT", DType.F32, [hd, n], (byte*)pv);  // [N = hd, K = keys]
                for (int h = 0; h < heads; h++)
                {
                    int kvh = h / group;
                    if (h % group == 0)
                        for (int j = 0; j < n; j++)
                        {
                            k.AsSpan(j * kvDim + kvh * hd, hd).CopyTo(kh.AsSpan(j * hd, hd));
                            for (int c = 0; c < hd; c++) vt[c * n + j] = v[j * kvDim + kvh * hd + c];
                        }
                    for (int i = 0; i < n; i++) q.AsSpan(i * qDim + h * hd, hd).CopyTo(qh.AsSpan(i * hd, hd));
                    MatMul.Linear(qh.AsSpan(0, n * hd), n, kw, default, s.AsSpan(0, n * n));
                    var job = new SoftmaxJob { S = ps, N = n, Scale = scale };
                    Parallelism.For((n + SoftmaxRows - 1) / SoftmaxRows, job, static (ref readonly SoftmaxJob j, int b) =>
                    {
                        for (int i = b * SoftmaxRows, e = Math.Min(j.N, i + SoftmaxRows); i < e; i++)
                        {
                            var row = new Span<float>(j.S + (long)i * j.N, j.N);
                            System.Numerics.Tensors.TensorPrimitives.Multiply(row, j.Scale, row);
                            Ops.Softmax(row);
                        }
                    });
                    MatMul.Linear(s.AsSpan(0, n * n), n, vw, default, oh.AsSpan(0, n * hd));
                    for (int i = 0; i < n; i++) oh.AsSpan(i * hd, hd).CopyTo(output.AsSpan(i * qDim + h * hd, hd));
                }
            }
        }
        finally
        {
            pool.Return(qh); pool.Return(kh); pool.Return(vt); pool.Return(s); pool.Return(oh);
        }
    }

    private const int SoftmaxRows = 16;

    private struct SoftmaxJob
    {
        public float* S;
        public int N;
        public float Scale;
    }
}
