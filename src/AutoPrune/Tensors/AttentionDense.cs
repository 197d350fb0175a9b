using System.Buffers;
using System.Runtime.Intrinsics.X86;

namespace AutoPrune.Tensors;

/// <summary>
/// Non-causal self-attention of a whole sequence (the CLIP vision tower: 577 tokens, 16 heads of 64) as two products
/// per head on the packed GEMM: S = Q_h·K_hᵀ, row softmax, O_h = P·V_h. The streaming kernel's dot products, 8
/// lanes wide with a horizontal reduction per score, ran at a quarter of the GEMM's rate and took a quarter of the
/// tower's time; as GEMMs the n² products run on the 12x32 tiles. An n×n score matrix per head is cheap at this n.
/// Heads run in parallel, each whole on one thread (its GEMMs then run serially): a head's score matrix (1.3 MB at
/// 577 tokens) stays in that core's L2 from QKᵀ through PV, and a layer synchronises the pool once instead of three
/// times per head.
/// </summary>
public static unsafe partial class Attention
{
    /// <summary>Shortest sequence sent to the dense path (below it the per-head products are too small to pay for packing).</summary>
    private const int DenseMinRows = 192;

    /// <summary>Bench switch: false keeps long non-causal sequences on the streaming kernel.</summary>
    internal static bool DenseLongSequences { get; set; } = true;

    private static void ForwardDense(float[] q, int n, float[] k, float[] v, int heads, int kvHeads, int hd, float[] output)
    {
        fixed (float* pq = q, pk = k, pv = v, po = output)
        {
            // The level is read here and handed to the workers (a Simd.Use scope is per thread).
            var job = new DenseJob
            {
                Q = pq, K = pk, V = pv, Out = po, N = n, Hd = hd, Group = heads / kvHeads, QDim = heads * hd, KvDim = kvHeads * hd,
                Scale = 1f / MathF.Sqrt(hd), Level = Simd.Level,
            };
            Parallelism.For(heads, job, static (ref readonly DenseJob j, int h) => DenseHead(j, h));
        }
    }

    private struct DenseJob
    {
        public float* Q, K, V, Out;
        public int N, Hd, Group, QDim, KvDim;
        public float Scale;
        public SimdLevel Level;
    }

    /// <summary>One head on the calling thread: gather Q_h, K_h, V_hᵀ, then S = Q_h·K_hᵀ, softmax rows, O_h = P·V_h.</summary>
    private static void DenseHead(in DenseJob j, int h)
    {
        using var level = Simd.Use(j.Level);
        int n = j.N, hd = j.Hd, kvh = h / j.Group;
        var pool = ArrayPool<float>.Shared;
        float[] qh = pool.Rent(n * hd), kh = pool.Rent(n * hd), vt = pool.Rent(hd * n), s = pool.Rent(n * n), oh = pool.Rent(n * hd);
        try
        {
            for (int i = 0; i < n; i++)
            {
                new ReadOnlySpan<float>(j.Q + (long)i * j.QDim + h * hd, hd).CopyTo(qh.AsSpan(i * hd, hd));
                new ReadOnlySpan<float>(j.K + (long)i * j.KvDim + kvh * hd, hd).CopyTo(kh.AsSpan(i * hd, hd));
            }
            fixed (float* pk = kh, pv = vt)
            {
                // Vᵀ by 8x8 blocks: one float at a time, each store lands in another of 64 rows (4x slower).
                int r = 0;
                if (hd % 8 == 0)
                    for (; r + 8 <= n; r += 8)
                        for (int c = 0; c < hd; c += 8)
                        {
                            float* src = j.V + (long)r * j.KvDim + kvh * hd + c;
                            long st = j.KvDim;
                            GemmKernel.Transpose8x8Store(Avx.LoadVector256(src), Avx.LoadVector256(src + st), Avx.LoadVector256(src + 2 * st),
                                Avx.LoadVector256(src + 3 * st), Avx.LoadVector256(src + 4 * st), Avx.LoadVector256(src + 5 * st),
                                Avx.LoadVector256(src + 6 * st), Avx.LoadVector256(src + 7 * st), pv + (long)c * n + r, n);
                        }
                for (; r < n; r++)
                {
                    float* vr = j.V + (long)r * j.KvDim + kvh * hd;
                    for (int c = 0; c < hd; c++) pv[(long)c * n + r] = vr[c];
                }
                var kw = new Weight("attention.k", DType.F32, [n, hd], (byte*)pk);   // [N = keys, K = hd]
                var vw = new Weight("attention.vT", DType.F32, [hd, n], (byte*)pv);  // [N = hd, K = keys]
                MatMul.Linear(qh.AsSpan(0, n * hd), n, kw, default, s.AsSpan(0, n * n));
                for (int i = 0; i < n; i++) Ops.SoftmaxScaled(s.AsSpan(i * n, n), j.Scale);
                MatMul.Linear(s.AsSpan(0, n * n), n, vw, default, oh.AsSpan(0, n * hd));
            }
            for (int i = 0; i < n; i++) oh.AsSpan(i * hd, hd).CopyTo(new Span<float>(j.Out + (long)i * j.QDim + h * hd, hd));
        }
        finally
        {
            pool.Return(qh); pool.Return(kh); pool.Return(vt); pool.Return(s); pool.Return(oh);
        }
    }
}
