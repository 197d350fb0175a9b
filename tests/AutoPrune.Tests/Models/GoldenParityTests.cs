using AutoPrune.Models;
using AutoPrune.Pruning;

namespace AutoPrune.Tests.Models;

/// <summary>Records the mean-over-heads attention of text rows after the image to the visual keys at one layer.</summary>
internal sealed class AttentionProbe(int layer) : IPruningPolicy, IPruningRun
{
    public string Name => "probe";
    public PositionMode Positions => PositionMode.Original;
    public IPruningRun Begin(PruningSetup setup) => this;
    public float[]? Mean;
    public int Rows, Cols;
    public int FirstTextRow;

    public VisualSelection? AfterLayer(LayerContext ctx)
    {
        if (ctx.Layer != layer) return null;
        var rows = ctx.TextRowsAfterImage();
        var cols = ctx.VisualRows();
        (Rows, Cols, FirstTextRow) = (rows.Length, cols.Length, rows[0]);
        Mean = global::AutoPrune.Tensors.Attention.MeanOverHeads(ctx.AttentionPerHead(rows, cols), ctx.Heads, rows.Length, cols.Length);
        return null;
    }
}

/// <summary>
/// Parity with the float32 PyTorch reference (golden/README.md). Tolerances: logits max-abs ≤ 1e-3 and cosine ≥ 0.99999;
/// intermediate statistics within a relative 1e-4 (sums of squares) — float32 accumulation-order noise is ~1e-6.
/// </summary>
public sealed class GoldenParityTests(TinyModelFixture fx) : IClassFixture<TinyModelFixture>
{
    private const double StatRel = 1e-4;

    [Theory, MemberData(nameof(GoldenReference.All), MemberType = typeof(GoldenReference))]
    public void PromptIdsMatchExactly(string name)
    {
        var g = new GoldenReference(name);
        var prompt = fx.F32.Tokenize(g.Question);
        Assert.Equal(g.InputIds, prompt.Ids);
        Assert.Equal([g["image_token_position"].GetInt32()], prompt.ImagePositions);
    }

    [Theory, MemberData(nameof(GoldenReference.All), MemberType = typeof(GoldenReference))]
    public void VisionTowerAndProjectorMatch(string name)
    {
        var g = new GoldenReference(name);
        var pixels = fx.F32.PreprocessImage(g.ImagePath);
        Compare.Close("pixel_values.first16", pixels.AsSpan(0, 16), GoldenReference.Floats(g["pixel_values"].GetProperty("first16")), 1e-6);

        var vis = fx.F32.Vision.Forward(pixels);
        Compare.Stats("vision_features_selected", vis.Features, g["vision_features_selected"], StatRel);
        Compare.Close("vision_cls_attention", vis.ClsAttention,
            GoldenReference.Floats(g["vision_cls_attention_penultimate"].GetProperty("values")), 1e-6);

        var proj = fx.F32.Projector.Forward(vis.Features, vis.Tokens);
        Compare.Stats("projector_output", proj, g["projector_output"], StatRel);
    }

    [Theory, MemberData(nameof(GoldenReference.All), MemberType = typeof(GoldenReference))]
    public void DecoderLayersLogitsAndAttentionMatch(string name)
    {
        var g = new GoldenReference(name);
        var model = fx.F32;
        var prompt = model.Tokenize(g.Question);
        var layers = g["decoder_layers"];
        int d = model.Config.Text.HiddenSize;
        var probe = new AttentionProbe(g["decoder_layer2_text_to_image_attention"].GetProperty("layer_index").GetInt32());
        var pre = TestRuns.Prefill(model, model.PreprocessImage(g.ImagePath), prompt, probe, (l, h, n) =>
        {
            Assert.Equal(g["merged_seq_len"].GetInt32(), n);
            var gl = layers[l];
            Compare.Stats($"decoder_layers[{l}]", h.AsSpan(0, n * d), gl, StatRel);
            Compare.Close($"decoder_layers[{l}].last_first8", h.AsSpan((n - 1) * d, 8), GoldenReference.Floats(gl.GetProperty("last_first8")), 1e-3);
        });

        Compare.Close("last_logits", pre.Logits, g.LastLogits, 1e-3, 0.99999);
        Assert.Equal(g["last_logits_argmax"].GetInt32(), Sampling.Argmax(pre.Logits));

        var att = g["decoder_layer2_text_to_image_attention"];
        Assert.Equal(att.GetProperty("text_positions")[0].GetInt32(), probe.FirstTextRow);
        var expected = new List<float>();
        foreach (var row in att.GetProperty("values").EnumerateArray()) expected.AddRange(GoldenReference.Floats(row));
        Compare.Close("decoder_layer2_text_to_image_attention", probe.Mean, expected.ToArray(), 1e-5);
    }

    [Theory, MemberData(nameof(GoldenReference.All), MemberType = typeof(GoldenReference))]
    public void GreedyAnswerMatches(string name)
    {
        var g = new GoldenReference(name);
        var answer = Generator.Ask(fx.F32, g.ImagePath, g.Question);
        Assert.Equal(g.GreedyIds, answer.OutputIds);
        Assert.Equal(g.GreedyText, answer.Text);
    }

    /// <summary>BF16 weights widened to F32: the reference computed the same; we allow 1e-3 as for F32.</summary>
    [Theory, MemberData(nameof(GoldenReference.All), MemberType = typeof(GoldenReference))]
    public void Bf16WeightsMatchTheirReference(string name)
    {
        var g = new GoldenReference(name);
        var model = fx.Bf16;
        Assert.Equal(global::AutoPrune.Tensors.DType.BF16, model.Weights.Get("language_model.model.embed_tokens.weight").DType);
        var pre = model.Prefill(model.PreprocessImage(g.ImagePath), model.Tokenize(g.Question));
        Compare.Close("bf16 last_logits", pre.Logits, g.Bf16LastLogits, 1e-3, 0.99999);
        var answer = Generator.Ask(model, g.ImagePath, g.Question);
        Assert.Equal(g.Bf16GreedyIds, answer.OutputIds);
    }
}
