using System.Text.Json;
using AutoPrune.Loading;
using AutoPrune.Loading.Gguf;
using AutoPrune.Models;
using AutoPrune.Tensors;
using AutoPrune.Tests.Support;

namespace AutoPrune.Tests.Models;

/// <summary>The embedded model written by <c>convert</c> at three types, once for all tests of this class.</summary>
public sealed class ConvertedTinyModel : IDisposable
{
    public string Dir { get; } = TestPaths.TempDir();
    public LlavaModel F32 { get; } = LlavaModel.Load(TestPaths.TinyModel);
    private readonly Dictionary<GgufFileType, LlavaModel> _models = new();

    public LlavaModel Get(GgufFileType t)
    {
        lock (_models)
        {
            if (_models.TryGetValue(t, out var m)) return m;
            var sub = Path.Combine(Dir, t.ToString());
            LlavaGgufConverter.Convert(TestPaths.TinyModel, sub, t);
            return _models[t] = LlavaModel.Load(sub);
        }
    }

    public void Dispose()
    {
        foreach (var m in _models.Values) m.Dispose();
        F32.Dispose();
        try { Directory.Delete(Dir, recursive: true); } catch (IOException) { }
    }
}

public sealed class GgufModelTests(ConvertedTinyModel fx) : IClassFixture<ConvertedTinyModel>
{
    private static double Cosine(float[] a, float[] b)
    {
        double ab = 0, aa = 0, bb = 0;
        for (int i = 0; i < a.Length; i++) { ab += a[i] * b[i]; aa += a[i] * a[i]; bb += b[i] * b[i]; }
        return ab / Math.Sqrt(aa * bb);
    }

    private static IEnumerable<string> DevQuestions()
    {
        foreach (var line in File.ReadLines(Path.Combine(TestPaths.DevSet, "questions.jsonl")))
        {
            if (string.IsNullOrWhiteSpace(line)) continue;
            using var doc = JsonDocument.Parse(line);
            yield return doc.RootElement.GetProperty("text").GetString()!;
        }
    }

    [Fact]
    public void AnMmprojRewrittenAfterLoading_StopsTheNextRunWithATypedError()
    {
        var dir = Path.Combine(fx.Dir, "rewritten");
        LlavaGgufConverter.Convert(TestPaths.TinyModel, dir, GgufFileType.F16);
        using var model = LlavaModel.Load(dir);
        var image = Path.Combine(TestPaths.Samples, "scene1.png");
        Generator.Ask(model, image, "What color is the triangle?", new GenerationOptions { MaxNewTokens = 1 });
        var mmproj = Directory.GetFiles(dir, "mmproj-*.gguf").Single();
        File.SetLastWriteTimeUtc(mmproj, DateTime.UtcNow.AddMinutes(1));
        var e = Assert.Throws<ModelLoadException>(() => Generator.Ask(model, image, "What color is the triangle?"));
        Assert.Contains(mmproj, e.Message);
        Assert.Contains("was modified", e.Message);
    }

    [Fact]
    public void Tokenizer_FromGgufMetadata_GivesTheSameIdsAsTokenizerModel_OnEveryDevPrompt()
    {
        var gguf = fx.Get(GgufFileType.Q8_0).Tokenizer;
        var sp = fx.F32.Tokenizer;
        int n = 0;
        foreach (var q in DevQuestions())
        {
            var prompt = ChatTemplate.Format(q);
            Assert.Equal(sp.EncodePrompt(prompt), gguf.EncodePrompt(prompt));
            n++;
        }
        foreach (var text in new[] { "", "  two  spaces ", "<image>\n<image>", "ünïcödé 🙂 \t tab", "<s>x</s><pad>", "<unk>42" })
            Assert.Equal(sp.EncodePrompt(text), gguf.EncodePrompt(text));
        Assert.True(n > 0);
        for (int c = 0; c < 3; c++)
            Assert.Equal(GoldenCase.Load(c).InputIds, gguf.EncodePrompt(GoldenCase.Load(c).Prompt));
        Assert.Equal(sp.BosId, gguf.BosId); Assert.Equal(sp.EosId, gguf.EosId); Assert.Equal(sp.PadId, gguf.PadId);
        Assert.Equal(sp.ImageTokenId, gguf.ImageTokenId);
        var ids = sp.EncodePrompt("What color is the triangle? green");
        Assert.Equal(sp.Decode(ids), gguf.Decode(ids));
    }

    [Fact]
    public void Config_ComesFromTheMetadata()
    {
        var g = fx.Get(GgufFileType.F16).Config;
        var f = fx.F32.Config;
        Assert.Equal(f.Text with { MaxPositionEmbeddings = g.Text.MaxPositionEmbeddings }, g.Text);
        Assert.Equal(f.Text.MaxPositionEmbeddings, g.Text.MaxPositionEmbeddings);
        Assert.Equal(f.VisionLayersUsed, g.VisionLayersUsed);
        Assert.Equal(f.Vision.HiddenSize, g.Vision.HiddenSize);
        Assert.Equal(f.Vision.HiddenAct, g.Vision.HiddenAct);
        Assert.Equal(f.ImageTokenIndex, g.ImageTokenIndex);
        Assert.Equal(f.ImageSeqLength, g.ImageSeqLength);
    }

    [Fact]
    public void F16File_HoldsTheOriginalWeights_QkPermutationUndone_LegacyFcNamesMapped()
    {
        var g = fx.Get(GgufFileType.F16).Weights;
        foreach (var name in new[]
                 {
                     "language_model.model.layers.3.self_attn.q_proj.weight", "language_model.model.layers.3.self_attn.k_proj.weight",
                     "language_model.model.layers.0.mlp.down_proj.weight", "language_model.lm_head.weight",
                     "vision_tower.vision_model.encoder.layers.1.mlp.fc1.weight", "vision_tower.vision_model.encoder.layers.1.mlp.fc2.weight",
                     "vision_tower.vision_model.embeddings.patch_embedding.weight", "multi_modal_projector.linear_2.bias",
                 })
        {
            var a = fx.F32.Weights.Get(name);
            var b = g.Get(name);
            Assert.Equal(a.Shape, b.Shape);
            var fa = a.ToFloat32();
            var fb = b.ToFloat32();
            for (int i = 0; i < fa.Length; i++) Assert.Equal(b.DType == DType.F16 ? (float)(Half)fa[i] : fa[i], fb[i]);
        }
        // The converter dropped the last vision layer, which LLaVA never reads.
        int last = fx.F32.Config.Vision.NumHiddenLayers - 1;
        Assert.False(g.Contains($"vision_tower.vision_model.encoder.layers.{last}.mlp.fc1.weight"));
    }

    [Theory]
    [InlineData(GgufFileType.F16, 0.9999)]
    [InlineData(GgufFileType.Q8_0, 0.999)]
    [InlineData(GgufFileType.Q4_K_M, 0.99)]
    public void LastLogits_AreCloseToF32_AndAnswersMatch(GgufFileType t, double minCosine)
    {
        var g = fx.Get(t);
        int same = 0;
        for (int c = 0; c < 3; c++)
        {
            var gc = GoldenCase.Load(c);
            var px = fx.F32.PreprocessImage(gc.ImagePath);
            Assert.Equal(px, g.PreprocessImage(gc.ImagePath));
            var a = fx.F32.Prefill(px, new TokenizedPrompt(gc.InputIds, Array.IndexOf(gc.InputIds, fx.F32.Config.ImageTokenIndex))).Logits;
            var b = g.Prefill(px, new TokenizedPrompt(gc.InputIds, Array.IndexOf(gc.InputIds, g.Config.ImageTokenIndex))).Logits;
            Assert.True(Cosine(a, b) >= minCosine, $"{t} case {c}: cosine {Cosine(a, b)}");
            if (Array.IndexOf(a, a.Max()) == Array.IndexOf(b, b.Max())) same++;
        }
        if (t != GgufFileType.Q4_K_M) Assert.Equal(3, same);
    }

    [Fact]
    public void FileTypes_FollowLlamaCppPolicy()
    {
        fx.Get(GgufFileType.Q4_K_M);   // converts it when this test runs alone
        using var f = GgufFile.Open(Path.Combine(fx.Dir, "Q4_K_M", LlavaGgufConverter.FileName(GgufFileType.Q4_K_M)));
        Assert.Equal(DType.Q4_K, f.Get("blk.2.attn_q.weight").DType);
        Assert.Equal(DType.Q6_K, f.Get("blk.0.attn_v.weight").DType);   // first eighth gets more bits
        Assert.Equal(DType.Q4_K, f.Get("blk.1.attn_v.weight").DType);
        Assert.Equal(DType.Q6_K, f.Get("output.weight").DType);
        Assert.Equal(DType.F16, f.Get("blk.0.ffn_down.weight").DType);  // 688 columns: no whole 256- or 32-blocks
        Assert.Equal(DType.F32, f.Get("blk.0.attn_norm.weight").DType);
        Assert.Equal(15, f.GetInt("general.file_type"));
        using var mm = GgufFile.Open(Path.Combine(fx.Dir, "Q4_K_M", LlavaGgufConverter.MmprojFileName));
        Assert.Equal(DType.F16, mm.Get("v.blk.0.ffn_down.weight").DType);
        Assert.Equal([fx.F32.Config.Vision.IntermediateSize, fx.F32.Config.Vision.HiddenSize], mm.Get("v.blk.0.ffn_down.weight").Shape);
        Assert.Equal(fx.F32.Config.VisionLayersUsed, mm.GetInt("clip.vision.block_count"));
    }

    [Fact]
    public void LanguageModelWithoutMmproj_IsAOneLineModelError()
    {
        fx.Get(GgufFileType.Q8_0);
        var lm = Path.Combine(fx.Dir, "Q8_0", LlavaGgufConverter.FileName(GgufFileType.Q8_0));
        var e = Assert.Throws<ModelLoadException>(() => LlavaModel.Load(lm));
        Assert.Contains("mmproj", e.Message);
        var e2 = Assert.Throws<ModelLoadException>(() => LlavaModel.Load(lm, mmproj: Path.Combine(fx.Dir, "nope.gguf")));
        Assert.Contains("not found", e2.Message);
        using var m = LlavaModel.Load(lm, mmproj: Path.Combine(fx.Dir, "Q8_0", LlavaGgufConverter.MmprojFileName));
        Assert.Equal(fx.F32.Config.Text.NumHiddenLayers, m.Config.Text.NumHiddenLayers);
    }
}
