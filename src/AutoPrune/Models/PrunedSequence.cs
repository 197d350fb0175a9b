using System.Numerics.Tensors;
using AutoPrune.Pruning;

namespace AutoPrune.Models;

/// <summary>
/// The merged sequence a prefill prunes: hidden rows [n, d], the RoPE position of each row, and per image the span
/// of rows its visual tokens occupy, with each visual token's original id. The visual set a policy indexes is every
/// span's tokens in sequence order. Buffers are allocated once for the unpruned length; compaction writes into a
/// second set and swaps.
/// </summary>
internal sealed class PrunedSequence
{
    private readonly int _d, _n0;
    private float[] _spareH;
    private int[] _sparePositions, _spareIds;
    private readonly int[] _spanRow, _spanCount;

    /// <param name="capacity">Rows of the unpruned sequence.</param>
    /// <param name="n0">Visual tokens of all images (ids 0..n0-1; merged tokens get ids from n0 on).</param>
    public PrunedSequence(int capacity, int d, int n0, int images)
    {
        _d = d;
        _n0 = n0;
        H = new float[capacity * d];
        _spareH = new float[capacity * d];
        Positions = new int[capacity];
        _sparePositions = new int[capacity];
        Ids = new int[n0];
        _spareIds = new int[n0];
        _spanRow = new int[images];
        _spanCount = new int[images];
    }

    /// <summary>Hidden rows [Length, d] (the array is replaced by every compaction).</summary>
    public float[] H { get; private set; }
    public int[] Positions { get; private set; }
    /// <summary>Original id of each current visual token, in visual-index order.</summary>
    public int[] Ids { get; private set; }
    public int Length { get; set; }

    public int VisualCount
    {
        get
        {
            int v = 0;
            foreach (var c in _spanCount) v += c;
            return v;
        }
    }

    /// <summary>Declares image <paramref name="image"/>'s tokens at rows [row, row + count) (building the sequence).</summary>
    public void SetSpan(int image, int row, int count) => (_spanRow[image], _spanCount[image]) = (row, count);

    public int SpanCount(int image) => _spanCount[image];

    public ImageSpan[] Spans()
    {
        var r = new ImageSpan[_spanRow.Length];
        for (int i = 0, first = 0; i < r.Length; first += _spanCount[i], i++) r[i] = new ImageSpan(i, first, _spanCount[i], _spanRow[i]);
        return r;
    }

    /// <summary>
    /// Applies a policy's selection (indices into the current visual set): each image span becomes its kept tokens
    /// in the given order, then the merged groups whose first member it holds (mean of the members' rows, mean
    /// position rounded); text rows move up. Merged tokens get fresh ids ≥ N0, never an original token's id.
    /// Compact renumbers every position 0..n-1 afterwards.
    /// </summary>
    public void Apply(VisualSelection sel, PositionMode mode)
    {
        int visual = VisualCount, d = _d;
        var taken = new bool[visual];
        foreach (var k in sel.Keep)
        {
            if ((uint)k >= (uint)visual) throw new InvalidOperationException($"policy kept visual index {k} of {visual}");
            if (taken[k]) throw new InvalidOperationException($"policy kept visual index {k} twice");
            taken[k] = true;
        }
        int merged = sel.Merge?.Length ?? 0, newVisual = sel.Keep.Length + merged;
        for (int g = 0; g < merged; g++)
        {
            var members = sel.Merge![g];
            if (members.Length == 0) throw new InvalidOperationException("policy produced an empty merge group");
            foreach (var m in members)
            {
                if ((uint)m >= (uint)visual) throw new InvalidOperationException($"merge member {m} of {visual}");
                if (taken[m]) throw new InvalidOperationException($"visual index {m} is kept or merged more than once");
                taken[m] = true;
            }
        }
        if (merged == 0 && newVisual == visual)
        {
            bool identity = true;
            for (int i = 0; i < newVisual && identity; i++) identity = sel.Keep[i] == i;
            if (identity) return;
        }

        // Image of each visual index, and its row now.
        int images = _spanRow.Length;
        var imageOf = new int[visual];
        var rowOf = new int[visual];
        for (int s = 0, v = 0; s < images; s++)
            for (int j = 0; j < _spanCount[s]; j++, v++) { imageOf[v] = s; rowOf[v] = _spanRow[s] + j; }
        int nextId = _n0;
        for (int i = 0; i < visual; i++) nextId = Math.Max(nextId, Ids[i] + 1);

        int dst = 0, src = 0, vDst = 0;
        for (int s = 0; s < images; s++)
        {
            dst = CopyRows(src, _spanRow[s], dst);
            int start = dst;
            foreach (var k in sel.Keep)
            {
                if (imageOf[k] != s) continue;
                H.AsSpan(rowOf[k] * d, d).CopyTo(_spareH.AsSpan(dst * d, d));
                _sparePositions[dst] = Positions[rowOf[k]];
                _spareIds[vDst++] = Ids[k];
                dst++;
            }
            for (int g = 0; g < merged; g++)
            {
                var members = sel.Merge![g];
                if (imageOf[members[0]] != s) continue;
                var row = _spareH.AsSpan(dst * d, d);
                row.Clear();
                long posSum = 0;
                foreach (var m in members)
                {
                    TensorPrimitives.Add(row, H.AsSpan(rowOf[m] * d, d), row);
                    posSum += Positions[rowOf[m]];
                }
                TensorPrimitives.Multiply(row, 1f / members.Length, row);
                _sparePositions[dst] = (int)Math.Round((double)posSum / members.Length);
                _spareIds[vDst++] = nextId + g;
                dst++;
            }
            src = _spanRow[s] + _spanCount[s];
            _spanRow[s] = start;
            _spanCount[s] = dst - start;
        }
        dst = CopyRows(src, Length, dst);
        (H, _spareH) = (_spareH, H);
        (Positions, _sparePositions) = (_sparePositions, Positions);
        (Ids, _spareIds) = (_spareIds, Ids);
        Length = dst;
        if (mode == PositionMode.Compact)
            for (int i = 0; i < Length; i++) Positions[i] = i;
    }

    /// <summary>Copies rows [from, to) to the compaction target at <paramref name="dst"/>; returns the next free row.</summary>
    private int CopyRows(int from, int to, int dst)
    {
        int count = to - from;
        H.AsSpan(from * _d, count * _d).CopyTo(_spareH.AsSpan(dst * _d));
        Positions.AsSpan(from, count).CopyTo(_sparePositions.AsSpan(dst));
        return dst + count;
    }
}
