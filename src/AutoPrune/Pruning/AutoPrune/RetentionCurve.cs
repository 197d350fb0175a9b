namespace AutoPrune.Pruning;

/// <summary>
/// AutoPrune's logistic retention schedule (step 2 of <see cref="AutoPrunePolicy"/>): keep(l) = 0.75 / (1 + exp(k·(l − (x0 + k)))).
/// k = 0 gives a flat 0.375; a larger k drops more steeply around layer x0 + k.
/// </summary>
public sealed class RetentionCurve
{
    /// <summary>The paper's midpoint for 32 decoder layers.</summary>
    public const double DefaultX0At32 = 14.9;
    public const double Height = 0.75;

    public double K { get; }
    /// <summary>Midpoint in this model's layers (already scaled by depth).</summary>
    public double X0 { get; }

    public RetentionCurve(double k, double x0)
    {
        if (!double.IsFinite(k) || k < 0) throw new ArgumentOutOfRangeException(nameof(k), $"slope must be finite and ≥ 0, got {k}");
        if (!double.IsFinite(x0)) throw new ArgumentOutOfRangeException(nameof(x0), $"x0 must be finite, got {x0}");
        K = k; X0 = x0;
    }

    /// <summary>x0 given for a 32-layer model, scaled to <paramref name="layers"/> (x0·L/32) so it sits at the same relative depth.</summary>
    public static double ScaleX0(double x0At32, int layers) => x0At32 * layers / 32.0;

    public double Keep(int layer) => Height / (1 + Math.Exp(K * (layer - (X0 + K))));
}
