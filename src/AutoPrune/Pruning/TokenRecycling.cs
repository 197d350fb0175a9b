using System.Numerics.Tensors;

namespace AutoPrune.Pruning;

/// <summary>
/// Token recycling of SparseVLM (also used by AutoPrune after every layer, see <see cref="AutoPrunePolicy"/>): the best-scored share of the tokens a
/// layer drops is clustered with DPC-KNN and each cluster comes back as one averaged token.
/// Policy-neutral: callers pass the dropped indices, a score per visual token and a way to read hidden states; the
/// result is merge groups (indices into the current visual block) for <see cref="VisualSelection.Merge"/>.
/// </summary>
/// <remarks>
/// Matches SparseVLM's <c>cluster_and_merge</c>: Euclidean distance / sqrt(dim) on the layer's output hidden states;
/// k of the k-NN density = the cluster count (self included, distance 0); density = exp(−mean of squared k-NN
/// distances); δ = distance to the nearest denser token (the global maximum distance for the densest);
/// centers = top density·δ; every token joins its nearest center, centers their own.
/// Differences: ties are broken by index instead of SparseVLM's 1e-6 random density noise (deterministic), and the
/// merged token is the plain mean (SparseVLM divides by count + 1e-6).
/// </remarks>
public static class TokenRecycling
{
    /// <summary>Share of the dropped tokens that is recycled (SparseVLM: top 30% by score, plus one).</summary>
    public const double DefaultFraction = 0.3;

    /// <summary>Recycled candidates among <paramref name="dropped"/> tokens: int(fraction·dropped) + 1, none if nothing is dropped.</summary>
    public static int CandidateCount(int dropped, double fraction = DefaultFraction) =>
        dropped <= 0 ? 0 : Math.Min(dropped, (int)(fraction * dropped) + 1);

    /// <summary>Clusters for <paramref name="candidates"/> tokens: min(n/10 + 1, n).</summary>
    public static int ClusterCount(int candidates) => candidates <= 0 ? 0 : Math.Min(candidates / 10 + 1, candidates);

    /// <summary>Tokens that come back after dropping <paramref name="dropped"/> (for budget simulations).</summary>
    public static int RecycledCount(int dropped, double fraction = DefaultFraction) => ClusterCount(CandidateCount(dropped, fraction));

    /// <summary>
    /// Recycles dropped tokens of the current visual block. <paramref name="scores"/>[i] scores visual token i (higher
    /// = more important); <paramref name="dropped"/> are visual indices. Returns the merge groups (empty if nothing
    /// was dropped), each a list of visual indices.
    /// </summary>
    public static int[][] Recycle(LayerContext ctx, ReadOnlySpan<int> dropped, ReadOnlySpan<float> scores, double fraction = DefaultFraction)
    {
        int m = CandidateCount(dropped.Length, fraction);
        if (m == 0) return [];
        int d = ctx.HiddenSize;
        var candidates = TopByScore(dropped, scores, m);
        var features = new float[m * d];
        for (int i = 0; i < m; i++) ctx.Hidden(ctx.VisualRow(candidates[i])).CopyTo(features.AsSpan(i * d, d));
        var groups = Cluster(features, m, d, ClusterCount(m));
        foreach (var g in groups)
            for (int i = 0; i < g.Length; i++) g[i] = candidates[g[i]];
        return groups;
    }

    /// <summary>The <paramref name="count"/> entries of <paramref name="indices"/> with the highest score (ties: lower index first), best first.</summary>
    public static int[] TopByScore(ReadOnlySpan<int> indices, ReadOnlySpan<float> scores, int count)
    {
        var idx = indices.ToArray();
        var key = new float[idx.Length];
        for (int i = 0; i < idx.Length; i++) key[i] = scores[idx[i]];
        Ranking.SortDescending(key, idx);
        return idx[..count];
    }

    /// <summary>
    /// DPC-KNN clustering of <paramref name="n"/> rows of <paramref name="features"/> [n, dim] into
    /// <paramref name="clusters"/> groups of row indices (row order inside a group; groups in center-score order).
    /// </summary>
    public static int[][] Cluster(ReadOnlySpan<float> features, int n, int dim, int clusters)
    {
        if (n <= 0) return [];
        if (clusters < 1 || clusters > n) throw new ArgumentOutOfRangeException(nameof(clusters), $"need 1..{n} clusters, got {clusters}");
        var dist = new double[n * n];
        double inv = 1.0 / Math.Sqrt(dim), maxDist = 0;
        for (int i = 0; i < n; i++)
            for (int j = i + 1; j < n; j++)
            {
                double v = TensorPrimitives.Distance(features.Slice(i * dim, dim), features.Slice(j * dim, dim)) * inv;
                dist[i * n + j] = dist[j * n + i] = v;
                if (v > maxDist) maxDist = v;
            }

        // Local density from the k nearest (self included), k = cluster count as in SparseVLM.
        int k = clusters;
        var density = new double[n];
        var row = new double[n];
        for (int i = 0; i < n; i++)
        {
            dist.AsSpan(i * n, n).CopyTo(row);
            Array.Sort(row);
            double s = 0;
            for (int j = 0; j < k; j++) s += row[j] * row[j];
            density[i] = Math.Exp(-s / k);
        }

        // δ: distance to the nearest denser token; equal densities resolve by index so every order is strict.
        var score = new double[n];
        for (int i = 0; i < n; i++)
        {
            double delta = maxDist;
            for (int j = 0; j < n; j++)
                if ((density[j] > density[i] || (density[j] == density[i] && j < i)) && dist[i * n + j] < delta)
                    delta = dist[i * n + j];
            score[i] = delta * density[i];
        }

        var order = new int[n];
        for (int i = 0; i < n; i++) order[i] = i;
        // Centers: top density·δ, ties by index.
        Array.Sort(order, (a, b) => score[b] != score[a] ? score[b].CompareTo(score[a]) : a.CompareTo(b));
        var centerOf = new int[n];
        Array.Fill(centerOf, -1);
        for (int c = 0; c < clusters; c++) centerOf[order[c]] = c;

        var assign = new int[n];
        var sizes = new int[clusters];
        for (int i = 0; i < n; i++)
        {
            int best = centerOf[i];
            if (best < 0)
            {
                double bd = double.MaxValue;
                for (int c = 0; c < clusters; c++)
                {
                    double v = dist[i * n + order[c]];
                    if (v < bd) { bd = v; best = c; }
                }
            }
            assign[i] = best;
            sizes[best]++;
        }
        var groups = new int[clusters][];
        for (int c = 0; c < clusters; c++) groups[c] = new int[sizes[c]];
        Array.Clear(sizes);
        for (int i = 0; i < n; i++) groups[assign[i]][sizes[assign[i]]++] = i;
        return groups;
    }
}
