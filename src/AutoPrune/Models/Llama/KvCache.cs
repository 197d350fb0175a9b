using AutoPrune.Tensors;

namespace AutoPrune.Models;

/// <summary>
/// The number format of the KV cache. <see cref="F32"/> (default) keeps keys and values exactly as computed.
/// <see cref="BF16"/> rounds each new row to bfloat16 (nearest even) when it is written, halving the cache's memory
/// and the bytes every decode step reads from it; attention widens the rows back to F32 (exactly) and computes in
/// F32 as before. Every attention over the cache, prefill included, then sees the rounded keys and values.
/// (llama.cpp's default is F16; BF16 is used here because widening it is a 16-bit shift, while .NET exposes no
/// F16 conversion instructions.)
/// </summary>
public enum KvCacheType { F32, BF16 }

/// <summary>
/// Keys (after RoPE) and values of one decoder layer: exactly the tokens that layer processed.
/// After pruning, later layers hold fewer rows than earlier ones. Rows are kvDim wide, in <see cref="K"/>/<see cref="V"/>
/// for an F32 cache or in <see cref="KBf16"/>/<see cref="VBf16"/> (bfloat16 bit patterns) for a BF16 cache; the other
/// pair is empty.
/// </summary>
public sealed class LayerKvCache(int capacity, int kvDim, KvCacheType type = KvCacheType.F32)
{
    public KvCacheType Type => type;
    public float[] K { get; private set; } = type == KvCacheType.F32 ? new float[capacity * kvDim] : [];
    public float[] V { get; private set; } = type == KvCacheType.F32 ? new float[capacity * kvDim] : [];
    public ushort[] KBf16 { get; private set; } = type == KvCacheType.BF16 ? new ushort[capacity * kvDim] : [];
    public ushort[] VBf16 { get; private set; } = type == KvCacheType.BF16 ? new ushort[capacity * kvDim] : [];
    public int Length { get; set; }
    public int Capacity => (type == KvCacheType.F32 ? K.Length : KBf16.Length) / kvDim;
    public int KvDim => kvDim;
    /// <summary>Bytes one cached key (or value) element takes: 4 or 2.</summary>
    public int ElementBytes => type == KvCacheType.F32 ? sizeof(float) : sizeof(ushort);

    /// <summary>Grows to hold at least n rows, keeping the existing ones.</summary>
    public void Reserve(int n)
    {
        if (n <= Capacity) return;
        int cap = Math.Max(n, Capacity * 2);
        if (type == KvCacheType.F32)
        {
            var k = new float[cap * kvDim]; var v = new float[cap * kvDim];
            K.AsSpan(0, Length * kvDim).CopyTo(k); V.AsSpan(0, Length * kvDim).CopyTo(v);
            K = k; V = v;
        }
        else
        {
            var k = new ushort[cap * kvDim]; var v = new ushort[cap * kvDim];
            KBf16.AsSpan(0, Length * kvDim).CopyTo(k); VBf16.AsSpan(0, Length * kvDim).CopyTo(v);
            KBf16 = k; VBf16 = v;
        }
    }

    /// <summary>Writes rows [row, row + k.Length/kvDim) (within the reserved capacity), rounding to BF16 for a BF16 cache.</summary>
    public void Write(int row, ReadOnlySpan<float> k, ReadOnlySpan<float> v)
    {
        if (type == KvCacheType.F32)
        {
            k.CopyTo(K.AsSpan(row * kvDim));
            v.CopyTo(V.AsSpan(row * kvDim));
        }
        else
        {
            Tensors.Convert.F32ToBF16(k, KBf16.AsSpan(row * kvDim, k.Length));
            Tensors.Convert.F32ToBF16(v, VBf16.AsSpan(row * kvDim, v.Length));
        }
    }

    /// <summary>
    /// The keys of rows [0, rows) as F32: the cache's own array for an F32 cache, else widened into
    /// <paramref name="buffer"/> (grown when too small).
    /// </summary>
    public float[] KeysAsF32(int rows, ref float[]? buffer)
    {
        if (type == KvCacheType.F32) return K;
        int n = rows * kvDim;
        if (buffer == null || buffer.Length < n) buffer = new float[n];
        Tensors.Convert.BF16ToF32(KBf16.AsSpan(0, n), buffer);
        return buffer;
    }

    /// <summary>
    /// Causal attention of nq query rows q [nq, heads·hd] against rows [0, Length) of this cache (the last nq of them
    /// being the queries' own), into output: the F32 kernels, or their BF16-K/V variants for a BF16 cache.
    /// </summary>
    public void Attend(float[] q, int nq, int heads, int hd, float[] output)
    {
        if (type == KvCacheType.F32)
            Attention.Forward(q, nq, K, V, Length, heads, kvDim / hd, hd, causal: true, output);
        else
            Attention.Forward(q, nq, KBf16, VBf16, Length, heads, kvDim / hd, hd, causal: true, output);
    }
}

/// <summary>The KV caches of every decoder layer for one sequence.</summary>
public sealed class KvCache
{
    public LayerKvCache[] Layers { get; }
    public KvCacheType Type { get; }

    public KvCache(int layers, int kvDim, KvCacheType type = KvCacheType.F32)
    {
        if (!Enum.IsDefined(type)) throw new GenerationOptionException($"KV cache type {(int)type} is not one of F32, BF16");
        Type = type;
        Layers = new LayerKvCache[layers];
        for (int i = 0; i < layers; i++) Layers[i] = new LayerKvCache(0, kvDim, type);
    }
}
