using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace AutoPrune.Tensors;

/// <summary>
/// erf on 4 doubles at a time, for the exact-erf GELU and float erf. Short polynomial fits in float
/// (Abramowitz–Stegun class, ~1e-7 absolute) are several ulp off near erf ≈ 1, so we evaluate in double:
/// <list type="bullet">
/// <item>|u| &lt; 2: erf(u) = u·A(u²), A a Chebyshev interpolant of erf(√s)/√s on s ∈ [0, 4];</item>
/// <item>2 ≤ |u| &lt; 6: erf(u) = ±(1 − e^(−u²)·B(|u|)), B a Chebyshev interpolant of erfcx on [2, 6];</item>
/// <item>|u| ≥ 6: ±1 (erfc(6) ≈ 2e-17).</item>
/// </list>
/// Coefficients are computed at start-up from the double-precision scalar <see cref="Ops.Erf(double)"/>
/// (Chebyshev interpolation at the Chebyshev nodes); 24 terms leave errors near 1e-14, far below float ulps.
/// </summary>
internal static class ErfVector
{
    private const int Terms = 24;
    private static readonly double[] s_a = Fit(s => { double a = Math.Sqrt(s); return Ops.Erf(a) / a; }, 0, 4);
    private static readonly double[] s_b = Fit(Erfcx, 2, 6);

    /// <summary>erfc(a)·e^(a²) for a ≥ 2 in double: from the series erf below 2.5 (erfc ≥ 4e-4 there, so
    /// 1 − erf keeps ~12 digits), from the continued fraction that Ops.Erf uses above.</summary>
    internal static double Erfcx(double a)
    {
        if (a < 2.5) return (1.0 - Ops.Erf(a)) * Math.Exp(a * a);
        double f = 0;
        for (int n = 60; n >= 1; n--) f = n / 2.0 / (a + f);
        return 1.0 / Math.Sqrt(Math.PI) / (a + f);
    }

    private static double[] Fit(Func<double, double> f, double lo, double hi)
    {
        var c = new double[Terms];
        var fx = new double[Terms];
        for (int k = 0; k < Terms; k++)
            fx[k] = f((lo + hi) / 2 + (hi - lo) / 2 * Math.Cos(Math.PI * (k + 0.5) / Terms));
        for (int j = 0; j < Terms; j++)
        {
            double s = 0;
            for (int k = 0; k < Terms; k++) s += fx[k] * Math.Cos(Math.PI * j * (k + 0.5) / Terms);
            c[j] = 2.0 / Terms * s;
        }
        c[0] /= 2;
        return c;
    }

    /// <summary>Σ c_j T_j(t) by Clenshaw's recurrence (stable, unlike expanding to monomials).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<double> Clenshaw(double[] c, Vector256<double> t)
    {
        var t2 = t + t;
        var b1 = Vector256<double>.Zero; var b2 = Vector256<double>.Zero;
        for (int j = c.Length - 1; j >= 1; j--)
        {
            var b0 = Vector256.FusedMultiplyAdd(t2, b1, Vector256.Create(c[j]) - b2);
            b2 = b1; b1 = b0;
        }
        return Vector256.FusedMultiplyAdd(t, b1, Vector256.Create(c[0]) - b2);
    }

    public static Vector256<double> Erf(Vector256<double> u)
    {
        var a = Vector256.Abs(u);
        var s = a * a;
        var one = Vector256<double>.One;
        // Region A, mapped to t ∈ [−1, 1] (clamped so lanes of the other regions stay finite).
        var tA = Vector256.Min(Vector256.FusedMultiplyAdd(s, Vector256.Create(0.5), -one), one);
        var r = u * Clenshaw(s_a, tA);
        var big = Vector256.GreaterThanOrEqual(a, Vector256.Create(2.0));
        if (big == Vector256<double>.Zero) return r; // the usual case for activations: skip the tail fit
        var tB = Vector256.Max(Vector256.Min(Vector256.FusedMultiplyAdd(a, Vector256.Create(0.5), Vector256.Create(-2.0)), one), -one);
        var tail = Vector256.ConditionalSelect(Vector256.GreaterThanOrEqual(a, Vector256.Create(6.0)), one,
            one - Vector256.Exp(-s) * Clenshaw(s_b, tB));
        tail = Vector256.ConditionalSelect(Vector256.LessThan(u, Vector256<double>.Zero), -tail, tail);
        return Vector256.ConditionalSelect(big, tail, r);
    }
}
