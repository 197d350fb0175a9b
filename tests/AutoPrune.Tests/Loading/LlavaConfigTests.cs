using System.Text.Json;
using AutoPrune.Loading;

namespace AutoPrune.Tests.Loading;

public sealed class LlavaConfigTests : TempDirTest
{
    private static LlavaConfig Parse(string json)
    {
        using var doc = JsonDocument.Parse(json);
        return LlavaConfig.Parse(doc.RootElement, "test-config.json");
    }

    [Fact]
    public void TinyModelConfigParsesToItsValues()
    {
        var c = LlavaConfig.Load(Path.Combine(TestPaths.TinyModel, "config.json"));
        var t = c.Text;
        Assert.Equal(256, t.HiddenSize);
        Assert.Equal(688, t.IntermediateSize);
        Assert.Equal(8, t.NumHiddenLayers);
        Assert.Equal(8, t.NumAttentionHeads);
        Assert.Equal(8, t.NumKeyValueHeads);
        Assert.Equal(32, t.HeadDim);
        Assert.Equal(1e-5f, t.RmsNormEps);
        Assert.Equal(10000f, t.RopeTheta);
        Assert.Equal(514, t.VocabSize);
        Assert.Equal(512, t.MaxPositionEmbeddings);
        Assert.Equal("silu", t.HiddenAct);
        Assert.False(t.AttentionBias);
        Assert.False(t.MlpBias);
        Assert.False(t.TieWordEmbeddings);
        Assert.Equal(1, t.BosTokenId);
        Assert.Equal(2, t.EosTokenId);

        var v = c.Vision;
        Assert.Equal(128, v.HiddenSize);
        Assert.Equal(512, v.IntermediateSize);
        Assert.Equal(5, v.NumHiddenLayers);
        Assert.Equal(4, v.NumAttentionHeads);
        Assert.Equal(128, v.ImageSize);
        Assert.Equal(8, v.PatchSize);
        Assert.Equal(3, v.NumChannels);
        Assert.Equal("quick_gelu", v.HiddenAct);
        Assert.Equal(1e-5f, v.LayerNormEps);
        Assert.Equal(32, v.HeadDim);
        Assert.Equal(256, v.NumPatches);

        Assert.Equal(512, c.ImageTokenIndex);
        Assert.Equal(513, c.PadTokenId);
        Assert.Equal("gelu", c.ProjectorHiddenAct);
        Assert.Equal(-2, c.VisionFeatureLayer);
        Assert.Equal("default", c.VisionFeatureSelectStrategy);
        Assert.Equal(4, c.VisionLayersUsed);
        Assert.Equal(256, c.ImageSeqLength); // matches image_seq_length in the file
    }

    [Fact]
    public void TinyModelConfigViaModelFolder() =>
        Assert.Equal(514, ModelFolder.LoadConfig(TestPaths.TinyModel).Text.VocabSize);

    [Fact]
    public void SparseTextConfigGetsLlamaDefaults()
    {
        var c = Parse("{\"model_type\":\"llava\",\"text_config\":{\"model_type\":\"llama\"}}");
        var t = c.Text;
        Assert.Equal(4096, t.HiddenSize);
        Assert.Equal(11008, t.IntermediateSize);
        Assert.Equal(32, t.NumHiddenLayers);
        Assert.Equal(32, t.NumAttentionHeads);
        Assert.Equal(32, t.NumKeyValueHeads);
        Assert.Equal(128, t.HeadDim);
        Assert.Equal(1e-6f, t.RmsNormEps);
        Assert.Equal(10000f, t.RopeTheta);
        Assert.Equal(32000, t.VocabSize);
        Assert.Equal("silu", t.HiddenAct);

        var v = c.Vision;
        Assert.Equal(1024, v.HiddenSize);
        Assert.Equal(4096, v.IntermediateSize);
        Assert.Equal(24, v.NumHiddenLayers);
        Assert.Equal(16, v.NumAttentionHeads);
        Assert.Equal(336, v.ImageSize);
        Assert.Equal(14, v.PatchSize);
        Assert.Equal("quick_gelu", v.HiddenAct);
        Assert.Equal(1e-5f, v.LayerNormEps);

        Assert.Equal(32000, c.ImageTokenIndex);
        Assert.Equal(32001, c.PadTokenId);
        Assert.Equal("gelu", c.ProjectorHiddenAct);
        Assert.Equal(-2, c.VisionFeatureLayer);
        Assert.Equal(23, c.VisionLayersUsed);
        Assert.Equal(576, c.ImageSeqLength);
    }

    [Fact]
    public void LlavaHf7bStyleTextConfigOverridesOnlyWhatItLists()
    {
        var c = Parse("""
            {"model_type":"llava","image_token_index":32000,"pad_token_id":32001,
             "text_config":{"model_type":"llama","vocab_size":32064,"rms_norm_eps":1e-05,"max_position_embeddings":4096,
                            "architectures":["LlamaForCausalLM"],"torch_dtype":"float16"},
             "vision_config":{"hidden_size":1024,"image_size":336,"patch_size":14,"projection_dim":768}}
            """);
        Assert.Equal(32064, c.Text.VocabSize);
        Assert.Equal(1e-5f, c.Text.RmsNormEps);
        Assert.Equal(4096, c.Text.MaxPositionEmbeddings);
        Assert.Equal(4096, c.Text.HiddenSize);
        Assert.Equal(32, c.Text.NumHiddenLayers);
        Assert.Equal(576, c.ImageSeqLength);
    }

    [Fact]
    public void EosListTakesTheFirstId()
    {
        var c = Parse("{\"text_config\":{\"eos_token_id\":[7,2],\"bos_token_id\":null}}");
        Assert.Equal(7, c.Text.EosTokenId);
        Assert.Equal(1, c.Text.BosTokenId); // null means "not given"
    }

    [Fact]
    public void ImageTokenMayLieJustPastTheVocabulary() =>
        // transformers' defaults do exactly this; the token never reaches the embedding table.
        Assert.Equal(32000, Parse("{\"text_config\":{\"vocab_size\":32000}}").ImageTokenIndex);

    [Fact]
    public void FullStrategyKeepsTheClsRow() =>
        Assert.Equal(577, Parse("{\"vision_feature_select_strategy\":\"full\"}").ImageSeqLength);

    [Fact]
    public void TieWordEmbeddingsFallsBackToTopLevel() =>
        Assert.True(Parse("{\"tie_word_embeddings\":true}").Text.TieWordEmbeddings);

    [Theory]
    [InlineData("{\"text_config\":{\"hidden_size\":100,\"num_attention_heads\":8}}", "hidden_size 100 is not divisible by num_attention_heads 8")]
    [InlineData("{\"text_config\":{\"num_attention_heads\":32,\"num_key_value_heads\":5}}", "num_key_value_heads 5")]
    [InlineData("{\"text_config\":{\"num_attention_heads\":0}}", "num_attention_heads 0")]
    [InlineData("{\"text_config\":{\"head_dim\":33}}", "head_dim 33")]
    [InlineData("{\"text_config\":{\"hidden_act\":\"gelu\"}}", "text hidden_act 'gelu'")]
    [InlineData("{\"text_config\":{\"rms_norm_eps\":0}}", "rms_norm_eps")]
    [InlineData("{\"text_config\":{\"vocab_size\":-1}}", "text_config.vocab_size -1 is outside 1..")]
    [InlineData("{\"vision_config\":{\"num_hidden_layers\":2147483647}}", "vision_config.num_hidden_layers 2147483647 is outside 1..1024")]
    [InlineData("{\"text_config\":{\"max_position_embeddings\":2147483647}}", "max_position_embeddings 2147483647 is outside")]
    [InlineData("{\"text_config\":{\"hidden_size\":1048576,\"head_dim\":128}}", "text_config.hidden_size 1048576 is outside")]
    [InlineData("{\"vision_config\":{\"image_size\":100000}}", "vision_config.image_size 100000 is outside")]
    [InlineData("{\"vision_config\":{\"image_size\":4032,\"patch_size\":1}}", "patches")]
    [InlineData("{\"vision_config\":{\"num_channels\":4}}", "num_channels 4")]
    [InlineData("{\"vision_config\":{\"layer_norm_eps\":5}}", "layer_norm_eps 5")]
    [InlineData("{\"text_config\":{\"eos_token_id\":40000}}", "eos_token_id 40000")]
    [InlineData("{\"rope_scaling\":{\"type\":\"linear\",\"factor\":2.0}}", "'rope_scaling' {\"type\":\"linear\",\"factor\":2.0} is not supported")]
    [InlineData("{\"text_config\":{\"rope_scaling\":{\"rope_type\":\"yarn\"}}}", "'text_config.rope_scaling'")]
    [InlineData("{\"vision_config\":{\"hidden_size\":1000,\"num_attention_heads\":16}}", "vision hidden_size 1000")]
    [InlineData("{\"vision_config\":{\"image_size\":300}}", "image_size 300 must be a multiple of patch_size 14")]
    [InlineData("{\"vision_config\":{\"hidden_act\":\"relu\"}}", "vision hidden_act 'relu'")]
    [InlineData("{\"vision_feature_select_strategy\":\"pooled\"}", "vision_feature_select_strategy 'pooled'")]
    [InlineData("{\"vision_feature_layer\":-30}", "vision_feature_layer -30")]
    [InlineData("{\"projector_hidden_act\":\"relu\"}", "projector_hidden_act 'relu'")]
    [InlineData("{\"image_token_index\":-1}", "image_token_index -1")]
    [InlineData("{\"model_type\":\"llava_next\"}", "model_type 'llava_next'")]
    [InlineData("{\"model_type\":\"llama\"}", "model_type 'llama'")]
    public void InconsistentConfig(string json, string fragment)
    {
        var e = Assert.Throws<ConfigMismatchException>(() => Parse(json));
        Assert.Contains("test-config.json", e.Message);
        Assert.Contains(fragment, e.Message);
    }

    [Theory]
    [InlineData("{\"text_config\":{\"hidden_size\":\"4096\"}}", "'text_config.hidden_size' should be an integer")]
    [InlineData("{\"text_config\":{\"hidden_size\":[4096]}}", "'text_config.hidden_size' should be an integer")]
    [InlineData("{\"text_config\":{\"hidden_size\":4096.5}}", "'text_config.hidden_size' should be an integer")]
    [InlineData("{\"text_config\":{\"rms_norm_eps\":\"1e-5\"}}", "'text_config.rms_norm_eps' should be a finite number")]
    [InlineData("{\"text_config\":{\"rope_theta\":1e60}}", "'text_config.rope_theta' should be a finite number")]
    [InlineData("{\"text_config\":{\"attention_bias\":\"no\"}}", "'text_config.attention_bias' should be true or false")]
    [InlineData("{\"text_config\":{\"eos_token_id\":[]}}", "'text_config.eos_token_id' should be an integer or a non-empty list")]
    [InlineData("{\"text_config\":{\"eos_token_id\":[\"2\"]}}", "'text_config.eos_token_id' should be an integer or a non-empty list")]
    [InlineData("{\"vision_config\":{\"patch_size\":true}}", "'vision_config.patch_size' should be an integer")]
    [InlineData("{\"vision_config\":{\"hidden_act\":1}}", "'vision_config.hidden_act' should be a string")]
    [InlineData("{\"vision_feature_layer\":[-2,-5]}", "'vision_feature_layer' should be an integer")]
    [InlineData("{\"model_type\":7}", "'model_type' should be a string")]
    [InlineData("{\"text_config\":5}", "'text_config' should be an object")]
    [InlineData("{\"vision_config\":[]}", "'vision_config' should be an object")]
    public void WrongFieldType(string json, string fragment)
    {
        var e = Assert.Throws<ConfigMismatchException>(() => Parse(json));
        Assert.Contains("test-config.json", e.Message);
        Assert.Contains(fragment, e.Message);
    }

    [Fact]
    public void RootNotAnObject()
    {
        var e = Assert.Throws<ModelLoadException>(() => Parse("[1]"));
        Assert.Contains("expected a JSON object", e.Message);
    }

    [Fact]
    public void InvalidJsonFileIsAModelLoadErrorNamingTheFile()
    {
        var p = Path.Combine(Dir, "config.json");
        File.WriteAllText(p, "{\"model_type\": \"llava\",");
        var e = Assert.Throws<ModelLoadException>(() => LlavaConfig.Load(p));
        Assert.Contains(p, e.Message);
        Assert.Contains("invalid JSON", e.Message);
    }

    [Fact]
    public void ErrorsFromAFileNameThatFile()
    {
        var p = Path.Combine(Dir, "config.json");
        File.WriteAllText(p, "{\"text_config\":{\"num_hidden_layers\":\"eight\"}}");
        var e = Assert.Throws<ConfigMismatchException>(() => LlavaConfig.Load(p));
        Assert.StartsWith(p + ":", e.Message);
    }

    [Fact]
    public void MissingConfigFile()
    {
        var p = Path.Combine(Dir, "config.json");
        var e = Assert.Throws<ModelLoadException>(() => LlavaConfig.Load(p));
        Assert.Contains(p, e.Message);
    }
}
