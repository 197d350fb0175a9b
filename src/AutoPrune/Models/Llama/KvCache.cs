namespace AutoPrune.Models;

/// <summary>
/// Keys (after RoPE) and values of one decoder layer: exactly the tokens that layer processed.
/// After pruning, later layers hold fewer rows than earlier ones.
/// </summary>
public sealed class LayerKvCache(int capacity, int kvDim)
{
    public float[] K { get; private set; } = new float[capacity * kvDim];
    public float[] V { get; private set; } = new float[capacity * kvDim];
    public int Length { get; set; }
    public int Capacity => K.Length / kvDim;
    public int KvDim => kvDim;

    /// <summary>Grows to hold at least n rows, keeping the existing ones.</summary>
    public void Reserve(int n)
    {
        if (n <= Capacity) return;
        int cap = Math.Max(n, Capacity * 2);
        var k = new float[cap * kvDim]; var v = new float[cap * kvDim];
        K.AsSpan(0, Length * kvDim).CopyTo(k); V.AsSpan(0, Length * kvDim).CopyTo(v);
        K = k; V = v;
    }
}

/// <summary>The KV caches of every decoder layer for one sequence.</summary>
public sealed class KvCache
{
    public LayerKvCache[] Layers { get; }

    public KvCache(int layers, int kvDim)
    {
        Layers = new LayerKvCache[layers];
        for (int i = 0; i < layers; i++) Layers[i] = new LayerKvCache(0, kvDim);
    }
}
