using System.Numerics.Tensors;

namespace AutoPrune.Tensors;

/// <summary>
/// Multi-head scaled dot-product attention over row-major buffers:
/// q [nq, heads·hd], k/v [nk, kvHeads·hd], out [nq, heads·hd]. Query i sees keys j ≤ i + (nk − nq)
/// when causal (the cache prefix is visible to every new query). Softmax is float32.
/// </summary>
public static class Attention
{
    public static void Forward(float[] q, int nq, float[] k, float[] v, int nk, int heads, int kvHeads, int hd,
        bool causal, float[] output)
    {
        int qDim = heads * hd, kvDim = kvHeads * hd, group = heads / kvHeads, offset = nk - nq;
        float scale = 1f / MathF.Sqrt(hd);
        // Parallel over (head, query block): each work item owns disjoint output slices.
        const int QBlock = 32;
        int qBlocks = (nq + QBlock - 1) / QBlock;
        Parallel.For(0, heads * qBlocks, () => new float[nk], (item, _, scores) =>
        {
            int h = item / qBlocks, qb = item % qBlocks, kh = h / group;
            int i1 = Math.Min(nq, (qb + 1) * QBlock);
            for (int i = qb * QBlock; i < i1; i++)
            {
                int len = causal ? i + offset + 1 : nk;
                var s = scores.AsSpan(0, len);
                var qi = q.AsSpan(i * qDim + h * hd, hd);
                for (int j = 0; j < len; j++) s[j] = TensorPrimitives.Dot(qi, k.AsSpan(j * kvDim + kh * hd, hd)) * scale;
                Ops.Softmax(s);
                var o = output.AsSpan(i * qDim + h * hd, hd);
                o.Clear();
                for (int j = 0; j < len; j++) TensorPrimitives.MultiplyAdd(v.AsSpan(j * kvDim + kh * hd, hd), s[j], o, o);
            }
            return scores;
        }, _ => { });
    }

    /// <summary>
    /// Attention probabilities of chosen query rows against chosen key rows, per head:
    /// result[h, r, c] = softmax over all visible keys of query queryRows[r], read at key keyCols[c]
    /// (zero where the key is masked). Only these rows are computed; the L×L map never exists.
    /// </summary>
    public static float[] Probabilities(float[] q, float[] k, int nq, int nk, int heads, int kvHeads, int hd, bool causal,
        ReadOnlySpan<int> queryRows, ReadOnlySpan<int> keyCols)
    {
        int qDim = heads * hd, kvDim = kvHeads * hd, group = heads / kvHeads, offset = nk - nq;
        int nr = queryRows.Length, nc = keyCols.Length;
        float scale = 1f / MathF.Sqrt(hd);
        var result = new float[heads * nr * nc];
        var rows = queryRows.ToArray();
        var cols = keyCols.ToArray();
        Parallel.For(0, heads, () => new float[nk], (h, _, scores) =>
        {
            int kh = h / group;
            for (int r = 0; r < nr; r++)
            {
                int i = rows[r];
                int len = causal ? i + offset + 1 : nk;
                var s = scores.AsSpan(0, len);
                var qi = q.AsSpan(i * qDim + h * hd, hd);
                for (int j = 0; j < len; j++) s[j] = TensorPrimitives.Dot(qi, k.AsSpan(j * kvDim + kh * hd, hd)) * scale;
                Ops.Softmax(s);
                int baseIdx = (h * nr + r) * nc;
                for (int c = 0; c < nc; c++) result[baseIdx + c] = cols[c] < len ? s[cols[c]] : 0f;
            }
            return scores;
        }, _ => { });
        return result;
    }

    /// <summary>Mean over heads of a [heads, rows, cols] probability block.</summary>
    public static float[] MeanOverHeads(float[] perHead, int heads, int rows, int cols)
    {
        int n = rows * cols;
        var mean = new float[n];
        for (int h = 0; h < heads; h++) TensorPrimitives.Add(mean, perHead.AsSpan(h * n, n), mean);
        TensorPrimitives.Multiply(mean, 1f / heads, mean);
        return mean;
    }
}
