namespace AutoPrune.Accounting;

/// <summary>The official counter of the pruning papers (docs/ARCHITECTURE.md, FLOPs): prefill FLOPs of one decoder layer.</summary>
public static class Flops
{
    /// <summary>4·n·d² (q,k,v,o) + 2·n²·d (scores and weighted sum) + 3·n·d·m (gate, up, down).</summary>
    public static double DecoderLayer(long n, long d, long m) => 4.0 * n * d * d + 2.0 * n * n * d + 3.0 * n * d * m;
}
