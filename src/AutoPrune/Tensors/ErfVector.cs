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

    /// <summary>Clenshaw on two vectors at once: two independent FMA chains, so their latencies overlap.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (Vector512<double>, Vector512<double>) Clenshaw2(double[] c, Vector512<double> t, Vector512<double> u)
    {
        var t2 = t + t; var u2 = u + u;
        Vector512<double> b1 = default, b2 = default, d1 = default, d2 = default;
        for (int j = c.Length - 1; j >= 1; j--)
        {
            var cj = Vector512.Create(c[j]);
            var b0 = Vector512.FusedMultiplyAdd(t2, b1, cj - b2);
            var d0 = Vector512.FusedMultiplyAdd(u2, d1, cj - d2);
            b2 = b1; b1 = b0; d2 = d1; d1 = d0;
        }
        var c0 = Vector512.Create(c[0]);
        return (Vector512.FusedMultiplyAdd(t, b1, c0 - b2), Vector512.FusedMultiplyAdd(u, d1, c0 - d2));
    }

    /// <summary>
    /// <see cref="Erf(Vector256{double})"/> on two vectors of 8 (AVX-512): the same operations lane by lane, so the
    /// same results bit for bit, with the two Clenshaw chains interleaved (the 256-bit version waits on one chain).
    /// </summary>
    public static (Vector512<double>, Vector512<double>) Erf2(Vector512<double> u, Vector512<double> v)
    {
        var one = Vector512<double>.One; var half = Vector512.Create(0.5);
        var au = Vector512.Abs(u); var av = Vector512.Abs(v);
        var su = au * au; var sv = av * av;
        var (cu, cv) = Clenshaw2(s_a, Vector512.Min(Vector512.FusedMultiplyAdd(su, half, -one), one),
            Vector512.Min(Vector512.FusedMultiplyAdd(sv, half, -one), one));
        var ru = u * cu; var rv = v * cv;
        var two = Vector512.Create(2.0);
        var bigU = Vector512.GreaterThanOrEqual(au, two); var bigV = Vector512.GreaterThanOrEqual(av, two);
        if ((bigU | bigV) == Vector512<double>.Zero) return (ru, rv);
        var m2 = Vector512.Create(-2.0); var six = Vector512.Create(6.0);
        var (eu, ev) = Clenshaw2(s_b, Vector512.Max(Vector512.Min(Vector512.FusedMultiplyAdd(au, half, m2), one), -one),
            Vector512.Max(Vector512.Min(Vector512.FusedMultiplyAdd(av, half, m2), one), -one));
        var tu = Vector512.ConditionalSelect(Vector512.GreaterThanOrEqual(au, six), one, one - Vector512.Exp(-su) * eu);
        var tv = Vector512.ConditionalSelect(Vector512.GreaterThanOrEqual(av, six), one, one - Vector512.Exp(-sv) * ev);
        tu = Vector512.ConditionalSelect(Vector512.LessThan(u, Vector512<double>.Zero), -tu, tu);
        tv = Vector512.ConditionalSelect(Vector512.LessThan(v, Vector512<double>.Zero), -tv, tv);
        return (Vector512.ConditionalSelect(bigU, tu, ru), Vector512.ConditionalSelect(bigV, tv, rv));
    }
}
