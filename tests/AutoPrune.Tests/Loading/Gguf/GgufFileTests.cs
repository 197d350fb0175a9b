using System.Text;
using AutoPrune.Loading.Gguf;
using AutoPrune.Tensors;
using AutoPrune.Tests.Support;

namespace AutoPrune.Tests.Loading.Gguf;

public sealed class GgufFileTests : TempDirTest
{
    private string Put(byte[] bytes, string name = "m.gguf")
    {
        var p = Path.Combine(Dir, name);
        File.WriteAllBytes(p, bytes);
        return p;
    }

    private void AssertBad(byte[] bytes, params string[] fragments)
    {
        var path = Put(bytes);
        var e = Assert.Throws<GgufFormatException>(() => GgufFile.Open(path).Dispose());
        Assert.Contains(path, e.Message);
        foreach (var f in fragments) Assert.Contains(f, e.Message);
    }

    // ---- a hand-assembled header, so each field can be broken on purpose ----

    private static void Str(BinaryWriter w, string s) { var b = Encoding.UTF8.GetBytes(s); w.Write((ulong)b.Length); w.Write(b); }

    /// <summary>GGUF with one u32 key "k" = 7 and one F32 tensor "t" of ne [ne0, ne1] at the given offset, then `data` bytes.</summary>
    private static byte[] Raw(uint version = 3, uint magic = GgufFile.Magic, ulong nTensors = 1, ulong nKv = 1, uint valueType = 4,
        ulong ne0 = 4, ulong ne1 = 2, uint nDims = 2, uint typeId = 0, ulong offset = 0, int data = 32, ulong nameLen = 1)
    {
        var ms = new MemoryStream();
        using var w = new BinaryWriter(ms);
        w.Write(magic); w.Write(version); w.Write(nTensors); w.Write(nKv);
        Str(w, "k"); w.Write(valueType); w.Write(7u);
        w.Write(nameLen); w.Write((byte)'t');
        w.Write(nDims); w.Write(ne0); if (nDims > 1) w.Write(ne1); w.Write(typeId); w.Write(offset);
        while (ms.Length % 32 != 0) w.Write((byte)0);
        w.Write(new byte[data]);
        w.Flush();
        return ms.ToArray();
    }

    [Fact]
    public void HandAssembledFile_Loads()
    {
        var bytes = Raw();
        var span = bytes.AsSpan(bytes.Length - 32);
        for (int i = 0; i < 8; i++) BitConverter.TryWriteBytes(span[(4 * i)..], (float)i);
        using var f = GgufFile.Open(Put(bytes));
        Assert.Equal(3u, f.Version);
        Assert.Equal(7, f.GetInt("k"));
        var t = f.Get("t");
        Assert.Equal([2, 4], t.Shape); // ne [4, 2] is 2 rows of 4
        Assert.Equal(new float[] { 0, 1, 2, 3, 4, 5, 6, 7 }, t.ToFloat32());
    }

    [Fact] public void BadMagic() => AssertBad(Raw(magic: 0x12345678), "bad magic");
    [Fact] public void Version1_IsRefused() => AssertBad(Raw(version: 1), "version 1");
    [Fact] public void Version4_IsRefused() => AssertBad(Raw(version: 4), "unsupported GGUF version 4");
    [Fact] public void AbsurdTensorCount() => AssertBad(Raw(nTensors: 1UL << 40), "tensor count");
    [Fact] public void AbsurdMetadataCount() => AssertBad(Raw(nKv: ulong.MaxValue), "metadata count");
    [Fact] public void UnknownValueType() => AssertBad(Raw(valueType: 99), "unknown value type 99");
    [Fact] public void StringLengthPastTheEnd() => AssertBad(Raw(nameLen: 1UL << 50), "claims", "bytes");
    [Fact] public void TooManyDimensions() => AssertBad(Raw(nDims: 5), "5 dimensions");
    [Fact] public void ZeroDimensions() => AssertBad(Raw(nDims: 0), "0 dimensions");
    [Fact] public void UnsupportedTensorType() => AssertBad(Raw(typeId: 10), "Q2_K", "not supported");
    [Fact] public void UnknownTensorType() => AssertBad(Raw(typeId: 1000), "type 1000");
    [Fact] public void MisalignedOffset() => AssertBad(Raw(offset: 4, data: 64), "not a multiple of the alignment");
    [Fact] public void OffsetOutOfRange() => AssertBad(Raw(offset: 1UL << 40), "runs past");
    [Fact] public void TensorPastTheEnd() => AssertBad(Raw(data: 16), "runs past", "truncated");
    [Fact] public void DimensionTooLarge() => AssertBad(Raw(ne0: 1UL << 40), "too large");
    [Fact] public void DimensionProductOverflows() => AssertBad(Overflow(), "overflows");
    [Fact] public void RowNotAWholeNumberOfBlocks() => AssertBad(Raw(typeId: 8, ne0: 40, ne1: 1), "not a multiple of the Q8_0 block size 32");

    /// <summary>Four dimensions of 2^31−1: the element count overflows a long.</summary>
    private static byte[] Overflow()
    {
        var ms = new MemoryStream();
        using var w = new BinaryWriter(ms);
        w.Write(GgufFile.Magic); w.Write(3u); w.Write(1UL); w.Write(0UL);
        Str(w, "t"); w.Write(4u);
        for (int i = 0; i < 4; i++) w.Write((ulong)int.MaxValue);
        w.Write(0u); w.Write(0UL);
        w.Write(new byte[64]);
        w.Flush();
        return ms.ToArray();
    }

    [Fact]
    public void OverlappingTensors_AreRefused()
    {
        var g = new GgufWriter();
        g.AddTensor("a", DType.F32, [8], () => new byte[32]);
        g.AddTensor("b", DType.F32, [8], () => new byte[32]);
        var p = Path.Combine(Dir, "o.gguf");
        g.Write(p);
        var bytes = File.ReadAllBytes(p);
        // tensor b's offset field (u64 after its type) is the last 8 bytes of its info: make it 0, as a's
        int at = IndexOf(bytes, "b"u8.ToArray()) + 1 + 4 + 8 + 4;
        BitConverter.TryWriteBytes(bytes.AsSpan(at), 0UL);
        AssertBad(bytes, "overlaps");
    }

    private static int IndexOf(byte[] hay, byte[] needle)
    {
        for (int i = 0; i + needle.Length <= hay.Length; i++)
            if (hay.AsSpan(i, needle.Length).SequenceEqual(needle) && i >= 8 && hay[i - 8] == needle.Length) return i;
        throw new InvalidOperationException("not found");
    }

    [Fact]
    public void EmptyAndTinyFiles_AreFormatErrors()
    {
        AssertBad([], "shorter than");
        AssertBad("GGUF"u8.ToArray(), "shorter than");
    }

    [Fact]
    public void EveryTruncation_IsAFormatError()
    {
        var full = WriterRoundTripFile();
        var bytes = File.ReadAllBytes(full);
        for (int n = 0; n < bytes.Length; n += Math.Max(1, n / 16))
        {
            var path = Put(bytes[..n], "cut.gguf");
            Assert.Throws<GgufFormatException>(() => GgufFile.Open(path).Dispose());
        }
    }

    [Fact]
    public void RandomByteCorruption_LoadsOrFailsWithAFormatError()
    {
        var bytes = File.ReadAllBytes(WriterRoundTripFile());
        var rng = new Random(11);
        int header;
        using (var ok = GgufFile.Open(Path.Combine(Dir, "rt.gguf"))) header = (int)ok.DataOffset; // the data bytes cannot make a file invalid
        for (int iter = 0; iter < 400; iter++)
        {
            var b = (byte[])bytes.Clone();
            int flips = 1 + rng.Next(4);
            for (int i = 0; i < flips; i++) b[rng.Next(header)] = (byte)rng.Next(256);
            var path = Put(b, "fuzz.gguf");
            try
            {
                using var f = GgufFile.Open(path);
                foreach (var t in f.Tensors) t.ToFloat32(); // every tensor it accepted must be readable in bounds
            }
            catch (GgufFormatException) { }
        }
    }

    /// <summary>Writer → reader: metadata of every kind and tensors of several types, bytes identical.</summary>
    private string WriterRoundTripFile()
    {
        var g = new GgufWriter();
        g.Add("general.architecture", "llama");
        g.Add("u", 5u); g.Add("i", -3); g.Add("f", 1.5f); g.Add("b", true);
        g.Add("strs", ["a", "<0x0A>", "▁hi"]); g.Add("floats", [1f, -2f]); g.Add("ints", [1, 2, 3]);
        var q = new byte[DType.Q8_0.ByteCount(64)];
        for (int i = 0; i < q.Length; i++) q[i] = (byte)(i * 7);
        for (int blk = 0; blk < 2; blk++) { q[blk * 34] = 0; q[blk * 34 + 1] = 0x3C; } // d = 1.0
        g.AddTensor("q", DType.Q8_0, [2, 32], () => q);
        g.AddTensor("v", DType.F32, [3], () => System.Runtime.InteropServices.MemoryMarshal.AsBytes<float>([1f, 2f, 3f]).ToArray());
        var p = Path.Combine(Dir, "rt.gguf");
        g.Write(p);
        return p;
    }

    [Fact]
    public void ShrinkingOrRewritingTheFileIsDetectedAtTheNextCheck()
    {
        var path = WriterRoundTripFile();
        using (var f = GgufFile.Open(path))
        {
            f.CheckUnchanged();
            // Cut it as a careless copy would; the mapped pages past the new end must not be touched from here on.
            using (var fs = new FileStream(path, FileMode.Open, FileAccess.Write, FileShare.ReadWrite)) fs.SetLength(f.DataOffset);
            var e = Assert.Throws<ModelLoadException>(f.CheckUnchanged);
            Assert.Contains(path, e.Message);
            Assert.Contains("changed size", e.Message);
        }
        path = WriterRoundTripFile();
        using (var f = GgufFile.Open(path))
        {
            using (var fs = new FileStream(path, FileMode.Open, FileAccess.Write, FileShare.ReadWrite)) { fs.Position = fs.Length - 4; fs.Write(new byte[4]); }
            File.SetLastWriteTimeUtc(path, DateTime.UtcNow.AddMinutes(1)); // coarse file-system clocks may not move otherwise
            Assert.Contains("was modified", Assert.Throws<ModelLoadException>(f.CheckUnchanged).Message);
        }
    }

    [Fact]
    public void WriterRoundTrip()
    {
        using var f = GgufFile.Open(WriterRoundTripFile());
        Assert.Equal("llama", f.GetString("general.architecture"));
        Assert.Equal(5, f.GetInt("u")); Assert.Equal(-3, f.GetInt("i"));
        Assert.Equal(1.5f, f.TryGetFloat("f")); Assert.True(f.TryGetBool("b"));
        Assert.Equal(["a", "<0x0A>", "▁hi"], f.TryGetArray<string>("strs", "strings"));
        Assert.Equal([1f, -2f], f.TryGetArray<float>("floats", "floats"));
        Assert.Equal([1, 2, 3], f.TryGetArray<int>("ints", "ints"));
        var q = f.Get("q");
        Assert.Equal(DType.Q8_0, q.DType);
        Assert.Equal([2, 32], q.Shape);
        Assert.Equal(0, f.DataOffset % 32);
        var x = q.ToFloat32();
        Assert.Equal((float)(sbyte)(byte)(2 * 7), x[0]);
        Assert.Equal(Enumerable.Range(0, 3).Select(i => (float)(i + 1)), f.Get("v").ToFloat32());
        var e = Assert.Throws<GgufFormatException>(() => f.GetString("u"));
        Assert.Contains("should be a string", e.Message);
        Assert.Throws<MissingTensorException>(() => f.Get("nope"));
    }
}
