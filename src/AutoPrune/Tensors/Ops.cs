using System.Numerics.Tensors;

namespace AutoPrune.Tensors;

/// <summary>Row-wise elementwise kernels. All in float32, matching transformers' float32 path.</summary>
public static class Ops
{
    /// <summary>LLaMA RMSNorm on each row of x [rows, d]: x * rsqrt(mean(x²) + eps) * w.</summary>
    public static void RmsNorm(ReadOnlySpan<float> x, ReadOnlySpan<float> w, float eps, Span<float> y, int rows)
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

    /// <summary>CLIP quick_gelu: x * sigmoid(1.702 x), in place.</summary>
    public static void QuickGelu(Span<float> x)
    {
        for (int i = 0; i < x.Length; i++) x[i] = x[i] / (1f + MathF.Exp(-1.702f * x[i]));
    }

    /// <summary>Exact GELU 0.5 x (1 + erf(x/√2)), in place.</summary>
    public static void Gelu(Span<float> x)
    {
        for (int i = 0; i < x.Length; i++)
            x[i] = (float)(0.5 * x[i] * (1.0 + Erf(x[i] * 0.70710678118654752)));
    }

    /// <summary>SwiGLU gate: gate = silu(gate) * up, in place over gate.</summary>
    public static void SiluMul(Span<float> gate, ReadOnlySpan<float> up)
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
        float max = TensorPrimitives.Max(x);
        float sum = 0;
        for (int i = 0; i < x.Length; i++) { float e = MathF.Exp(x[i] - max); x[i] = e; sum += e; }
        TensorPrimitives.Multiply(x, 1f / sum, x);
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
    /// Rotate-half RoPE on one row [heads, headDim] at position pos, with inv_freq precomputed in float32
    /// as transformers does (θ^(-2i/d)); cos/sin of pos·inv_freq duplicated over both halves.
    /// </summary>
    public static void Rope(Span<float> row, int heads, int headDim, float pos, ReadOnlySpan<float> invFreq)
    {
        int half = headDim / 2;
        Span<float> cos = stackalloc float[half];
        Span<float> sin = stackalloc float[half];
        for (int i = 0; i < half; i++)
        {
            float a = pos * invFreq[i];
            cos[i] = MathF.Cos(a);
            sin[i] = MathF.Sin(a);
        }
        for (int h = 0; h < heads; h++)
        {
            var v = row.Slice(h * headDim, headDim);
            for (int i = 0; i < half; i++)
            {
                float x1 = v[i], x2 = v[i + half];
                v[i] = x1 * cos[i] - x2 * sin[i];
                v[i + half] = x2 * cos[i] + x1 * sin[i];
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
