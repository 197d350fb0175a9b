using System.Runtime.InteropServices;
using System.Text.Json.Nodes;
using AutoPrune.Loading;
using AutoPrune.Models;
using AutoPrune.Tests.Cli;

namespace AutoPrune.Tests.Models;

/// <summary>
/// llava-hf checkpoints pad lm_head beyond the tokenizer (32,064 rows for 32,002 ids). A copy of the embedded model
/// with 64 extra rows, each a scaled copy of the row of the answer's first token so that unmasked argmax would pick
/// a padding id: the engine must still answer exactly as the unpadded model.
/// </summary>
public sealed class PaddedVocabularyTests : IDisposable
{
    private const int Extra = 64;
    private readonly string _dir = TestPaths.TempDir();

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string BuildPaddedModel(int favoredRow)
    {
        foreach (var f in Directory.GetFiles(TestPaths.TinyModel))
            if (!f.EndsWith(".safetensors", StringComparison.Ordinal)) File.Copy(f, Path.Combine(_dir, Path.GetFileName(f)));
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(_dir, "config.json")))!;
        int vocab = config["text_config"]!["vocab_size"]!.GetValue<int>();
        config["text_config"]!["vocab_size"] = vocab + Extra;
        File.WriteAllText(Path.Combine(_dir, "config.json"), config.ToJsonString());

        using var src = SafetensorsFile.Open(Path.Combine(TestPaths.TinyModel, "model.safetensors"));
        var tensors = new List<SafetensorsTestWriter.Tensor>();
        foreach (var w in src.Tensors)
        {
            var values = w.ToFloat32();
            long[] shape = Array.ConvertAll(w.Shape, s => (long)s);
            if (w.Name is "language_model.lm_head.weight" or "language_model.model.embed_tokens.weight")
            {
                int cols = w.Cols;
                var padded = new float[(vocab + Extra) * cols];
                values.CopyTo(padded, 0);
                if (w.Name.EndsWith("lm_head.weight", StringComparison.Ordinal))
                    for (int r = vocab; r < vocab + Extra; r++)
                        for (int c = 0; c < cols; c++) padded[r * cols + c] = 20 * values[favoredRow * cols + c];
                values = padded;
                shape[0] = vocab + Extra;
            }
            tensors.Add(new(w.Name, "F32", shape, MemoryMarshal.AsBytes(values.AsSpan()).ToArray()));
        }
        File.WriteAllBytes(Path.Combine(_dir, "model.safetensors"), SafetensorsTestWriter.Build(tensors));
        return _dir;
    }

    [Fact]
    public void PaddingIdsAreNeverGenerated()
    {
        var image = Path.Combine(TestPaths.Samples, "scene1.png");
        const string q = "What color is the triangle?";
        using var tiny = LlavaModel.Load(TestPaths.TinyModel);
        var expected = Generator.Ask(tiny, image, q);
        var sampledExpected = Generator.Ask(tiny, image, q, new GenerationOptions { Temperature = 1, Seed = 3, MaxNewTokens = 6 });

        using var padded = LlavaModel.Load(BuildPaddedModel(expected.OutputIds[0]));
        Assert.Equal(padded.Tokenizer.VocabSize + Extra, padded.Config.Text.VocabSize);
        // Unmasked, a padding row wins the first step.
        var pre = padded.Prefill(padded.PreprocessImage(image), padded.Tokenize(q));
        Assert.True(Sampling.Argmax(pre.Logits) >= padded.Tokenizer.VocabSize);

        var greedy = Generator.Ask(padded, image, q);
        Assert.Equal(expected.OutputIds, greedy.OutputIds);
        Assert.Equal(expected.Text, greedy.Text);
        var sampled = Generator.Ask(padded, image, q, new GenerationOptions { Temperature = 1, Seed = 3, MaxNewTokens = 6 });
        Assert.Equal(sampledExpected.OutputIds, sampled.OutputIds);

        var (code, stdout, stderr) = CliTests.Run("ask", "--model", _dir, "--image", image, q);
        Assert.True(code == 0, stderr);
        Assert.Equal(expected.Text, stdout.Trim());
    }
}
