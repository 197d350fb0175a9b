using AutoPrune.Loading.Gguf;

namespace AutoPrune.OracleTests;

/// <summary>
/// Compensates, for llama.cpp only, an upstream bug of its LLaVA vision graph (ggml-org/llama.cpp issue #25814, fixed
/// by PR #25844, which the c0c7e147 build inside LLamaSharp 0.30.0 predates). The graph appends [CLS] after the N
/// patches, yet still adds position rows 0..N in sequence order and still hands the projector the tokens at sequence
/// indices 1..N. So patch i gets position row i where CLIP gives it row i + 1, [CLS] gets row N instead of row 0, and
/// the output is patches 1..N-1 followed by [CLS] instead of patches 0..N-1.
/// <para>
/// Attention does not depend on token order, so giving every token its CLIP position row makes each output row exactly
/// CLIP's output for that token. Two encodes by llama.cpp's own graph then cover all N patches:
/// pass A, the position table rotated by one row (row k holds row k + 1, the last row holds row 0), yields CLIP's
/// patches 1..N-1 as output rows 0..N-2; pass B, the image's patches rotated by one place in raster order (patch N-1
/// moves to the front) with position rows 0 and N swapped, yields CLIP's patch 0 as output row 0.
/// <see cref="Assemble"/> joins them, and the test decodes the result with libmtmd's decode helper.
/// </para>
/// Only these tests write such files. <c>autoprune convert</c> keeps writing the standard table, as llama.cpp's own
/// converter does: that file is right for every other reader and for llama.cpp builds with the fix.
/// </summary>
public static class ClsOrderCorrection
{
    public const string PositionTable = "v.position_embd.weight";

    /// <summary>Pass A's mmproj: a copy of <paramref name="mmproj"/> with the position table rotated up by one row.</summary>
    public static void WriteRotatedTable(string mmproj, string output) =>
        RewriteTable(mmproj, output, (table, rowBytes) =>
        {
            var t = new byte[table.Length];
            table.AsSpan(rowBytes).CopyTo(t);
            table.AsSpan(0, rowBytes).CopyTo(t.AsSpan(table.Length - rowBytes));
            return t;
        });

    /// <summary>Pass B's mmproj: a copy of <paramref name="mmproj"/> with position rows 0 and N swapped.</summary>
    public static void WriteSwappedTable(string mmproj, string output) =>
        RewriteTable(mmproj, output, (table, rowBytes) =>
        {
            var t = (byte[])table.Clone();
            table.AsSpan(0, rowBytes).CopyTo(t.AsSpan(table.Length - rowBytes));
            table.AsSpan(table.Length - rowBytes).CopyTo(t);
            return t;
        });

    /// <summary>Pass B's image: the <paramref name="patch"/>-pixel squares moved one place on in raster order, the last to the front.</summary>
    public static MtmdImage RotatePatches(MtmdImage image, int patch)
    {
        if (image.Width % patch != 0 || image.Height % patch != 0)
            throw new ArgumentException($"a {image.Width}x{image.Height} image does not split into {patch}-pixel patches (it must be the tower's input size)");
        int gx = image.Width / patch, n = gx * (image.Height / patch), rowBytes = image.Width * 3;
        var dst = new byte[image.Rgb.Length];
        for (int k = 0; k < n; k++)
        {
            int from = (k + n - 1) % n;
            int sx = from % gx * patch, sy = from / gx * patch, dx = k % gx * patch, dy = k / gx * patch;
            for (int y = 0; y < patch; y++)
                image.Rgb.AsSpan((sy + y) * rowBytes + sx * 3, patch * 3).CopyTo(dst.AsSpan((dy + y) * rowBytes + dx * 3));
        }
        return image with { Rgb = dst };
    }

    /// <summary>CLIP's N patch features: pass B's row 0, then pass A's rows 0..N-2 (<paramref name="dim"/> floats a row).</summary>
    public static float[] Assemble(float[] passA, float[] passB, int dim)
    {
        var f = new float[passA.Length];
        passB.AsSpan(0, dim).CopyTo(f);
        passA.AsSpan(0, passA.Length - dim).CopyTo(f.AsSpan(dim));
        return f;
    }

    private static unsafe void RewriteTable(string mmproj, string output, Func<byte[], int, byte[]> rearrange)
    {
        File.Copy(mmproj, output, overwrite: true);
        long offset;
        byte[] table;
        int rows;
        using (var g = GgufFile.Open(output))
        {
            var w = g.Get(PositionTable);
            rows = w.Rows;
            table = new ReadOnlySpan<byte>(w.Data, checked((int)w.ByteLength)).ToArray();
            // Tensor offsets count from the start of the data section and GGUF writers put the first tensor at
            // offset 0, so the lowest tensor address is DataOffset. Checked below by reading the bytes back.
            byte* first = w.Data;
            foreach (var t in g.Tensors) if (t.Data < first) first = t.Data;
            offset = g.DataOffset + (w.Data - first);
        }
        using var fs = new FileStream(output, FileMode.Open, FileAccess.ReadWrite);
        var check = new byte[table.Length];
        fs.Position = offset;
        fs.ReadExactly(check);
        if (!check.AsSpan().SequenceEqual(table)) throw new InvalidOperationException($"{output}: {PositionTable} is not at file offset {offset}");
        fs.Position = offset;
        fs.Write(rearrange(table, table.Length / rows));
    }
}
