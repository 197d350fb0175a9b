namespace AutoPrune.Pruning;

/// <summary>How MI1 (summed over heads) is normalized before it sets the curve's slope (<see cref="AutoPrunePolicy"/>).</summary>
public enum MiNormalization
{
    /// <summary>Sum over heads, as the official code does at layer 1.</summary>
    Sum,
    /// <summary>Mean over heads: removes the head-count dependence.</summary>
    Mean,
    /// <summary>Mean over heads divided by the text-token count (the layer-0 convention applied per head).</summary>
    MeanPerText,
}

/// <summary>
/// Mutual information between text rows and visual columns of one head's attention block A [nText, nVis]
/// (as the official AutoPrune code): p(x) = 1/nText, p(x,y) = A/nText, p(y) = Σx p(x,y),
/// MI = Σ p(x,y)·log2(max(p(x,y) / (p(x)p(y) + eps), 1e-6)), eps = 1e-6.
/// Rows are full-sequence softmax rows, so p(x,y) sums to less than 1; that is the official definition.
/// Computed in double: the official code runs it in fp16, whose rounding we do not reproduce.
/// </summary>
public static class MutualInformation
{
    public const double Eps = 1e-6;
    private const double Floor = 1e-6;

    /// <summary>MI of one head's block A [nText, nVis] (row-major).</summary>
    public static double Head(ReadOnlySpan<float> a, int nText, int nVis, double eps = Eps)
    {
        if (a.Length < nText * nVis) throw new ArgumentException($"block has {a.Length} values, need {nText}x{nVis}");
        if (nText == 0 || nVis == 0) return 0;
        double px = 1.0 / nText;
        Span<double> py = nVis <= 1024 ? stackalloc double[nVis] : new double[nVis];
        py.Clear();
        for (int x = 0; x < nText; x++)
        {
            var r = a.Slice(x * nVis, nVis);
            for (int y = 0; y < nVis; y++) py[y] += r[y] * px;
        }
        double mi = 0;
        for (int x = 0; x < nText; x++)
        {
            var r = a.Slice(x * nVis, nVis);
            for (int y = 0; y < nVis; y++)
            {
                double pxy = r[y] * px;
                if (pxy == 0) continue;   // 0·log(·) = 0
                mi += pxy * Math.Log2(Math.Max(pxy / (px * py[y] + eps), Floor));
            }
        }
        return mi;
    }

    /// <summary>Σ over heads of <see cref="Head"/> on a per-head block [heads, nText, nVis] (AttentionPerHead's layout).</summary>
    public static double SumOverHeads(ReadOnlySpan<float> perHead, int heads, int nText, int nVis, double eps = Eps)
    {
        double s = 0;
        int block = nText * nVis;
        for (int h = 0; h < heads; h++) s += Head(perHead.Slice(h * block, block), nText, nVis, eps);
        return s;
    }

    /// <summary>Applies a normalization to an MI summed over <paramref name="heads"/> heads on <paramref name="nText"/> text rows.</summary>
    public static double Normalize(double sumOverHeads, MiNormalization norm, int heads, int nText) => norm switch
    {
        MiNormalization.Sum => sumOverHeads,
        MiNormalization.Mean => sumOverHeads / heads,
        MiNormalization.MeanPerText => sumOverHeads / heads / Math.Max(nText, 1),
        _ => throw new ArgumentOutOfRangeException(nameof(norm)),
    };
}
