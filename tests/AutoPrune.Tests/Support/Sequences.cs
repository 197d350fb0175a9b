using AutoPrune.Models;

namespace AutoPrune.Tests.Support;

/// <summary>Pruned sequences built from hand-made rows, to apply selections the way a run does.</summary>
internal static class Sequences
{
    /// <summary>Rows h [n, d] (copied) whose rows [start, start + count) are one image's visual tokens; positions 0..n-1.</summary>
    public static PrunedSequence Of(ReadOnlySpan<float> h, int n, int d, int start, int count)
    {
        var s = new PrunedSequence(n, d, count, 1) { Length = n };
        h[..(n * d)].CopyTo(s.H);
        s.SetSpan(0, start, count);
        for (int i = 0; i < n; i++) s.Positions[i] = i;
        for (int i = 0; i < count; i++) s.Ids[i] = i;
        return s;
    }
}
