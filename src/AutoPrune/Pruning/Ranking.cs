namespace AutoPrune.Pruning;

/// <summary>Small ranking helpers shared by policies (arrays + Array.Sort, no per-element allocation).</summary>
public static class Ranking
{
    /// <summary>Sorts <paramref name="items"/> by <paramref name="keys"/> descending; equal keys keep ascending item order.</summary>
    public static void SortDescending(float[] keys, int[] items)
    {
        // Negate for an ascending sort; Array.Sort is unstable, so fix equal-key runs afterwards.
        for (int i = 0; i < keys.Length; i++) keys[i] = -keys[i];
        Array.Sort(keys, items);
        for (int i = 0; i < keys.Length; i++) keys[i] = -keys[i];
        int s = 0;
        while (s < keys.Length)
        {
            int e = s + 1;
            while (e < keys.Length && keys[e] == keys[s]) e++;
            if (e - s > 1) Array.Sort(items, s, e - s);
            s = e;
        }
    }

    /// <summary>Indices 0..n-1 of the top <paramref name="count"/> scores, returned in ascending index order (original order).</summary>
    public static int[] TopKInOrder(ReadOnlySpan<float> scores, int count)
    {
        var idx = new int[scores.Length];
        for (int i = 0; i < idx.Length; i++) idx[i] = i;
        var keys = scores.ToArray();
        SortDescending(keys, idx);
        var top = idx[..count];
        Array.Sort(top);
        return top;
    }
}
