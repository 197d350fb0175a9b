using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace AutoPrune.Tensors;

/// <summary>
/// Row-wise elementwise kernels. All in float32, matching transformers' float32 path. Large inputs (prefill, the
/// vision tower) are split into row blocks or 8-aligned element chunks on the worker pool; every element is computed
/// by the same code whatever the split, so results do not depend on the thread count.
/// </summary>
public static unsafe class Ops
{
    // Below this many elements the pool's hand-off costs more than the work (decode rows: 4096 / 11008 elements).
    private const int ParallelMin = 1 << 16;
    private const int MapChunk = 1 << 14;   // elements per work item of a map (a multiple of 8)

    /// <summary>Rows per work item so each item has at least ~16K elements.</summary>
    private static int RowsPerItem(int d) => Math.Max(1, MapChunk / Math.Max(1, d));

    private struct RowJob
    {
        public float* X, W, B, Y;
        public int D, Rows, RowsPer;
        public float Eps;
        public bool Wide;
    }

    /// <summary>The instruction set the norms, activations, softmax and RoPE run with now.</summary>
    public static string Isa => Simd.Level switch
    {
        SimdLevel.Avx512 => "AVX-512 (GELU, quick_gelu, LayerNorm, attention softmax), AVX2 (RMSNorm, SiLU, RoPE)",
        SimdLevel.Avx2 => "AVX2",
        _ => "scalar (portable)",
    };

    /// <summary>LLaMA RMSNorm on each row of x [rows, d]: x * rsqrt(mean(x²) + eps) * w.</summary>
    public static void RmsNorm(ReadOnlySpan<float> x, ReadOnlySpan<float> w, float eps, Span<float> y, int rows)
    {
        int d = w.Length;
        if (rows > 1 && (long)rows * d >= ParallelMin && x.Length >= rows * d && y.Length >= rows * d)
        {
            fixed (float* px = x, pw = w, py = y)
            {
                int per = RowsPerItem(d);
                var job = new RowJob { X = px, W = pw, Y = py, D = d, Rows = rows, RowsPer = per, Eps = eps };
                Parallelism.For((rows + per - 1) / per, job, static (ref readonly RowJob j, int it) =>
                {
                    int r0 = it * j.RowsPer, n = Math.Min(j.RowsPer, j.Rows - r0);
                    RmsNormRows(new ReadOnlySpan<float>(j.X + (long)r0 * j.D, n * j.D), new ReadOnlySpan<float>(j.W, j.D), j.Eps,
                        new Span<float>(j.Y + (long)r0 * j.D, n * j.D), n);
                });
            }
            return;
        }
        RmsNormRows(x, w, eps, y, rows);
    }

    private static void RmsNormRows(ReadOnlySpan<float> x, ReadOnlySpan<float> w, float eps, Span<float> y, int rows)
    {
        int d = w.Length;
        for (int r = 0; r < rows; r++)
        {
            var xr = x.Slice(r * d, d);
            var yr = y.Slice(r * d, d);
            float ms = TensorPrimitives.Dot(xr, xr) / d;
            float inv = 1f / MathF.Sqrt(ms + eps);
            // One pass, rounding (x·inv)·w exactly as the two-pass reference does.
            int i = 0;
            if (Simd.Level >= SimdLevel.Avx2)
            {
                var vi = Vector256.Create(inv);
                for (; i + 8 <= d; i += 8)
                    ((Vector256.Create(xr.Slice(i, 8)) * vi) * Vector256.Create(w.Slice(i, 8))).CopyTo(yr.Slice(i, 8));
            }
            for (; i < d; i++) yr[i] = xr[i] * inv * w[i];
        }
    }

    /// <summary>Two-pass RMSNorm (the reference for <see cref="RmsNorm"/>).</summary>
    public static void RmsNormReference(ReadOnlySpan<float> x, ReadOnlySpan<float> w, float eps, Span<float> y, int rows)
    {
        int d = w.Length;
        for (int r = 0; r < rows; r++)
        {
            var xr = x.Slice(r * d, d);
            var yr = y.Slice(r * d, d);
            float ms = TensorPrimitives.Dot(xr, xr) / d;
            float inv = 1f / MathF.Sqrt(ms + eps);
            TensorPrimitives.Multiply(xr, inv, yr);
            TensorPrimitives.Multiply(yr, w, yr);
        }
    }

    /// <summary>LayerNorm on each row of x [rows, d] with biased variance, as torch.nn.LayerNorm.</summary>
    public static void LayerNorm(ReadOnlySpan<float> x, ReadOnlySpan<float> w, ReadOnlySpan<float> b, float eps, Span<float> y, int rows)
    {
        int d = w.Length;
        if (rows > 1 && (long)rows * d >= ParallelMin && x.Length >= rows * d && y.Length >= rows * d && b.Length >= d)
        {
            fixed (float* px = x, pw = w, pb = b, py = y)
            {
                int per = RowsPerItem(d);
                var job = new RowJob { X = px, W = pw, B = pb, Y = py, D = d, Rows = rows, RowsPer = per, Eps = eps, Wide = Simd.Level == SimdLevel.Avx512 };
                Parallelism.For((rows + per - 1) / per, job, static (ref readonly RowJob j, int it) =>
                {
                    int r0 = it * j.RowsPer, n = Math.Min(j.RowsPer, j.Rows - r0);
                    LayerNormRows(new ReadOnlySpan<float>(j.X + (long)r0 * j.D, n * j.D), new ReadOnlySpan<float>(j.W, j.D),
                        new ReadOnlySpan<float>(j.B, j.D), j.Eps, new Span<float>(j.Y + (long)r0 * j.D, n * j.D), n, j.Wide);
                });
            }
            return;
        }
        LayerNormRows(x, w, b, eps, y, rows, Simd.Level == SimdLevel.Avx512 && x.Length >= rows * d && y.Length >= rows * d && b.Length >= d);
    }

    private static void LayerNormRows(ReadOnlySpan<float> x, ReadOnlySpan<float> w, ReadOnlySpan<float> b, float eps, Span<float> y, int rows, bool wide)
    {
        int d = w.Length;
        if (wide && d >= 16)
        {
            fixed (float* px = x, pw = w, pb = b, py = y)
                for (int r = 0; r < rows; r++) LayerNormRow512(px + (long)r * d, pw, pb, eps, py + (long)r * d, d);
            return;
        }
        for (int r = 0; r < rows; r++)
        {
            var xr = x.Slice(r * d, d);
            var yr = y.Slice(r * d, d);
            float mean = TensorPrimitives.Sum(xr) / d;
            TensorPrimitives.Subtract(xr, mean, yr);
            float var = TensorPrimitives.Dot(yr, yr) / d;
            float inv = 1f / MathF.Sqrt(var + eps);
            TensorPrimitives.Multiply(yr, inv, yr);
            TensorPrimitives.FusedMultiplyAdd(yr, w, b, yr);
        }
    }

    /// <summary>
    /// One row in three passes of 16 lanes (sum; centre and sum of squares; scale, weight and bias) instead of five
    /// library calls: per element the same operations as the library path, the mean and
    /// variance summed in another order. The tail (d mod 16) goes through masked loads and stores.
    /// </summary>
    private static void LayerNormRow512(float* x, float* w, float* b, float eps, float* y, int d)
    {
        int whole = d & ~15, rest = d - whole;
        var mask = Vector512.LessThan(Vector512<int>.Indices, Vector512.Create(rest)).AsSingle();
        var acc = Vector512<float>.Zero;
        int i = 0;
        for (; i < whole; i += 16) acc += Avx512F.LoadVector512(x + i);
        if (rest > 0) acc += Vector512.ConditionalSelect(mask, Avx512F.MaskLoad(x + whole, mask, Vector512<float>.Zero), Vector512<float>.Zero);
        float mean = Vector512.Sum(acc) / d;
        var vm = Vector512.Create(mean);
        var sq = Vector512<float>.Zero;
        for (i = 0; i < whole; i += 16)
        {
            var c = Avx512F.LoadVector512(x + i) - vm;
            Avx512F.Store(y + i, c);
            sq = Avx512F.FusedMultiplyAdd(c, c, sq);
        }
        if (rest > 0)
        {
            var c = Vector512.ConditionalSelect(mask, Avx512F.MaskLoad(x + whole, mask, Vector512<float>.Zero) - vm, Vector512<float>.Zero);
            Avx512F.MaskStore(y + whole, mask, c);
            sq = Avx512F.FusedMultiplyAdd(c, c, sq);
        }
        var inv = Vector512.Create(1f / MathF.Sqrt(Vector512.Sum(sq) / d + eps));
        for (i = 0; i < whole; i += 16)
            Avx512F.Store(y + i, Avx512F.FusedMultiplyAdd(Avx512F.LoadVector512(y + i) * inv, Avx512F.LoadVector512(w + i), Avx512F.LoadVector512(b + i)));
        if (rest > 0)
        {
            var z = Vector512<float>.Zero;
            Avx512F.MaskStore(y + whole, mask, Avx512F.FusedMultiplyAdd(Avx512F.MaskLoad(y + whole, mask, z) * inv,
                Avx512F.MaskLoad(w + whole, mask, z), Avx512F.MaskLoad(b + whole, mask, z)));
        }
    }

    // Elementwise maps run 8 lanes at a time; a tail shorter than 8 goes through the same vector code via
    // an 8-float buffer, so an element's result never depends on its position or the span length.
    private interface IMap { static abstract Vector256<float> Apply(Vector256<float> x, Vector256<float> y); }

    private struct MapJob
    {
        public float* X, Y;
        public int N;
    }

    /// <summary>Runs <see cref="MapSerial{T}"/> over 8-aligned chunks on the pool when the span is large.</summary>
    private static void Map<T>(Span<float> x, ReadOnlySpan<float> y) where T : IMap
    {
        int n = x.Length;
        if (n < ParallelMin) { MapSerial<T>(x, y); return; }
        fixed (float* px = x, py = y)
        {
            var job = new MapJob { X = px, Y = y.IsEmpty ? null : py, N = n };
            Parallelism.For((n + MapChunk - 1) / MapChunk, job, static (ref readonly MapJob j, int it) =>
            {
                int i0 = it * MapChunk, len = Math.Min(MapChunk, j.N - i0);
                MapSerial<T>(new Span<float>(j.X + i0, len), j.Y == null ? default : new ReadOnlySpan<float>(j.Y + i0, len));
            });
        }
    }

    private static void MapSerial<T>(Span<float> x, ReadOnlySpan<float> y) where T : IMap
    {
        int i = 0, n = x.Length;
        for (; i + 8 <= n; i += 8)
            T.Apply(Vector256.Create((ReadOnlySpan<float>)x.Slice(i, 8)), y.IsEmpty ? default : Vector256.Create(y.Slice(i, 8))).CopyTo(x.Slice(i, 8));
        if (i == n) return;
        Span<float> tx = stackalloc float[8], ty = stackalloc float[8];
        tx.Clear(); ty.Clear();
        x[i..].CopyTo(tx);
        if (!y.IsEmpty) y[i..n].CopyTo(ty);
        T.Apply(Vector256.Create((ReadOnlySpan<float>)tx), Vector256.Create((ReadOnlySpan<float>)ty)).CopyTo(tx);
        tx[..(n - i)].CopyTo(x[i..]);
    }

    // AVX-512 maps: 16 lanes, the tail through a padded copy as above.
    private interface IMap512 { static abstract Vector512<float> Apply(Vector512<float> x); }

    private static void Map512<T>(Span<float> x) where T : IMap512
    {
        int n = x.Length;
        if (n < ParallelMin) { MapSerial512<T>(x); return; }
        fixed (float* px = x)
        {
            var job = new MapJob { X = px, N = n };
            Parallelism.For((n + MapChunk - 1) / MapChunk, job, static (ref readonly MapJob j, int it) =>
            {
                int i0 = it * MapChunk, len = Math.Min(MapChunk, j.N - i0);
                MapSerial512<T>(new Span<float>(j.X + i0, len));
            });
        }
    }

    private static void MapSerial512<T>(Span<float> x) where T : IMap512
    {
        int i = 0, n = x.Length;
        fixed (float* p = x)
        {
            for (; i + 16 <= n; i += 16) Avx512F.Store(p + i, T.Apply(Avx512F.LoadVector512(p + i)));
            if (i == n) return;
            float* t = stackalloc float[16];
            for (int k = 0; k < 16; k++) t[k] = i + k < n ? p[i + k] : 0f;
            Avx512F.Store(t, T.Apply(Avx512F.LoadVector512(t)));
            for (int k = 0; i + k < n; k++) p[i + k] = t[k];
        }
    }

    /// <summary>
    /// x·σ(1.702x) with the float polynomial exp of e^(−|z|) ≤ 1: x/(1 + t) for x ≥ 0, x·t/(1 + t) below (within 4 ulp
    /// of the scalar reference; the runtime's exp, which works in double, made this the costliest epilogue).
    /// </summary>
    private struct QuickGeluMap512 : IMap512
    {
        public static Vector512<float> Apply(Vector512<float> x)
        {
            var t = ExpNonPositive(-Vector512.Abs(x * Vector512.Create(1.702f)));
            var num = Vector512.ConditionalSelect(Vector512.LessThan(x, Vector512<float>.Zero), x * t, x);
            return num / (Vector512<float>.One + t);
        }
    }

    /// <summary>The 8-lane GELU's operations lane by lane (so bitwise its results), two Clenshaw chains interleaved.</summary>
    private struct GeluMap512 : IMap512
    {
        public static Vector512<float> Apply(Vector512<float> x)
        {
            var lo = Vector512.WidenLower(x); var hi = Vector512.WidenUpper(x);
            var half = Vector512.Create(0.5); var one = Vector512<double>.One; var rs2 = Vector512.Create(0.70710678118654752);
            var (el, eh) = ErfVector.Erf2(lo * rs2, hi * rs2);
            return Vector512.Narrow(half * lo * (one + el), half * hi * (one + eh));
        }
    }

    private struct QuickGeluMap : IMap
    {
        public static Vector256<float> Apply(Vector256<float> x, Vector256<float> _) =>
            x / (Vector256<float>.One + Vector256.Exp(x * Vector256.Create(-1.702f)));
    }

    private struct SiluMulMap : IMap
    {
        public static Vector256<float> Apply(Vector256<float> g, Vector256<float> up) =>
            g / (Vector256<float>.One + Vector256.Exp(-g)) * up;
    }

    private struct GeluMap : IMap
    {
        public static Vector256<float> Apply(Vector256<float> x, Vector256<float> _)
        {
            var lo = Vector256.WidenLower(x); var hi = Vector256.WidenUpper(x);
            var half = Vector256.Create(0.5); var one = Vector256<double>.One; var rs2 = Vector256.Create(0.70710678118654752);
            lo = half * lo * (one + ErfVector.Erf(lo * rs2));
            hi = half * hi * (one + ErfVector.Erf(hi * rs2));
            return Vector256.Narrow(lo, hi);
        }
    }

    private struct ErfMap : IMap
    {
        public static Vector256<float> Apply(Vector256<float> x, Vector256<float> _) =>
            Vector256.Narrow(ErfVector.Erf(Vector256.WidenLower(x)), ErfVector.Erf(Vector256.WidenUpper(x)));
    }

    /// <summary>CLIP quick_gelu: x * sigmoid(1.702 x), in place.</summary>
    public static void QuickGelu(Span<float> x)
    {
        if (Simd.Level == SimdLevel.Avx512) Map512<QuickGeluMap512>(x);
        else if (Simd.Level >= SimdLevel.Avx2) Map<QuickGeluMap>(x, default);
        else QuickGeluReference(x);
    }

    /// <summary>The vector quick_gelu on the calling thread (a GEMM epilogue's block; AVX2 and up).</summary>
    internal static void QuickGeluVector(Span<float> x, bool wide)
    {
        if (wide) MapSerial512<QuickGeluMap512>(x); else MapSerial<QuickGeluMap>(x, default);
    }

    public static void QuickGeluReference(Span<float> x)
    {
        for (int i = 0; i < x.Length; i++) x[i] = x[i] / (1f + MathF.Exp(-1.702f * x[i]));
    }

    /// <summary>Exact GELU 0.5 x (1 + erf(x/√2)), in place, evaluated in double (see <see cref="ErfVector"/>).</summary>
    public static void Gelu(Span<float> x)
    {
        if (Simd.Level == SimdLevel.Avx512) Map512<GeluMap512>(x);
        else if (Simd.Level >= SimdLevel.Avx2) Map<GeluMap>(x, default);
        else GeluReference(x);
    }

    /// <summary>The vector GELU on the calling thread (a GEMM epilogue's block; AVX2 and up).</summary>
    internal static void GeluVector(Span<float> x, bool wide)
    {
        if (wide) MapSerial512<GeluMap512>(x); else MapSerial<GeluMap>(x, default);
    }

    public static void GeluReference(Span<float> x)
    {
        for (int i = 0; i < x.Length; i++)
            x[i] = (float)(0.5 * x[i] * (1.0 + Erf(x[i] * 0.70710678118654752)));
    }

    /// <summary>Vectorized float erf, y = erf(x) (within 1 ulp of the correctly rounded value).</summary>
    public static void Erf(ReadOnlySpan<float> x, Span<float> y)
    {
        x.CopyTo(y);
        Map<ErfMap>(y, default);
    }

    /// <summary>SwiGLU gate: gate = silu(gate) * up, in place over gate.</summary>
    public static void SiluMul(Span<float> gate, ReadOnlySpan<float> up)
    {
        if (up.Length < gate.Length) throw new ArgumentException("up is shorter than gate");
        if (Simd.Level >= SimdLevel.Avx2) Map<SiluMulMap>(gate, up);
        else SiluMulReference(gate, up);
    }

    public static void SiluMulReference(Span<float> gate, ReadOnlySpan<float> up)
    {
        for (int i = 0; i < gate.Length; i++)
        {
            float g = gate[i];
            gate[i] = g / (1f + MathF.Exp(-g)) * up[i];
        }
    }

    /// <summary>Numerically stable softmax in place.</summary>
    public static void Softmax(Span<float> x)
    {
        if (x.Length == 0) return;
        if (Simd.Level < SimdLevel.Avx2) { SoftmaxReference(x); return; }
        float max = TensorPrimitives.Max(x);
        var vm = Vector256.Create(max);
        var acc = Vector256<float>.Zero;
        int i = 0, n = x.Length;
        for (; i + 8 <= n; i += 8)
        {
            var e = Vector256.Exp(Vector256.Create((ReadOnlySpan<float>)x.Slice(i, 8)) - vm);
            e.CopyTo(x.Slice(i, 8));
            acc += e;
        }
        float sum = Vector256.Sum(acc);
        if (i < n)
        {
            Span<float> t = stackalloc float[8];
            t.Fill(float.NegativeInfinity);
            x[i..].CopyTo(t);
            var e = Vector256.Exp(Vector256.Create((ReadOnlySpan<float>)t) - vm); // exp(−∞) = 0 in unused lanes
            e.CopyTo(t);
            t[..(n - i)].CopyTo(x[i..]);
            sum += Vector256.Sum(e);
        }
        TensorPrimitives.Multiply(x, 1f / sum, x);
    }

    /// <summary>
    /// softmax(scale·x) in place (attention score rows). AVX-512: three passes over the row (max, exp and sum, normalise)
    /// with a float polynomial exp (<see cref="ExpNonPositive"/>) instead of the runtime's, which computes exp in double
    /// and was a third of a vision-tower attention head. Below AVX-512: scale, then <see cref="Softmax"/>.
    /// </summary>
    public static void SoftmaxScaled(Span<float> x, float scale)
    {
        if (x.Length == 0) return;
        if (Simd.Level < SimdLevel.Avx512)
        {
            TensorPrimitives.Multiply(x, scale, x);
            Softmax(x);
            return;
        }
        int n = x.Length, i = 0;
        var vs = Vector512.Create(scale);
        Span<float> tail = stackalloc float[16];
        fixed (float* p = x, pt = tail)
        {
            // Elements past the last whole vector go through the same vector code in a padded copy (lanes past the row
            // are -inf: they give 0), so an element's result does not depend on where the row ends.
            int whole = n & ~15, rest = n - whole;
            if (rest > 0)
            {
                tail.Fill(float.NegativeInfinity);
                x[whole..].CopyTo(tail);
            }
            var vmax = Vector512.Create(float.NegativeInfinity);
            for (; i < whole; i += 16) vmax = Avx512F.Max(vmax, Avx512F.LoadVector512(p + i) * vs);
            if (rest > 0) vmax = Avx512F.Max(vmax, Avx512F.LoadVector512(pt) * vs);
            var h = Avx.Max(vmax.GetLower(), vmax.GetUpper());
            var q = Sse.Max(h.GetLower(), h.GetUpper());
            float max = MathF.Max(MathF.Max(q[0], q[1]), MathF.Max(q[2], q[3]));
            var vm = Vector512.Create(max);
            var acc = Vector512<float>.Zero;
            for (i = 0; i < whole; i += 16)
            {
                var e = ExpNonPositive(Avx512F.LoadVector512(p + i) * vs - vm);
                Avx512F.Store(p + i, e);
                acc += e;
            }
            if (rest > 0)
            {
                var e = ExpNonPositive(Avx512F.LoadVector512(pt) * vs - vm);
                Avx512F.Store(pt, e);
                acc += e;
                tail[..rest].CopyTo(x[whole..]);
            }
            var inv = Vector512.Create(1f / Vector512.Sum(acc));
            for (i = 0; i < whole; i += 16) Avx512F.Store(p + i, Avx512F.LoadVector512(p + i) * inv);
            for (i = whole; i < n; i++) p[i] *= inv[0];
        }
    }

    /// <summary>
    /// e^x for x ≤ 0 (softmax arguments), within 2 ulp: x = k·ln2 + r with |r| ≤ ln2/2 (ln2 split in two for an exact
    /// reduction), Cephes' degree-6 polynomial for e^r, scaled by 2^k with vscalefps. −∞ and anything below −104 give 0.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<float> ExpNonPositive(Vector512<float> x)
    {
        x = Avx512F.Max(x, Vector512.Create(-104f));
        var k = Avx512F.RoundScale(x * Vector512.Create(1.44269504088896341f), 0x08);   // nearest, no exceptions
        var r = Avx512F.FusedMultiplyAdd(k, Vector512.Create(-0.693359375f), x);
        r = Avx512F.FusedMultiplyAdd(k, Vector512.Create(2.12194440e-4f), r);
        var p = Vector512.Create(1.9875691500e-4f);
        p = Avx512F.FusedMultiplyAdd(p, r, Vector512.Create(1.3981999507e-3f));
        p = Avx512F.FusedMultiplyAdd(p, r, Vector512.Create(8.3334519073e-3f));
        p = Avx512F.FusedMultiplyAdd(p, r, Vector512.Create(4.1665795894e-2f));
        p = Avx512F.FusedMultiplyAdd(p, r, Vector512.Create(1.6666665459e-1f));
        p = Avx512F.FusedMultiplyAdd(p, r, Vector512.Create(5.0000001201e-1f));
        var y = Avx512F.FusedMultiplyAdd(p, r * r, r) + Vector512<float>.One;
        return Avx512F.Scale(y, k);
    }

    /// <summary>Scalar softmax (the reference for <see cref="Softmax"/>).</summary>
    public static void SoftmaxReference(Span<float> x)
    {
        if (x.Length == 0) return;
        float max = TensorPrimitives.Max(x);
        float sum = 0;
        for (int i = 0; i < x.Length; i++) { float e = MathF.Exp(x[i] - max); x[i] = e; sum += e; }
        TensorPrimitives.Multiply(x, 1f / sum, x);
    }

    /// <summary>
    /// cos/sin tables [positions.Length, headDim/2] for <see cref="Rope(Span{float}, int, int, ReadOnlySpan{float}, ReadOnlySpan{float})"/>:
    /// angle = pos·inv_freq in float32 as transformers computes it (computed once per forward, shared by Q and K).
    /// </summary>
    public static void RopeTables(ReadOnlySpan<int> positions, ReadOnlySpan<float> invFreq, Span<float> cos, Span<float> sin)
    {
        int half = invFreq.Length;
        for (int r = 0; r < positions.Length; r++)
        {
            float pos = positions[r];
            for (int i = 0; i < half; i++)
            {
                float a = pos * invFreq[i];
                cos[r * half + i] = MathF.Cos(a);
                sin[r * half + i] = MathF.Sin(a);
            }
        }
    }

    /// <summary>
    /// Rotate-half RoPE on one row [heads, headDim] with that position's cos/sin (headDim/2 each, duplicated
    /// over both halves). Separate multiply and subtract (no FMA), so results equal the scalar reference bit for bit.
    /// </summary>
    public static void Rope(Span<float> row, int heads, int headDim, ReadOnlySpan<float> cos, ReadOnlySpan<float> sin)
    {
        int half = headDim / 2;
        for (int h = 0; h < heads; h++)
        {
            var a = row.Slice(h * headDim, half);
            var b = row.Slice(h * headDim + half, half);
            int i = 0;
            if (Simd.Level >= SimdLevel.Avx2)
                for (; i + 8 <= half; i += 8)
                {
                    var x1 = Vector256.Create((ReadOnlySpan<float>)a.Slice(i, 8));
                    var x2 = Vector256.Create((ReadOnlySpan<float>)b.Slice(i, 8));
                    var c = Vector256.Create(cos.Slice(i, 8)); var s = Vector256.Create(sin.Slice(i, 8));
                    (x1 * c - x2 * s).CopyTo(a.Slice(i, 8));
                    (x2 * c + x1 * s).CopyTo(b.Slice(i, 8));
                }
            for (; i < half; i++)
            {
                float x1 = a[i], x2 = b[i];
                a[i] = x1 * cos[i] - x2 * sin[i];
                b[i] = x2 * cos[i] + x1 * sin[i];
            }
        }
    }

    /// <summary>Scalar RoPE of one row at position pos, cos/sin computed on the spot (the reference).</summary>
    public static void RopeReference(Span<float> row, int heads, int headDim, float pos, ReadOnlySpan<float> invFreq)
    {
        int half = headDim / 2;
        for (int h = 0; h < heads; h++)
        {
            var v = row.Slice(h * headDim, headDim);
            for (int i = 0; i < half; i++)
            {
                float a = pos * invFreq[i];
                float c = MathF.Cos(a), s = MathF.Sin(a);
                float x1 = v[i], x2 = v[i + half];
                v[i] = x1 * c - x2 * s;
                v[i + half] = x2 * c + x1 * s;
            }
        }
    }

    public static float[] RopeInvFreq(int headDim, float theta)
    {
        var f = new float[headDim / 2];
        for (int i = 0; i < f.Length; i++) f[i] = 1f / MathF.Pow(theta, 2f * i / headDim);
        return f;
    }

    /// <summary>erf with ~1e-15 relative error (W. J. Cody's rational approximations are overkill; this
    /// series/continued-fraction split is exact to double precision for our float32 needs).</summary>
    public static double Erf(double x)
    {
        double ax = Math.Abs(x);
        double r;
        if (ax < 2.5)
        {
            // Maclaurin series: converges fast for |x| < 2.5 in double precision.
            double term = ax, sum = ax, x2 = ax * ax;
            for (int n = 1; n < 60; n++)
            {
                term *= -x2 / n;
                double add = term / (2 * n + 1);
                sum += add;
                if (Math.Abs(add) < 1e-17 * Math.Abs(sum)) break;
            }
            r = 2.0 / Math.Sqrt(Math.PI) * sum;
        }
        else
        {
            // Continued fraction for erfc, accurate for larger |x|.
            double f = 0;
            for (int n = 60; n >= 1; n--) f = n / 2.0 / (ax + f);
            r = 1.0 - Math.Exp(-ax * ax) / Math.Sqrt(Math.PI) / (ax + f);
        }
        return x < 0 ? -r : r;
    }
}
