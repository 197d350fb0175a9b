using System.Globalization;

namespace AutoPrune.Pruning;

/// <summary>
/// Per-layer visual-token schedules of the in-decoder baselines (FastV, PDrop, SparseVLM) and the strict budget
/// semantics shared by every policy: the budget T is the mean over ALL decoder layers (layer 0 included) of the
/// visual tokens each layer processes, exactly what <see cref="Accounting.PrefillTrace.MeanVisualTokens"/> reports.
/// A schedule is a list of stages: stage j starts at decoder layer starts[j] (1 ≤ starts[0] &lt; starts[1] &lt; … ≤ L−1)
/// and holds counts[j] visual tokens until the next stage; layers before starts[0] process all N0.
/// </summary>
internal static class LayerSchedule
{
    /// <summary>Rescales a layer index given for 32-layer LLaMA to a model of <paramref name="layers"/> layers
    /// (rounded half away from zero, so FastV's K=2 becomes 1 on an 8-layer model rather than 0).</summary>
    public static int Scale(int layerOf32, int layers) =>
        Math.Clamp((int)Math.Round(layerOf32 * layers / 32.0, MidpointRounding.AwayFromZero), 1, Math.Max(1, layers - 1));

    /// <summary>Scales a list and bumps collisions so stages stay strictly increasing.</summary>
    public static int[] ScaleAll(int[] layersOf32, int layers, string policy)
    {
        var r = new int[layersOf32.Length];
        for (int i = 0; i < r.Length; i++)
        {
            r[i] = Scale(layersOf32[i], layers);
            if (i > 0 && r[i] <= r[i - 1]) r[i] = r[i - 1] + 1;
        }
        Validate(r, layers, policy);
        return r;
    }

    public static void Validate(int[] starts, int layers, string policy)
    {
        for (int i = 0; i < starts.Length; i++)
        {
            if (starts[i] < 1 || starts[i] > layers - 1)
                throw new PruningOptionException($"{policy}: pruning layer {starts[i]} is outside 1..{layers - 1} for a {layers}-layer decoder");
            if (i > 0 && starts[i] <= starts[i - 1])
                throw new PruningOptionException($"{policy}: pruning layers must be strictly increasing, got {string.Join(",", starts)}");
        }
    }

    /// <summary>Visual tokens each decoder layer processes under the schedule.</summary>
    public static int[] PerLayer(int n0, int layers, int[] starts, int[] counts)
    {
        var r = new int[layers];
        int stage = -1;
        for (int l = 0; l < layers; l++)
        {
            while (stage + 1 < starts.Length && starts[stage + 1] <= l) stage++;
            r[l] = stage < 0 ? n0 : counts[stage];
        }
        return r;
    }

    public static double Mean(int n0, int layers, int[] starts, int[] counts)
    {
        double s = 0;
        foreach (var c in PerLayer(n0, layers, starts, counts)) s += c;
        return s / layers;
    }

    /// <summary>The lowest mean a schedule whose first pruning happens at layer <paramref name="firstStart"/> can reach:
    /// all N0 up to there, then one token per layer.</summary>
    public static double LowestFeasible(int n0, int layers, int firstStart) => (firstStart * (double)n0 + (layers - firstStart)) / layers;

    /// <summary>
    /// The rule every policy shares: a budget at or above the image's N0 visual tokens means no pruning (recorded in
    /// the trace with a note), whatever the policy would otherwise plan. True when the prefill keeps everything.
    /// </summary>
    public static bool KeepsAll(double? budget, int n0, PruningSetup setup)
    {
        if (budget is not { } t || t < n0) return false;
        setup.Trace.Budget = t;
        setup.Trace.Notes.Add($"budget {Fmt(t)} >= the {n0} visual tokens of the image: no pruning");
        return true;
    }

    public static void CheckBudget(string policy, double budget, int n0, double lowest, string why)
    {
        if (budget < lowest)
            throw new InfeasibleBudgetException(
                $"{policy}: budget {Fmt(budget)} mean visual tokens per layer is infeasible; the lowest feasible budget is {Fmt(lowest)} ({why})", budget, lowest);
    }

    /// <summary>
    /// Makes integer stage counts (non-increasing, 1..N0) meet the budget within half a token: counts are moved one at a
    /// time, latest stage first (each step moves the mean by stage length / L &lt; 1, so it cannot overshoot the band).
    /// <paramref name="minAfter"/>(previous count) is the smallest count a stage can reach from its predecessor
    /// (SparseVLM: recycled clusters always come back); default 1.
    /// </summary>
    public static void FitToBudget(int n0, int layers, int[] starts, int[] counts, double budget, Func<int, int>? minAfter = null)
    {
        minAfter ??= _ => 1;
        int m = counts.Length;
        for (int guard = 0; guard < 4 * n0 * Math.Max(1, m); guard++)
        {
            double err = Mean(n0, layers, starts, counts) - budget;
            if (Math.Abs(err) <= 0.5) return;
            bool moved = false;
            for (int j = m - 1; j >= 0 && !moved; j--)
            {
                int prev = j > 0 ? counts[j - 1] : n0;
                if (err > 0)
                {
                    int floor = Math.Max(minAfter(prev), j + 1 < m ? counts[j + 1] : 1);
                    if (counts[j] > floor) { counts[j]--; moved = true; }
                }
                else if (counts[j] < prev && (j + 1 >= m || minAfter(counts[j] + 1) <= counts[j + 1]))
                {
                    counts[j]++; moved = true;
                }
            }
            if (!moved) return;
        }
    }

    public static string Fmt(double v) => v.ToString("0.###", CultureInfo.InvariantCulture);
}
