namespace AutoPrune.Pruning;

/// <summary>Budget handling of the policies that prune once, before the decoder: every layer then processes the kept
/// tokens, so the mean per layer is simply the kept count.</summary>
internal static class PreDecoderBudget
{
    /// <summary>Tokens to keep for budget T (rounded, so within half a token); null when T keeps every token.</summary>
    public static int? Keep(string policy, double? budget, int n0, int fallback, PruningSetup setup)
    {
        if (budget is not { } t) return fallback >= n0 ? null : fallback;
        if (LayerSchedule.KeepsAll(t, n0, setup)) return null;
        LayerSchedule.CheckBudget(policy, t, n0, 1, "at least one visual token must remain");
        setup.Trace.Budget = t;
        int keep = Math.Clamp((int)Math.Round(t, MidpointRounding.AwayFromZero), 1, n0);
        return keep >= n0 ? null : keep;
    }
}
