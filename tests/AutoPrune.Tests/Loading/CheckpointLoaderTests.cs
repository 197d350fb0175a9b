using AutoPrune.Loading;
using AutoPrune.Tensors;
using W = AutoPrune.Tests.Support.SafetensorsTestWriter;

namespace AutoPrune.Tests.Loading;

public sealed class CheckpointLoaderTests : TempDirTest
{
    private static string Index(params (string Tensor, string Shard)[] map) =>
        "{\"metadata\":{\"total_size\":0},\"weight_map\":{" +
        string.Join(",", map.Select(m => $"\"{m.Tensor}\":\"{m.Shard}\"")) + "}}";

    private void WriteShardedModel(bool dropFromShard2 = false)
    {
        W.Write(Dir, "model-00001-of-00002.safetensors", W.Build(
            W.F32("language_model.model.embed_tokens.weight", [2, 2], 1, 2, 3, 4),
            W.F32("language_model.model.norm.weight", [2], 5, 6)));
        W.Write(Dir, "model-00002-of-00002.safetensors", dropFromShard2
            ? W.Build(W.F32("multi_modal_projector.linear_1.bias", [2], 9, 10))
            : W.Build(W.F32("language_model.lm_head.weight", [2, 2], 7, 8, 9, 10), W.F32("multi_modal_projector.linear_1.bias", [2], 9, 10)));
        File.WriteAllText(Path.Combine(Dir, CheckpointLoader.IndexFileName), Index(
            ("language_model.model.embed_tokens.weight", "model-00001-of-00002.safetensors"),
            ("language_model.model.norm.weight", "model-00001-of-00002.safetensors"),
            ("language_model.lm_head.weight", "model-00002-of-00002.safetensors"),
            ("multi_modal_projector.linear_1.bias", "model-00002-of-00002.safetensors")));
    }

    // ---- the embedded model ----

    [Fact]
    public void LoadsTheTinyModelF32AndBF16Consistently()
    {
        using var f32 = CheckpointLoader.Open(Path.Combine(TestPaths.TinyModel, "model.safetensors"));
        using var bf16 = CheckpointLoader.Open(Path.Combine(TestPaths.TinyModel, "model.bf16.safetensors"));
        Assert.Equal(166, f32.Names.Count); // 167 header entries minus __metadata__
        Assert.Equal(f32.Names.Count, bf16.Names.Count);
        Assert.Equal(f32.Names.OrderBy(n => n, StringComparer.Ordinal), bf16.Names.OrderBy(n => n, StringComparer.Ordinal));

        Assert.Equal([514, 256], f32.Get("language_model.model.embed_tokens.weight", 514, 256).Shape);
        Assert.Equal(DType.F32, f32.Get("language_model.model.embed_tokens.weight").DType);
        Assert.Equal(DType.BF16, bf16.Get("language_model.model.embed_tokens.weight", 514, 256).DType);
        Assert.Equal([256, 128], f32.Get("multi_modal_projector.linear_1.weight").Shape);
        foreach (var w in f32.All) Assert.Equal(w.Shape, bf16.Get(w.Name).Shape);

        foreach (var name in new[]
        {
            "language_model.model.embed_tokens.weight",
            "language_model.model.layers.0.self_attn.q_proj.weight",
            "language_model.model.norm.weight",
            "vision_tower.vision_model.embeddings.patch_embedding.weight",
            "multi_modal_projector.linear_2.bias",
        })
        {
            var a = f32.Get(name).ToFloat32();
            var b = bf16.Get(name).ToFloat32();
            Assert.Equal(a.Length, b.Length);
            bool anyRounded = false;
            for (int i = 0; i < a.Length; i++)
            {
                float rne = AutoPrune.Tensors.Convert.BF16ToF32(AutoPrune.Tensors.Convert.F32ToBF16(a[i]));
                if (BitConverter.SingleToInt32Bits(rne) != BitConverter.SingleToInt32Bits(b[i]))
                    Assert.Fail($"{name}[{i}]: bf16 file has {b[i]:R}, RNE of f32 {a[i]:R} is {rne:R}");
                anyRounded |= rne != a[i];
            }
            Assert.True(a.Length < 64 || anyRounded, $"{name}: F32 values are already BF16, the comparison proves nothing");
        }
    }

    [Fact]
    public void FolderPrefersModelSafetensors()
    {
        using var w = CheckpointLoader.Open(TestPaths.TinyModel); // also holds model.bf16.safetensors
        Assert.Equal(TestPaths.TinyModel, w.Source);
        Assert.Equal(DType.F32, w.Get("language_model.lm_head.weight").DType);
    }

    // ---- folder resolution ----

    [Fact]
    public void SingleFilePathLoadsThatFileAndSourceIsThePath()
    {
        var p = W.Write(Dir, "weights.safetensors", W.Build(W.F32("language_model.model.norm.weight", [2], 1, 2)));
        using var w = CheckpointLoader.Open(p);
        Assert.Equal(p, w.Source);
        Assert.Equal([1f, 2f], w.Get("language_model.model.norm.weight").ToFloat32());
    }

    [Fact]
    public void FolderWithExactlyOneOtherSafetensorsFileUsesIt()
    {
        W.Write(Dir, "weights.safetensors", W.Build(W.F32("x", [1], 3)));
        using var w = CheckpointLoader.Open(Dir);
        Assert.Equal([3f], w.Get("x").ToFloat32());
    }

    [Fact]
    public void FolderWithSeveralCandidatesIsAmbiguous()
    {
        W.Write(Dir, "a.safetensors", W.Build(W.F32("x", [1], 3)));
        W.Write(Dir, "b.safetensors", W.Build(W.F32("x", [1], 4)));
        var e = Assert.Throws<ModelLoadException>(() => CheckpointLoader.Open(Dir));
        Assert.Contains("a.safetensors", e.Message);
        Assert.Contains("b.safetensors", e.Message);
    }

    [Fact]
    public void FolderWithoutWeights()
    {
        File.WriteAllText(Path.Combine(Dir, "config.json"), "{}");
        var e = Assert.Throws<ModelLoadException>(() => CheckpointLoader.Open(Dir));
        Assert.Equal($"no safetensors weights in {Dir}", e.Message);
    }

    [Fact]
    public void MissingPath()
    {
        var p = Path.Combine(Dir, "nowhere");
        var e = Assert.Throws<ModelLoadException>(() => CheckpointLoader.Open(p));
        Assert.Contains(p, e.Message);
    }

    [Fact]
    public void MalformedFileInFolderSurfacesAsFormatError()
    {
        W.Write(Dir, "model.safetensors", [1, 2, 3]);
        Assert.Throws<SafetensorsFormatException>(() => CheckpointLoader.Open(Dir));
    }

    // ---- sharded checkpoints ----

    [Fact]
    public void ShardedFolderLoadsAllShards()
    {
        WriteShardedModel();
        using var w = CheckpointLoader.Open(Dir);
        Assert.Equal(4, w.Names.Count);
        Assert.Equal(Dir, w.Source);
        Assert.Equal([1f, 2, 3, 4], w.Get("language_model.model.embed_tokens.weight").ToFloat32());
        Assert.Equal([7f, 8, 9, 10], w.Get("language_model.lm_head.weight", 2, 2).ToFloat32());
        Assert.Equal([9f, 10], w.Get("multi_modal_projector.linear_1.bias").ToFloat32());
    }

    [Fact]
    public void IndexFilePathWorksLikeItsFolder()
    {
        WriteShardedModel();
        using var w = CheckpointLoader.Open(Path.Combine(Dir, CheckpointLoader.IndexFileName));
        Assert.Equal(4, w.Names.Count);
    }

    [Fact]
    public void TensorMissingFromItsShard()
    {
        WriteShardedModel(dropFromShard2: true);
        var e = Assert.Throws<MissingTensorException>(() => CheckpointLoader.Open(Dir));
        Assert.Equal("language_model.lm_head.weight", e.TensorName);
        Assert.Contains("model-00002-of-00002.safetensors", e.Message);
    }

    [Fact]
    public void ShardListedInIndexButAbsent()
    {
        WriteShardedModel();
        File.Delete(Path.Combine(Dir, "model-00002-of-00002.safetensors"));
        var e = Assert.Throws<ModelLoadException>(() => CheckpointLoader.Open(Dir));
        Assert.Contains("'model-00002-of-00002.safetensors' not found", e.Message);
    }

    [Fact]
    public void TensorStoredInTwoShards()
    {
        W.Write(Dir, "s1.safetensors", W.Build(W.F32("a", [1], 1), W.F32("dup", [1], 2)));
        W.Write(Dir, "s2.safetensors", W.Build(W.F32("b", [1], 3), W.F32("dup", [1], 4)));
        File.WriteAllText(Path.Combine(Dir, CheckpointLoader.IndexFileName),
            Index(("a", "s1.safetensors"), ("b", "s2.safetensors"), ("dup", "s1.safetensors")));
        var e = Assert.Throws<ModelLoadException>(() => CheckpointLoader.Open(Dir));
        Assert.Contains("'dup' appears in both s1.safetensors and s2.safetensors", e.Message);
    }

    [Fact]
    public void TensorStoredInAnotherShardThanIndexSays()
    {
        W.Write(Dir, "s1.safetensors", W.Build(W.F32("a", [1], 1), W.F32("c", [1], 2)));
        W.Write(Dir, "s2.safetensors", W.Build(W.F32("b", [1], 3)));
        File.WriteAllText(Path.Combine(Dir, CheckpointLoader.IndexFileName),
            Index(("a", "s1.safetensors"), ("b", "s2.safetensors"), ("c", "s2.safetensors")));
        var e = Assert.Throws<MissingTensorException>(() => CheckpointLoader.Open(Dir));
        Assert.Equal("c", e.TensorName);
    }

    [Theory]
    [InlineData("{not json", "invalid JSON")]
    [InlineData("[]", "expected a JSON object")]
    [InlineData("{\"metadata\":{}}", "'weight_map'")]
    [InlineData("{\"weight_map\":{}}", "weight_map is empty")]
    [InlineData("{\"weight_map\":{\"a\":3}}", "entry 'a'")]
    [InlineData("{\"weight_map\":{\"a\":\"../escape.safetensors\"}}", "outside the model folder")]
    public void BadIndex(string json, string fragment)
    {
        File.WriteAllText(Path.Combine(Dir, CheckpointLoader.IndexFileName), json);
        var e = Assert.Throws<ModelLoadException>(() => CheckpointLoader.Open(Dir));
        Assert.Contains(CheckpointLoader.IndexFileName, e.Message);
        Assert.Contains(fragment, e.Message);
    }

    // ---- key names ----

    [Fact]
    public void NewerLayoutNamesMapToClassicAndStrayBuffersAreDropped()
    {
        W.Write(Dir, "model.safetensors", W.Build(
            W.F32("model.language_model.embed_tokens.weight", [1], 1),
            W.F32("model.language_model.layers.0.self_attn.rotary_emb.inv_freq", [2], 0, 0),
            W.F32("lm_head.weight", [1], 2),
            W.F32("model.vision_tower.vision_model.embeddings.position_ids", [1], 0),
            W.F32("model.vision_tower.vision_model.post_layernorm.bias", [1], 3),
            W.F32("model.multi_modal_projector.linear_1.weight", [1], 4)));
        using var w = CheckpointLoader.Open(Dir);
        Assert.Equal(
            ["language_model.lm_head.weight", "language_model.model.embed_tokens.weight",
             "multi_modal_projector.linear_1.weight", "vision_tower.vision_model.post_layernorm.bias"],
            w.Names.OrderBy(n => n, StringComparer.Ordinal));
        Assert.Equal([2f], w.Get("language_model.lm_head.weight").ToFloat32());
        Assert.Equal("language_model.model.embed_tokens.weight", w.Get("language_model.model.embed_tokens.weight").Name);
    }

    [Fact]
    public void MixedLayoutsCollidingOnOneNameAreRejected()
    {
        W.Write(Dir, "model.safetensors", W.Build(W.F32("lm_head.weight", [1], 1), W.F32("language_model.lm_head.weight", [1], 2)));
        var e = Assert.Throws<ModelLoadException>(() => CheckpointLoader.Open(Dir));
        Assert.Contains("'language_model.lm_head.weight'", e.Message);
        Assert.Contains("'lm_head.weight'", e.Message);
    }

    [Theory]
    [InlineData("language_model.model.layers.3.mlp.up_proj.weight", "language_model.model.layers.3.mlp.up_proj.weight")]
    [InlineData("model.language_model.layers.3.mlp.up_proj.weight", "language_model.model.layers.3.mlp.up_proj.weight")]
    [InlineData("model.language_model.norm.weight", "language_model.model.norm.weight")]
    [InlineData("lm_head.weight", "language_model.lm_head.weight")]
    [InlineData("language_model.lm_head.weight", "language_model.lm_head.weight")]
    [InlineData("model.vision_tower.vision_model.pre_layrnorm.weight", "vision_tower.vision_model.pre_layrnorm.weight")]
    [InlineData("model.multi_modal_projector.linear_2.bias", "multi_modal_projector.linear_2.bias")]
    [InlineData("multi_modal_projector.linear_2.bias", "multi_modal_projector.linear_2.bias")]
    [InlineData("language_model.model.layers.0.self_attn.rotary_emb.inv_freq", null)]
    [InlineData("vision_tower.vision_model.embeddings.position_ids", null)]
    public void WeightNamesNormalize(string raw, string? expected) => Assert.Equal(expected, WeightNames.Normalize(raw));

    // ---- ModelFolder ----

    [Fact]
    public void ModelFolderResolvesTheTinyModel() =>
        Assert.Equal(TestPaths.TinyModel, ModelFolder.Resolve(TestPaths.TinyModel + Path.DirectorySeparatorChar).TrimEnd(Path.DirectorySeparatorChar));

    [Fact]
    public void ModelFolderMissing()
    {
        var p = Path.Combine(Dir, "gone");
        var e = Assert.Throws<ModelLoadException>(() => ModelFolder.Resolve(p));
        Assert.Equal($"model folder not found: {p}", e.Message);
    }

    [Fact]
    public void ModelFolderWithoutConfig()
    {
        var e = Assert.Throws<ModelLoadException>(() => ModelFolder.Resolve(Dir));
        Assert.Equal($"{Dir} has no config.json", e.Message);
    }
}
