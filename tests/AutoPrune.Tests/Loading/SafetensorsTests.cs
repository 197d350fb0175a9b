using System.Text;
using AutoPrune.Loading;
using AutoPrune.Tensors;
using W = AutoPrune.Tests.Support.SafetensorsTestWriter;

namespace AutoPrune.Tests.Loading;

public sealed unsafe class SafetensorsTests : TempDirTest
{
    private string Put(byte[] bytes, string name = "t.safetensors") => W.Write(Dir, name, bytes);

    /// <summary>Opening must fail with a format error whose message names the file and every fragment.</summary>
    private void AssertBad(byte[] bytes, params string[] fragments)
    {
        var path = Put(bytes);
        var e = Assert.Throws<SafetensorsFormatException>(() => SafetensorsFile.Open(path).Dispose());
        Assert.Contains(path, e.Message);
        foreach (var f in fragments) Assert.Contains(f, e.Message);
    }

    /// <summary>A header whose only entry is given verbatim, over `dataBytes` zero bytes.</summary>
    private void AssertBadEntry(string entryJson, int dataBytes, params string[] fragments) =>
        AssertBad(W.FromHeader($"{{\"a\":{entryJson}}}", new byte[dataBytes]), fragments);

    // ---- the file changing under a loaded model ----

    [Fact]
    public void ShrinkingOrRewritingTheFileIsDetectedAtTheNextCheck()
    {
        var path = Put(W.Build(W.F32("x", [1024], new float[1024])));
        using (var f = SafetensorsFile.Open(path))
        {
            f.CheckUnchanged();
            // Shrink it as a careless copy would; the mapped pages past the new end must not be touched from here on.
            using (var fs = new FileStream(path, FileMode.Open, FileAccess.Write, FileShare.ReadWrite)) fs.SetLength(100);
            var e = Assert.Throws<ModelLoadException>(f.CheckUnchanged);
            Assert.Contains(path, e.Message);
            Assert.Contains("changed size", e.Message);
        }
        Put(W.Build(W.F32("x", [4], 1, 2, 3, 4)));
        using (var f = SafetensorsFile.Open(path))
        {
            using (var fs = new FileStream(path, FileMode.Open, FileAccess.Write, FileShare.ReadWrite)) { fs.Position = fs.Length - 4; fs.Write(new byte[4]); }
            File.SetLastWriteTimeUtc(path, DateTime.UtcNow.AddMinutes(1)); // coarse file-system clocks may not move otherwise
            Assert.Contains("was modified", Assert.Throws<ModelLoadException>(f.CheckUnchanged).Message);
        }
    }

    // ---- well-formed files ----

    [Fact]
    public void RoundTripsF32ValuesShapesAndMetadata()
    {
        var path = Put(W.Build([W.F32("x", [2, 3], 1, -2, 3.5f, float.MaxValue, float.Epsilon, -0f), W.F32("b", [1], 42)],
            new Dictionary<string, string> { ["format"] = "pt", ["note"] = "hi" }));
        using var f = SafetensorsFile.Open(path);
        Assert.Equal(["x", "b"], f.Tensors.Select(t => t.Name));
        var x = f.Get("x");
        Assert.Equal(DType.F32, x.DType);
        Assert.Equal([2, 3], x.Shape);
        Assert.Equal(6, x.ElementCount);
        Assert.Equal(new float[] { 1, -2, 3.5f, float.MaxValue, float.Epsilon, -0f }, x.ToFloat32());
        Assert.True(float.IsNegative(x.ToFloat32()[5]));
        Assert.Equal([42f], f.Get("b").ToFloat32());
        Assert.Equal("pt", f.Metadata["format"]);
        Assert.Equal("hi", f.Metadata["note"]);
    }

    [Fact]
    public void WeightsPointIntoTheMappingWithoutCopying()
    {
        var path = Put(W.Build(W.F32("a", [3], 1, 2, 3), W.F32("b", [2], 4, 5)));
        using var f = SafetensorsFile.Open(path);
        var a = f.Get("a"); var b = f.Get("b");
        Assert.Equal(12, b.Data - a.Data); // b starts right after a's 12 bytes, in the same mapping
        Assert.Equal(new FileInfo(path).Length, f.DataOffset + 20);
        Assert.Equal(0, f.DataOffset % 8); // the writer pads the header like the reference one
        Assert.Equal(4f, *(float*)b.Data);
    }

    [Fact]
    public void BF16WideningIsExact()
    {
        ushort[] bits = [0x3F80, 0xC049, 0x7F80, 0xFF80, 0x0001, 0x8000, 0x7F7F, 0x4049];
        float[] expect = [1f, -3.140625f, float.PositiveInfinity, float.NegativeInfinity,
            BitConverter.Int32BitsToSingle(0x00010000), -0f, BitConverter.Int32BitsToSingle(0x7F7F0000), 3.140625f];
        var path = Put(W.Build(W.BF16Bits("w", [2, 4], bits)));
        using var f = SafetensorsFile.Open(path);
        var w = f.Get("w");
        Assert.Equal(DType.BF16, w.DType);
        Assert.Equal(16, w.ByteLength);
        var got = w.ToFloat32();
        for (int i = 0; i < bits.Length; i++)
            Assert.Equal(BitConverter.SingleToInt32Bits(expect[i]), BitConverter.SingleToInt32Bits(got[i]));
    }

    [Fact]
    public void BF16RowsWidenLikeScalarConversion()
    {
        // 40 values so the vectorized path (16 at a time) and the scalar tail both run.
        var vals = new float[40];
        for (int i = 0; i < vals.Length; i++) vals[i] = (i - 20) * 0.37f + 1e-3f * i * i;
        var path = Put(W.Build(W.BF16("w", [4, 10], vals)));
        using var f = SafetensorsFile.Open(path);
        var w = f.Get("w");
        var row = new float[10];
        w.RowTo(2, row);
        for (int c = 0; c < 10; c++) Assert.Equal(AutoPrune.Tensors.Convert.BF16ToF32(AutoPrune.Tensors.Convert.F32ToBF16(vals[20 + c])), row[c]);
        var all = w.ToFloat32();
        for (int i = 0; i < 40; i++) Assert.Equal(AutoPrune.Tensors.Convert.BF16ToF32(AutoPrune.Tensors.Convert.F32ToBF16(vals[i])), all[i]);
    }

    [Fact]
    public void F16WidensLikeHalf()
    {
        float[] vals = [0.5f, -2f, 65504f, (float)Half.Epsilon, 0.1f, -0f, float.PositiveInfinity];
        var path = Put(W.Build(W.F16("h", [7], vals)));
        using var f = SafetensorsFile.Open(path);
        var h = f.Get("h");
        Assert.Equal(DType.F16, h.DType);
        var got = h.ToFloat32();
        for (int i = 0; i < vals.Length; i++) Assert.Equal((float)(Half)vals[i], got[i]);
        Assert.Equal(0.0999755859375f, got[4]); // 0.1 is not representable: nearest half
    }

    [Fact]
    public void ZeroElementAndScalarTensorsAreFine()
    {
        var path = Put(W.Build(W.F32("empty", [0, 5]), W.F32("scalar", [], 7f), W.BF16("empty2", [3, 0])));
        using var f = SafetensorsFile.Open(path);
        Assert.Equal(0, f.Get("empty").ElementCount);
        Assert.Equal([0, 5], f.Get("empty").Shape);
        Assert.Equal(0, f.Get("empty2").ElementCount);
        Assert.Equal([7f], f.Get("scalar").ToFloat32());
    }

    [Fact]
    public void HeaderWithOnlyMetadataAndNoDataIsValid()
    {
        var path = Put(W.FromHeader("{\"__metadata__\":{\"k\":\"v\"}}", []));
        using var f = SafetensorsFile.Open(path);
        Assert.Empty(f.Tensors);
        Assert.Equal("v", f.Metadata["k"]);
    }

    [Fact]
    public void MissingTensorLookupNamesTensorAndFile()
    {
        var path = Put(W.Build(W.F32("a", [1], 1)));
        using var f = SafetensorsFile.Open(path);
        var e = Assert.Throws<MissingTensorException>(() => f.Get("nope"));
        Assert.Equal("nope", e.TensorName);
        Assert.Contains(path, e.Message);
        Assert.False(f.TryGet("nope", out _));
    }

    [Fact]
    public void DisposeTwiceIsHarmless()
    {
        var f = SafetensorsFile.Open(Put(W.Build(W.F32("a", [1], 1))));
        f.Dispose();
        f.Dispose();
    }

    [Fact]
    public void MissingFileIsAModelLoadErrorNamingThePath()
    {
        var path = Path.Combine(Dir, "absent.safetensors");
        var e = Assert.Throws<ModelLoadException>(() => SafetensorsFile.Open(path));
        Assert.Contains(path, e.Message);
    }

    // ---- malformed files: one test per problem ----

    [Fact] public void EmptyFile() => AssertBad([], "empty");

    [Fact] public void ShorterThanEightBytes() => AssertBad([1, 0, 0, 0, 0], "5 bytes", "shorter than");

    [Fact]
    public void HeaderLengthOverLimit() =>
        AssertBad(W.FromRaw(100_000_001, Encoding.UTF8.GetBytes("{}"), 6, []), "header length 100000001", "limit");

    [Fact]
    public void HeaderLengthPastEndOfFile() =>
        AssertBad(W.FromRaw(64, Encoding.UTF8.GetBytes("{}"), 6, []), "header length 64", "past the end");

    [Fact]
    public void HeaderNotUtf8() =>
        AssertBad(W.FromHeader([(byte)'{', (byte)'"', 0xC3, 0x28, (byte)'"', (byte)':', (byte)'1', (byte)'}'], []), "UTF-8");

    [Fact] public void HeaderNotJson() => AssertBad(W.FromHeader("{\"a\": {", []), "not valid JSON");

    /// <summary>JSON escapes may spell lone surrogates, which have no text form: a format error, not an InvalidOperationException.</summary>
    [Theory]
    [InlineData("{\"\\ud800\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", "key #0")]
    [InlineData("{\"a\\udc00b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", "key #0")]
    [InlineData("{\"a\":{\"dtype\":\"\\ud83d\",\"shape\":[1],\"data_offsets\":[0,4]}}", "'a.dtype'")]
    [InlineData("{\"__metadata__\":{\"k\":\"\\udfff\"},\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", "'__metadata__.k'")]
    public void EscapedLoneSurrogate(string header, string where) =>
        AssertBad(W.FromHeader(header, new byte[4]), "not valid JSON", where, "lone surrogate");

    [Fact] public void HeaderNotAnObject() => AssertBad(W.FromHeader("[1,2]", []), "JSON object", "Array");

    [Fact] public void EntryNotAnObject() => AssertBadEntry("[1]", 0, "tensor 'a'", "must be an object");

    [Theory]
    [InlineData("{\"shape\":[1],\"data_offsets\":[0,4]}", "'dtype'")]
    [InlineData("{\"dtype\":\"F32\",\"data_offsets\":[0,4]}", "'shape'")]
    [InlineData("{\"dtype\":\"F32\",\"shape\":[1]}", "'data_offsets'")]
    public void EntryMissingField(string entry, string field) => AssertBadEntry(entry, 4, "tensor 'a'", "missing " + field);

    [Fact]
    public void DtypeNotAString() => AssertBadEntry("{\"dtype\":3,\"shape\":[1],\"data_offsets\":[0,4]}", 4, "tensor 'a'", "'dtype' must be a string");

    [Theory]
    [InlineData("I64")]
    [InlineData("F64")]
    [InlineData("f32")]
    public void UnknownDtype(string dtype) =>
        AssertBadEntry($"{{\"dtype\":\"{dtype}\",\"shape\":[1],\"data_offsets\":[0,8]}}", 8, "tensor 'a'", $"unsupported dtype '{dtype}'");

    [Fact]
    public void NegativeDimension() =>
        AssertBadEntry("{\"dtype\":\"F32\",\"shape\":[2,-1],\"data_offsets\":[0,0]}", 0, "tensor 'a'", "dimension 1 is negative");

    [Theory]
    [InlineData("2.5")]
    [InlineData("\"2\"")]
    [InlineData("null")]
    public void NonIntegerDimension(string dim) =>
        AssertBadEntry($"{{\"dtype\":\"F32\",\"shape\":[{dim}],\"data_offsets\":[0,8]}}", 8, "tensor 'a'", "dimension 0 must be an integer");

    [Fact]
    public void ShapeNotAnArray() =>
        AssertBadEntry("{\"dtype\":\"F32\",\"shape\":4,\"data_offsets\":[0,16]}", 16, "tensor 'a'", "'shape' must be an array");

    [Fact]
    public void DimensionBeyondInt32() =>
        AssertBadEntry("{\"dtype\":\"F32\",\"shape\":[3000000000],\"data_offsets\":[0,4]}", 4, "tensor 'a'", "too large");

    [Fact]
    public void ElementCountOverflow() =>
        AssertBadEntry("{\"dtype\":\"F32\",\"shape\":[2147483647,2147483647,2147483647],\"data_offsets\":[0,4]}", 4, "tensor 'a'", "overflows");

    [Fact]
    public void ByteSizeOverflow() =>
        // 2^31 * 2^31 * 2 elements fits a long; times 4 bytes does not.
        AssertBadEntry("{\"dtype\":\"F32\",\"shape\":[2147483647,2147483647,2],\"data_offsets\":[0,4]}", 4, "tensor 'a'", "overflows");

    [Theory]
    [InlineData("[0]")]
    [InlineData("[0,4,8]")]
    [InlineData("{\"begin\":0}")]
    public void DataOffsetsNotAPair(string offsets) =>
        AssertBadEntry($"{{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":{offsets}}}", 4, "tensor 'a'", "'data_offsets' must be [begin, end]");

    [Theory]
    [InlineData("[0,\"4\"]")]
    [InlineData("[0,4.0]")]
    [InlineData("[-4,0]")]
    [InlineData("[0,18446744073709551615]")]
    public void DataOffsetsNotNonNegativeIntegers(string offsets) =>
        AssertBadEntry($"{{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":{offsets}}}", 4, "tensor 'a'", "two non-negative integers");

    [Fact]
    public void DataOffsetsBeginAfterEnd() =>
        AssertBadEntry("{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,4]}", 8, "tensor 'a'", "begin 8 is after end 4");

    [Fact]
    public void DataOffsetsEndBeyondDataSection() =>
        AssertBadEntry("{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}", 4, "tensor 'a'", "end 8 is beyond the 4-byte data section");

    [Fact]
    public void ByteLengthDoesNotMatchShape() =>
        AssertBadEntry("{\"dtype\":\"BF16\",\"shape\":[3],\"data_offsets\":[0,8]}", 8, "tensor 'a'", "span 8 bytes", "needs 6");

    [Fact]
    public void OverlappingRanges() =>
        AssertBad(W.FromHeader(
            "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
            new byte[12]), "tensor 'b'", "overlaps tensor 'a'");

    [Fact]
    public void TwoTensorsAliasingTheSameBytes() =>
        AssertBad(W.FromHeader(
            "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
            new byte[4]), "overlaps");

    [Fact]
    public void GapBetweenTensors() =>
        AssertBad(W.FromHeader(
            "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}",
            new byte[12]), "gap", "[4,8)", "tensor 'b'");

    [Fact]
    public void GapBeforeFirstTensor() =>
        AssertBadEntry("{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}", 8, "gap", "[0,4)");

    [Fact]
    public void TrailingBytesAfterLastTensor() =>
        AssertBadEntry("{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}", 7, "3 trailing bytes");

    [Fact]
    public void DataWithNoTensorsIsNotCovered() => AssertBad(W.FromHeader("{}", new byte[4]), "4 trailing bytes");

    [Fact]
    public void DuplicateTensorName() =>
        AssertBad(W.FromHeader(
            "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
            new byte[8]), "tensor 'a'", "twice");

    [Theory]
    [InlineData("{\"__metadata__\":{\"k\":1}}", "__metadata__ entry 'k'")]
    [InlineData("{\"__metadata__\":[\"k\"]}", "__metadata__ must be an object")]
    public void MetadataNotAStringMap(string header, string fragment) => AssertBad(W.FromHeader(header, []), fragment);
}
