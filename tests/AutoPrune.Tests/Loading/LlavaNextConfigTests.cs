using System.Text.Json;
using AutoPrune.Loading;
using AutoPrune.Tests.Support;

namespace AutoPrune.Tests.Loading;

public sealed class LlavaNextConfigTests
{
    private static LlavaNextConfig Parse(string json) => LlavaNextConfig.Parse(JsonDocument.Parse(json).RootElement, "test-config.json");

    [Fact]
    public void TinyNextConfigReadsAnyresFieldsAndGqa()
    {
        var c = LlavaNextConfig.Load(Path.Combine(NextGolden.ModelDir, "config.json"));
        Assert.Equal(new Pinpoint[] { new(48, 96), new(96, 48), new(96, 96), new(144, 48), new(48, 144) }, c.ImageGridPinpoints);
        Assert.Equal(16, c.ImageSeqLength);
        Assert.True(c.UseImageNewline);
        Assert.Equal("default", c.Llava.VisionFeatureSelectStrategy);
        Assert.Equal((4, 2, 32), (c.Llava.Text.NumAttentionHeads, c.Llava.Text.NumKeyValueHeads, c.Llava.Text.HeadDim));
        Assert.Equal(2, c.Llava.VisionLayersUsed);
    }

    [Fact]
    public void SparseConfigGetsLlavaNextDefaults()
    {
        var c = Parse("""{"model_type":"llava_next","text_config":{"model_type":"llama","vocab_size":32064}}""");
        Assert.Equal(LlavaNextConfig.DefaultPinpoints, c.ImageGridPinpoints);
        Assert.Equal(576, c.ImageSeqLength);
        Assert.Equal(32, c.Llava.Text.NumKeyValueHeads);
        Assert.Equal(10000f, c.Llava.Text.RopeTheta);
    }

    [Fact]
    public void MistralTextConfigTakesMistralDefaultsAndExplicitNullSlidingWindow()
    {
        // The shape of llava-v1.6-mistral-7b-hf's text_config: hidden size and layer count left to the defaults.
        var c = Parse("""
            {"model_type":"llava_next","image_grid_pinpoints":[[336,672],[672,336],[672,672],[1008,336],[336,1008]],
             "text_config":{"model_type":"mistral","intermediate_size":14336,"max_position_embeddings":32768,
                            "num_key_value_heads":8,"rms_norm_eps":1e-05,"rope_theta":1000000.0,"sliding_window":null,"vocab_size":32064}}
            """);
        var t = c.Llava.Text;
        Assert.Equal("mistral", t.ModelType);
        Assert.Equal((4096, 32, 32, 8, 128), (t.HiddenSize, t.NumHiddenLayers, t.NumAttentionHeads, t.NumKeyValueHeads, t.HeadDim));
        Assert.Equal(1e6f, t.RopeTheta);
        Assert.Equal(0, t.SlidingWindow);
        Assert.Equal(32768, t.MaxPositionEmbeddings);

        var sparse = Parse("""{"model_type":"llava_next","text_config":{"model_type":"mistral"}}""").Llava.Text;
        Assert.Equal((8, 14336, 4096), (sparse.NumKeyValueHeads, sparse.IntermediateSize, sparse.SlidingWindow));
        Assert.Equal("[INST] <image>\nWhy? [/INST]", global::AutoPrune.Models.ChatTemplate.Format("Why?", "mistral"));
    }

    [Theory]
    [InlineData("""{"model_type":"llava_next","image_grid_pinpoints":[]}""", "image_grid_pinpoints is empty")]
    [InlineData("""{"model_type":"llava_next","image_grid_pinpoints":[[336,600]]}""", "[336, 600] is not divisible by the vision image_size 336")]
    [InlineData("""{"model_type":"llava_next","image_grid_pinpoints":[[0,336]]}""", "[0, 336] must be positive")]
    [InlineData("""{"model_type":"llava_next","image_grid_pinpoints":[[336]]}""", "'image_grid_pinpoints[0]' should be a [height, width] pair")]
    [InlineData("""{"model_type":"llava_next","image_grid_pinpoints":"anyres"}""", "'image_grid_pinpoints' should be a list")]
    [InlineData("""{"model_type":"llava_next","vision_feature_select_strategy":"full"}""", "'full' is not supported for LLaVA-NeXT")]
    [InlineData("""{"model_type":"llava_next","image_seq_length":577}""", "image_seq_length 577")]
    [InlineData("""{"model_type":"llava"}""", "model_type 'llava' is not supported (expected 'llava_next')")]
    [InlineData("""{"model_type":"llava_next","text_config":{"model_type":"qwen2"}}""", "text_config model_type 'qwen2'")]
    public void BadConfigsAreTypedErrors(string json, string fragment)
    {
        var e = Assert.Throws<ConfigMismatchException>(() => Parse(json));
        Assert.Contains("test-config.json", e.Message);
        Assert.Contains(fragment, e.Message);
    }

    [Theory]
    [InlineData("""{"image_grid_pinpoints":[],"crop_size":{"height":336,"width":336}}""", "image_grid_pinpoints is empty")]
    [InlineData("""{"image_grid_pinpoints":[[336,700]],"crop_size":{"height":336,"width":336}}""", "not divisible by the crop size 336")]
    [InlineData("""{"crop_size":{"height":336,"width":300}}""", "square center crop")]
    public void BadProcessorConfigsAreTypedErrors(string json, string fragment)
    {
        var e = Assert.Throws<ModelLoadException>(() => LlavaNextImageProcessor.Parse(JsonDocument.Parse(json).RootElement, "pp.json"));
        Assert.Contains(fragment, e.Message);
    }
}
