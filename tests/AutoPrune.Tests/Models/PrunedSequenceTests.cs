using AutoPrune.Models;
using AutoPrune.Pruning;

namespace AutoPrune.Tests.Models;

/// <summary>Compaction of a sequence with two image spans and text around and between them.</summary>
public sealed class PrunedSequenceTests
{
    /// <summary>Rows: text 0-1, image A rows 2-4 (visual 0-2), text 5, image B rows 6-7 (visual 3-4), text 8; row r = [r, 10r].</summary>
    private static PrunedSequence TwoSpans()
    {
        const int n = 9, d = 2;
        var s = new PrunedSequence(n, d, 5, 2) { Length = n };
        for (int r = 0; r < n; r++) { s.H[r * d] = r; s.H[r * d + 1] = 10 * r; s.Positions[r] = r; }
        for (int i = 0; i < 5; i++) s.Ids[i] = i;
        s.SetSpan(0, 2, 3);
        s.SetSpan(1, 6, 2);
        return s;
    }

    [Fact]
    public void EverySpanKeepsItsTokensAndMergedTokensJoinTheirFirstMembersImage()
    {
        var s = TwoSpans();
        s.Apply(new VisualSelection([4, 0, 2], [[3, 1]]), PositionMode.Original);
        Assert.Equal(8, s.Length);
        // text 0, 1 | A: rows 2, 4 | text 5 | B: row 7, mean of rows 6 and 3 | text 8
        Assert.Equal(new float[] { 0, 0, 1, 10, 2, 20, 4, 40, 5, 50, 7, 70, 4.5f, 45, 8, 80 }, s.H[..16]);
        Assert.Equal([0, 1, 2, 4, 5, 7, 4, 8], s.Positions[..8]);   // merged: round(4.5) = 4 (to even)
        Assert.Equal([0, 2, 4, 5], s.Ids[..4]);                      // merged tokens get ids from N0 = 5 on
        Assert.Equal([new ImageSpan(0, 0, 2, 2), new ImageSpan(1, 2, 2, 5)], s.Spans());
        Assert.Equal(4, s.VisualCount);
    }

    [Fact]
    public void CompactRenumbersAndAnImageMayLoseEveryToken()
    {
        var s = TwoSpans();
        s.Apply(new VisualSelection([3]), PositionMode.Compact);
        Assert.Equal(5, s.Length);
        Assert.Equal(new float[] { 0, 1, 5, 6, 8 }, Enumerable.Range(0, 5).Select(r => s.H[r * 2]).ToArray());
        Assert.Equal([0, 1, 2, 3, 4], s.Positions[..5]);
        Assert.Equal([new ImageSpan(0, 0, 0, 2), new ImageSpan(1, 0, 1, 3)], s.Spans());
    }

    [Fact]
    public void InvalidSelectionsAreRefused()
    {
        Assert.Throws<InvalidOperationException>(() => TwoSpans().Apply(new VisualSelection([5]), PositionMode.Compact));
        Assert.Throws<InvalidOperationException>(() => TwoSpans().Apply(new VisualSelection([1, 1]), PositionMode.Compact));
        Assert.Throws<InvalidOperationException>(() => TwoSpans().Apply(new VisualSelection([1], [[1, 2]]), PositionMode.Compact));
        Assert.Throws<InvalidOperationException>(() => TwoSpans().Apply(new VisualSelection([1], [[]]), PositionMode.Compact));
    }

    [Fact]
    public void IdentitySelectionChangesNothing()
    {
        var s = TwoSpans();
        var before = s.H;
        s.Apply(new VisualSelection([0, 1, 2, 3, 4]), PositionMode.Compact);
        Assert.Same(before, s.H);
        Assert.Equal(9, s.Length);
    }
}
