using AutoPrune.Loading;

namespace AutoPrune.Tests.Loading;

public sealed unsafe class MappedFileTests : TempDirTest
{
    [Fact]
    public void ReadAtGivesTheMappedBytesAndStaysInsideTheFile()
    {
        var path = Path.Combine(Dir, "f.bin");
        var bytes = new byte[10_000];
        new Random(5).NextBytes(bytes);
        File.WriteAllBytes(path, bytes);
        using var f = MappedFile.Open(path, "test");
        Assert.Equal(bytes.Length, f.Length);
        Assert.True(new ReadOnlySpan<byte>(f.Base, bytes.Length).SequenceEqual(bytes));
        var got = new byte[4000];
        fixed (byte* p = got) f.ReadAt(5000, p, got.Length);
        Assert.Equal(bytes[5000..9000], got);
        fixed (byte* p = got)
        {
            byte* q = p;
            Assert.Throws<ArgumentOutOfRangeException>(() => f.ReadAt(7000, q, 4000));
            Assert.Throws<ArgumentOutOfRangeException>(() => f.ReadAt(-1, q, 1));
        }
    }

    [Fact]
    public void AnEmptyFileOpensUnmappedAndAMissingOneIsATypedError()
    {
        var path = Path.Combine(Dir, "empty.bin");
        File.WriteAllBytes(path, []);
        using (var f = MappedFile.Open(path, "test"))
        {
            Assert.Equal(0, f.Length);
            Assert.True(f.Base == null);
            f.CheckUnchanged();
        }
        var e = Assert.Throws<ModelLoadException>(() => MappedFile.Open(Path.Combine(Dir, "nope.bin"), "weights"));
        Assert.Contains("weights file not found", e.Message);
    }
}
