namespace AutoPrune.Pruning;

/// <summary>What a visual-token budget T is a mean of.</summary>
public enum BudgetMode
{
    /// <summary>
    /// The official accounting: the mean over L entries [N1, after₁, …, after_{L−1}] of the tokens each layer
    /// hands on (layer 0 counted as its preselection N1 ≈ 2.5T, the last layer's output included) meets T.
    /// </summary>
    Faithful,
    /// <summary>The mean over all L layers of what each actually processed [N0, N1, after₁, …, after_{L−2}] meets T.</summary>
    Strict,
}

/// <summary>A solved schedule: per pruning layer the kept and resulting counts, and both accountings.</summary>
/// <param name="Scale">s: the curve multiplier the bisection found.</param>
/// <param name="Preselected">N1: tokens kept by step 0 for layer 1.</param>
/// <param name="Keep">Keep[l], l = 1..L−1: tokens ranked-and-kept after layer l (index 0 unused).</param>
/// <param name="After">After[l], l = 1..L−1: Keep[l] plus recycled clusters = what layer l+1 receives (index 0 = N1).</param>
/// <param name="Processed">Processed[l], l = 0..L−1: what layer l processes (N0, N1, After[1], …).</param>
/// <param name="AccountedMean">The mode's own mean (what the bisection drove to T).</param>
/// <param name="Reached">Whether |L·mean − L·T| &lt; 0.01 was met; integer steps can leave a small gap.</param>
public sealed record BudgetPlan(double Scale, int Preselected, int[] Keep, int[] After, int[] Processed, double AccountedMean, bool Reached);

/// <summary>
/// Finds AutoPrune's curve scale (<see cref="AutoPrunePolicy"/>): bisection of s ∈ [0, 20], at most 200 steps, stop when the simulated
/// accounted sum is within 0.01 of L·T. The simulation keeps min(ceil((N1−1)·min(1, s·keep(j))), current) at layer j
/// and adds the clusters that recycling returns, exactly as the policy will. Integer rounding makes the sum a step
/// function of s; we return the scale whose sum came closest (the official code returns the last midpoint).
/// </summary>
public static class BudgetSolver
{
    public const double MaxScale = 20;
    public const int MaxSteps = 200;
    public const double Tolerance = 0.01;
    /// <summary>Step 0 keeps floor(2.5·T) tokens (official).</summary>
    public const double PreselectFactor = 2.5;

    /// <summary>Tokens kept after layer j: min(ceil((N1−1)·min(1, s·keep)), current), at least <paramref name="minKeep"/>.</summary>
    public static int KeepCount(int n1, double scale, double keep, int current, int minKeep)
    {
        double frac = Math.Min(1.0, scale * keep);
        int k = (int)Math.Min(Math.Ceiling((n1 - 1) * frac), current);
        return Math.Min(Math.Max(k, minKeep), current);
    }

    /// <summary>Strict mode keeps ≥ 1 visual token per layer; faithful keeps what the formula says (0 possible).</summary>
    public static int MinKeep(BudgetMode mode) => mode == BudgetMode.Strict ? 1 : 0;

    /// <summary>The lowest strict budget: layer 0 processes all N0, every later layer at least one token.</summary>
    public static double MinStrictBudget(int n0, int layers) => (n0 + (layers - 1.0)) / layers;

    /// <summary>
    /// Step-0 preselection count. Faithful: min(floor(2.5·T), N0) (official). Strict: layer 0 already spends N0 of the
    /// L·T, so the 2.5× rule is applied to the mean left for layers 1..L−1, T' = (L·T − N0)/(L−1); then N1 is moved
    /// until the budget is reachable (s = 0 must not exceed it, s = 20 must reach it). Throws for an infeasible strict T.
    /// </summary>
    public static int Preselection(int n0, int layers, double target, BudgetMode mode, bool recycle)
    {
        if (mode == BudgetMode.Faithful) return Math.Max(1, (int)Math.Min(Math.Floor(PreselectFactor * target), n0));
        CheckStrictFeasible(n0, layers, target);
        double rest = layers > 1 ? (layers * target - n0) / (layers - 1) : target;
        int p = Math.Clamp((int)Math.Floor(PreselectFactor * rest), 1, n0);
        // s = 0 (cheapest) and s = 20 (dearest) bound what N1 can reach; neither depends on the curve's slope much:
        // the flat curve is used for the floor (s = 0 ignores it) and the real one decides the scale later.
        var flat = new RetentionCurve(0, 0);
        double slack = Tolerance / layers;
        while (p > 1 && Simulate(n0, layers, p, flat, 0, recycle, mode).AccountedMean > target + slack) p--;
        while (p < n0 && Simulate(n0, layers, p, flat, MaxScale, recycle, mode).AccountedMean < target - slack) p++;
        return p;
    }

    public static void CheckStrictFeasible(int n0, int layers, double target)
    {
        double min = MinStrictBudget(n0, layers);
        if (target < min)
        {
            var inv = System.Globalization.CultureInfo.InvariantCulture;
            throw new InfeasibleBudgetException(
                $"strict budget {target.ToString("0.######", inv)} is infeasible: layer 0 processes all {n0} visual tokens and each of the other {layers - 1} layers at least 1, " +
                $"so the lowest feasible budget is {min.ToString("0.######", inv)} (or use the faithful budget mode)", target, min);
        }
    }

    /// <summary>Simulates the schedule for one scale.</summary>
    public static BudgetPlan Simulate(int n0, int layers, int n1, RetentionCurve curve, double scale, bool recycle, BudgetMode mode)
    {
        int L = layers, minKeep = MinKeep(mode);
        var keep = new int[L];
        var after = new int[L];
        after[0] = n1;
        int current = n1;
        for (int j = 1; j < L; j++)
        {
            int k = KeepCount(n1, scale, curve.Keep(j), current, minKeep);
            int rec = recycle ? TokenRecycling.RecycledCount(current - k) : 0;
            keep[j] = k;
            current = k + rec;
            after[j] = current;
        }
        var processed = new int[L];
        processed[0] = n0;
        for (int l = 1; l < L; l++) processed[l] = after[l - 1];
        double sum = 0;
        if (mode == BudgetMode.Faithful)
            for (int l = 0; l < L; l++) sum += after[l];
        else
            for (int l = 0; l < L; l++) sum += processed[l];
        return new BudgetPlan(scale, n1, keep, after, processed, sum / L, false);
    }

    /// <summary>Bisection for the scale whose accounted mean meets <paramref name="target"/>.</summary>
    public static BudgetPlan Solve(int n0, int layers, int n1, RetentionCurve curve, double target, bool recycle, BudgetMode mode)
    {
        double goal = layers * target;
        double lo = 0, hi = MaxScale;
        BudgetPlan? best = null;
        double bestErr = double.MaxValue;
        for (int step = 0; step < MaxSteps; step++)
        {
            double mid = 0.5 * (lo + hi);
            var plan = Simulate(n0, layers, n1, curve, mid, recycle, mode);
            double err = plan.AccountedMean * layers - goal;
            if (Math.Abs(err) < bestErr) { bestErr = Math.Abs(err); best = plan; }
            if (Math.Abs(err) < Tolerance) break;
            if (err < 0) lo = mid; else hi = mid;
        }
        // The ends themselves (budget above or below what any scale reaches).
        foreach (var s in new[] { 0.0, MaxScale })
        {
            var plan = Simulate(n0, layers, n1, curve, s, recycle, mode);
            double err = Math.Abs(plan.AccountedMean * layers - goal);
            if (err < bestErr) { bestErr = err; best = plan; }
        }
        return best! with { Reached = bestErr < Tolerance };
    }
}
