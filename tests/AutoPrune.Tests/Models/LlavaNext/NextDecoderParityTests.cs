using AutoPrune.Loading;
using AutoPrune.Models;
using AutoPrune.Models.LlavaNext;
using AutoPrune.Tests.Support;

namespace AutoPrune.Tests.Models.LlavaNext;

/// <summary>
/// The NeXT prefill (packed image at the placeholder, GQA decoder) against the reference: every layer's output
/// statistics within a relative 1e-4, the last logits max-abs ≤ 1e-3 and cosine ≥ 0.99999, five greedy tokens exact.
/// </summary>
public sealed class NextDecoderParityTests(NextModelFixture fx) : IClassFixture<NextModelFixture>
{
    private const double StatRel = 1e-4;

    [Theory, MemberData(nameof(NextGolden.All), MemberType = typeof(NextGolden))]
    public void LayersLogitsAndGreedyTokensMatch(string name)
    {
        var g = new NextGolden(name);
        var m = fx.Model;
        int d = m.Config.Llava.Text.HiddenSize;
        var image = m.EncodeAnyres(ImageLoader.Load(g.ImagePath));
        var prompt = m.Tokenize(g["question"].GetString()!);
        var layers = g["decoder_layers"];
        var run = m.StartRun(prompt, [image.Features]);
        run.OnLayerOutput = (l, h, n) =>
        {
            Assert.Equal(g.Int("seq_len"), n);
            Compare.Stats($"{name} decoder_layers[{l}]", h.AsSpan(0, n * d), layers[l], StatRel);
            Compare.Close($"{name} decoder_layers[{l}].last_first8", h.AsSpan((n - 1) * d, 8),
                GoldenReference.Floats(layers[l].GetProperty("last_first8")), 1e-3);
        };
        run.Prefill();
        var pre = run;
        Compare.Close($"{name} last_logits", pre.Logits, GoldenReference.Floats(g["last_logits"]), 1e-3, 0.99999);
        Assert.Equal(g.Int("num_image_tokens"), pre.Trace.VisualTokensIn);

        var ids = NextGreedy(m, image, prompt, 5);
        Assert.Equal(g.Ints("greedy_ids"), ids);
    }

    /// <summary>Greedy tokens without an EOS stop, as the reference decodes them.</summary>
    internal static int[] NextGreedy(LlavaNextModel m, AnyresFeatures image, TokenizedPrompt prompt, int count,
        global::AutoPrune.Pruning.IPruningPolicy? policy = null) =>
        m.StartRun(prompt, [image.Features], policy, count).Generate(count, l => Sampling.Argmax(l), eosId: -1);
}
