using System.Diagnostics;
using AutoPrune.Tensors;

namespace AutoPrune.Benchmarking;

/// <summary>
/// Where one CLIP encoder layer's time goes: the layer's steps run one by one on random weights of a vision_config's
/// shape (the same kernel calls as the engine's layer), each timed on its own, median over repetitions.
/// </summary>
public static class VisionProfile
{
    /// <summary>One step: median ms, its GEMM GFLOP (0 for elementwise work), and whether it is an alternative left out of the layer total.</summary>
    public sealed record Stage(string Name, double Ms, double Gflop, bool Alternative);

    public static List<Stage> Measure(Loading.ClipVisionConfig v, DType dtype, int reps, int seed = 3)
    {
        int n = v.NumPatches + 1, d = v.HiddenSize, m = v.IntermediateSize, heads = v.NumAttentionHeads, hd = v.HeadDim;
        var owners = new List<IDisposable>();
        try
        {
            float s = 1f / MathF.Sqrt(d);
            Weight W(string name, int rows, int cols, int sd) => SyntheticWeights.Create(name, dtype, [rows, cols], seed + sd, s, owners);
            var q = W("q", d, d, 1); var k = W("k", d, d, 2); var vw = W("v", d, d, 3); var o = W("o", d, d, 4);
            var fc1 = W("fc1", m, d, 5); var fc2 = W("fc2", d, m, 6);
            var rng = new Random(seed);
            float[] Rand(int count, float scale) { var a = new float[count]; for (int i = 0; i < count; i++) a[i] = (float)(rng.NextDouble() * 2 - 1) * scale; return a; }
            var ones = new float[d]; Array.Fill(ones, 1f);
            var zeros = new float[d];
            var bd = Rand(d, 0.1f); var bm = Rand(m, 0.1f);
            var h = Rand(n * d, 1f);
            float[] x = new float[n * d], qa = new float[n * d], ka = new float[n * d], va = new float[n * d], a = new float[n * d], mid = new float[n * m];
            bool quick = v.HiddenAct == "quick_gelu";

            var act = quick ? Activation.QuickGelu : Activation.Gelu;
            var scores = new float[n * n];
            // Alternatives (Alt = true) run in the same repetitions but are not part of the layer's total: the separate
            // passes the fused epilogues replaced, and attention with every per-head product spread over the pool.
            var steps = new (string Name, double Gflop, bool Alt, Action Run)[]
            {
                ("layer_norm1", 0, false, () => Ops.LayerNorm(h, ones, zeros, v.LayerNormEps, x, n)),
                ("q_proj", 2.0 * n * d * d / 1e9, false, () => MatMul.Linear(x, n, q, bd, qa)),
                ("k_proj", 2.0 * n * d * d / 1e9, false, () => MatMul.Linear(x, n, k, bd, ka)),
                ("v_proj", 2.0 * n * d * d / 1e9, false, () => MatMul.Linear(x, n, vw, bd, va)),
                ("attention (QKᵀ, softmax, PV)", 4.0 * n * n * d / 1e9, false, () => Attention.Forward(qa, n, ka, va, n, heads, heads, hd, causal: false, a)),
                ("  vs heads in turn, GEMMs on the pool", 4.0 * n * n * d / 1e9, true, () => AttentionHeadsInTurn(qa, ka, va, n, heads, hd, scores, a)),
                ("out_proj + residual", 2.0 * n * d * d / 1e9, false, () => MatMul.LinearAddTo(a, n, o, bd, x, h)),
                ("  vs out_proj, then add", 2.0 * n * d * d / 1e9, true, () => { MatMul.Linear(a, n, o, bd, x); System.Numerics.Tensors.TensorPrimitives.Add(h, x, h); }),
                ("layer_norm2", 0, false, () => Ops.LayerNorm(h, ones, zeros, v.LayerNormEps, x, n)),
                ($"fc1 + {act}", 2.0 * n * d * m / 1e9, false, () => MatMul.Linear(x, n, fc1, bm, mid, act)),
                ($"  vs fc1, then {act}", 2.0 * n * d * m / 1e9, true, () => { MatMul.Linear(x, n, fc1, bm, mid); if (quick) Ops.QuickGelu(mid); else Ops.Gelu(mid); }),
                ("fc2 + residual", 2.0 * n * d * m / 1e9, false, () => MatMul.LinearAddTo(mid, n, fc2, bd, x, h)),
                ("  vs fc2, then add", 2.0 * n * d * m / 1e9, true, () => { MatMul.Linear(mid, n, fc2, bd, x); System.Numerics.Tensors.TensorPrimitives.Add(h, x, h); }),
            };
            // Before each repetition the residual stream is brought back in range (the random layer is not trained).
            return Time(steps, reps, () => Ops.LayerNorm(h, ones, zeros, v.LayerNormEps, h, n));
        }
        finally
        {
            foreach (var ow in owners) ow.Dispose();
        }
    }

    /// <summary>The previous dense attention: heads one after another, each product and the softmax spread over the pool.</summary>
    private static unsafe void AttentionHeadsInTurn(float[] q, float[] k, float[] v, int n, int heads, int hd, float[] s, float[] output)
    {
        int dim = heads * hd;
        float scale = 1f / MathF.Sqrt(hd);
        float[] qh = new float[n * hd], kh = new float[n * hd], vt = new float[hd * n], oh = new float[n * hd];
        fixed (float* pk = kh, pv = vt, ps = s)
        {
            var kw = new Weight("attention.k", DType.F32, [n, hd], (byte*)pk);
            var vw = new Weight("attention.vT", DType.F32, [hd, n], (byte*)pv);
            for (int h = 0; h < heads; h++)
            {
                for (int j = 0; j < n; j++)
                {
                    k.AsSpan(j * dim + h * hd, hd).CopyTo(kh.AsSpan(j * hd, hd));
                    for (int c = 0; c < hd; c++) vt[c * n + j] = v[j * dim + h * hd + c];
                    q.AsSpan(j * dim + h * hd, hd).CopyTo(qh.AsSpan(j * hd, hd));
                }
                MatMul.Linear(qh, n, kw, default, s);
                Parallelism.For((n + 15) / 16, ((nint)ps, n, scale), static (ref readonly (nint S, int N, float Scale) j, int b) =>
                {
                    for (int i = b * 16, e = Math.Min(j.N, i + 16); i < e; i++)
                    {
                        var row = new Span<float>((float*)j.S + (long)i * j.N, j.N);
                        System.Numerics.Tensors.TensorPrimitives.Multiply(row, j.Scale, row);
                        Ops.Softmax(row);
                    }
                });
                MatMul.Linear(s, n, vw, default, oh);
                for (int i = 0; i < n; i++) oh.AsSpan(i * hd, hd).CopyTo(output.AsSpan(i * dim + h * hd, hd));
            }
        }
    }

    /// <summary>One attention head on one thread, phase by phase (median ms): gathering Q/K/Vᵀ, QKᵀ, softmax rows, PV.</summary>
    public static unsafe List<Stage> MeasureHead(int n, int hd, int reps, int seed = 4)
    {
        var rng = new Random(seed);
        float[] Rand(int count) { var a = new float[count]; for (int i = 0; i < count; i++) a[i] = (float)(rng.NextDouble() * 2 - 1); return a; }
        float[] qh = Rand(n * hd), kh = Rand(n * hd), vt = Rand(hd * n), s = new float[n * n], oh = new float[n * hd];
        int saved = Parallelism.MaxThreads;
        Parallelism.MaxThreads = 1;
        try
        {
            fixed (float* pk = kh, pv = vt)
            {
                var kw = new Weight("k", DType.F32, [n, hd], (byte*)pk);
                var vw = new Weight("vT", DType.F32, [hd, n], (byte*)pv);
                float scale = 1f / MathF.Sqrt(hd);
                var steps = new (string Name, double Gflop, bool Alt, Action Run)[]
                {
                    ("QKᵀ", 2.0 * n * n * hd / 1e9, false, () => MatMul.Linear(qh, n, kw, default, s)),
                    ("softmax rows (SoftmaxScaled)", 0, false, () =>
                    {
                        for (int i = 0; i < n; i++) Ops.SoftmaxScaled(s.AsSpan(i * n, n), scale);
                    }),
                    ("  vs scale, then Softmax", 0, true, () =>
                    {
                        for (int i = 0; i < n; i++)
                        {
                            var row = s.AsSpan(i * n, n);
                            System.Numerics.Tensors.TensorPrimitives.Multiply(row, scale, row);
                            Ops.Softmax(row);
                        }
                    }),
                    ("PV", 2.0 * n * n * hd / 1e9, false, () => MatMul.Linear(s, n, vw, default, oh)),
                };
                return Time(steps, reps, () => { });
            }
        }
        finally { Parallelism.MaxThreads = saved; }
    }

    /// <summary>Runs the steps in order, an untimed round first then <paramref name="reps"/> timed ones; median ms of each.</summary>
    private static List<Stage> Time((string Name, double Gflop, bool Alt, Action Run)[] steps, int reps, Action beforeEach)
    {
        reps = Math.Max(1, reps);
        var times = new double[steps.Length][];
        for (int i = 0; i < steps.Length; i++) times[i] = new double[reps];
        for (int r = -1; r < reps; r++)
        {
            beforeEach();
            for (int i = 0; i < steps.Length; i++)
            {
                long t0 = Stopwatch.GetTimestamp();
                steps[i].Run();
                if (r >= 0) times[i][r] = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
            }
        }
        var result = new List<Stage>();
        for (int i = 0; i < steps.Length; i++)
        {
            Array.Sort(times[i]);
            result.Add(new Stage(steps[i].Name, times[i][reps / 2], steps[i].Gflop, steps[i].Alt));
        }
        return result;
    }
}
