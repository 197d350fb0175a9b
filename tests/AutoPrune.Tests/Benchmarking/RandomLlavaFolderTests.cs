using AutoPrune.Benchmarking;
using AutoPrune.Loading;
using AutoPrune.Loading.Gguf;
using AutoPrune.Models;
using AutoPrune.Tensors;
using AutoPrune.Tests.Support;

namespace AutoPrune.Tests.Benchmarking;

/// <summary>The random llava-hf folder writer at a tiny shape: loadable, deterministic, reused, convertible to GGUF.</summary>
public sealed class RandomLlavaFolderTests : TempDirTest
{
    private static readonly LlavaConfig Tiny = new()
    {
        Text = new LlamaConfig
        {
            HiddenSize = 64, IntermediateSize = 128, NumHiddenLayers = 2, NumAttentionHeads = 4, NumKeyValueHeads = 4, HeadDim = 16,
            VocabSize = 392, RmsNormEps = 1e-5f, MaxPositionEmbeddings = 256,
        },
        Vision = new ClipVisionConfig { HiddenSize = 32, IntermediateSize = 64, NumHiddenLayers = 3, NumAttentionHeads = 2, ImageSize = 28, PatchSize = 14 },
        ImageTokenIndex = 384,
        PadTokenId = 385,
    };

    private static float[] LastLogits(LlavaModel m, RgbImage image, TokenizedPrompt prompt) =>
        (float[])m.Prefill(m.PreprocessImage(image), prompt).Logits.Clone();

    [Fact]
    public void TinyFolder_Loads_Answers_AndIsReusedWhenComplete()
    {
        var dir = RandomLlavaFolder.Create(Path.Combine(Dir, "m"), Tiny);
        Assert.True(RandomLlavaFolder.IsComplete(dir, Tiny));
        Assert.False(RandomLlavaFolder.IsComplete(dir, Tiny, seed: 2));
        using (var m = LlavaModel.Load(dir))
        {
            Assert.Equal(Tiny.Text, m.Config.Text);
            var prompt = m.Tokenize("What color is the big block?");
            Assert.Single(prompt.ImagePositions);
            var run = m.Prefill(m.PreprocessImage(RgbImage.Filled(40, 30, 200, 30, 30)), prompt, reserveForDecode: 4);
            var answer = run.Generate(4, l => Array.IndexOf(l, l.Max()), m.Tokenizer.EosId);
            Assert.NotEmpty(answer);
            Assert.All(run.Logits, v => Assert.True(float.IsFinite(v)));
            // The made-up vocabulary encodes any text (byte fallback) and decodes it back.
            const string text = "Hello, world 42! ünï";
            Assert.Equal(text, m.Tokenizer.Decode(m.Tokenizer.EncodePrompt(text)));
        }
        var written = File.GetLastWriteTimeUtc(Path.Combine(dir, RandomLlavaFolder.WeightsFileName));
        var log = new List<string>();
        RandomLlavaFolder.Create(dir, Tiny, progress: log.Add);
        Assert.Equal(written, File.GetLastWriteTimeUtc(Path.Combine(dir, RandomLlavaFolder.WeightsFileName)));
        Assert.Contains(log, l => l.StartsWith("reusing", StringComparison.Ordinal));
    }

    [Fact]
    public void SameSeed_SameBytes_OtherSeed_OtherWeights()
    {
        string Weights(string name, int seed) =>
            Path.Combine(RandomLlavaFolder.Create(Path.Combine(Dir, name), Tiny, DType.F16, seed), RandomLlavaFolder.WeightsFileName);
        var a = File.ReadAllBytes(Weights("a", 1));
        Assert.Equal(a, File.ReadAllBytes(Weights("b", 1)));
        Assert.NotEqual(a, File.ReadAllBytes(Weights("c", 2)));
    }

    [Fact]
    public void ConvertedToGguf_SameIdsAndLogits()
    {
        var dir = RandomLlavaFolder.Create(Path.Combine(Dir, "m"), Tiny);
        var (lm, mm) = LlavaGgufConverter.Convert(dir, Path.Combine(Dir, "gguf"), GgufFileType.F16);
        using var st = LlavaModel.Load(dir);
        using var gg = LlavaModel.Load(lm, mmproj: mm);
        var prompt = st.Tokenize("Where is the red block?");
        Assert.Equal(prompt.Ids, gg.Tokenize("Where is the red block?").Ids);
        var image = RgbImage.Filled(28, 28, 10, 200, 30);
        var a = LastLogits(st, image, prompt);
        var b = LastLogits(gg, image, prompt);
        double ab = 0, aa = 0, bb = 0;
        for (int i = 0; i < a.Length; i++) { ab += a[i] * b[i]; aa += a[i] * a[i]; bb += b[i] * b[i]; }
        Assert.True(ab / Math.Sqrt(aa * bb) > 0.9999, $"cosine {ab / Math.Sqrt(aa * bb)}");
    }

    [Fact]
    public void Llava7bShape_HasTheCheckpointsParameterCount()
    {
        Assert.Equal(7_063_427_072L, RandomLlavaFolder.Parameters(ModelShapes.Get("llava-7b")));
        Assert.Throws<ArgumentException>(() => RandomLlavaFolder.Create(Path.Combine(Dir, "n"), "llava-next-7b"));
    }
}
