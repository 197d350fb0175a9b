using System.Text.Json.Nodes;
using AutoPrune.Models;

namespace AutoPrune.Tests.Models;

/// <summary>Model folders whose files disagree with each other or hold out-of-range values are refused at load, by name.</summary>
public sealed class LoadValidationTests
{
    private static T Refused<T>(string dir, params string[] fragments) where T : AutoPruneException
    {
        var e = Assert.Throws<T>(() => LlavaModel.Load(dir, "model.safetensors").Dispose());
        foreach (var f in fragments) Assert.Contains(f, e.Message);
        Assert.DoesNotContain(e.Message, c => char.IsControl(c));
        return e;
    }

    [Fact]
    public void FewerLayersInTheConfigThanInTheCheckpointIsRefused()
    {
        Refused<ConfigMismatchException>(TinyModelCopy.WithFile("config.json", c => c["text_config"]!["num_hidden_layers"] = 4),
            "text_config.num_hidden_layers is 4", "holds 8 decoder layers");
        // The vision checkpoint has 5 layers; a config of 4 (feature layer -1) would silently ignore one.
        Refused<ConfigMismatchException>(TinyModelCopy.WithFile("config.json", c =>
        {
            c["vision_config"]!["num_hidden_layers"] = 4;
            c["vision_feature_layer"] = -1;
        }), "vision_config.num_hidden_layers is 4", "holds 5 vision layers");
    }

    [Fact]
    public void RopeScalingIsRefusedByName() =>
        Refused<ConfigMismatchException>(TinyModelCopy.WithFile("config.json", c =>
            c["text_config"]!["rope_scaling"] = new JsonObject { ["type"] = "dynamic", ["factor"] = 2.0 }), "rope_scaling", "dynamic");

    [Theory]
    [InlineData("\"8\"")]
    [InlineData("[]")]
    [InlineData("0")]
    [InlineData("-3")]
    [InlineData("1.5")]
    [InlineData("513")] // beyond max_position_embeddings
    [InlineData("10000000000")]
    public void BadMaxNewTokensInGenerationConfigIsTyped(string value)
    {
        var dir = TinyModelCopy.WithRawFile("generation_config.json", $"{{\"max_new_tokens\": {value}}}");
        Refused<ModelLoadException>(dir, "generation_config.json", "max_new_tokens", value);
    }

    [Fact]
    public void NullOrAbsentMaxNewTokensTakesTheDefault()
    {
        using (var m = LlavaModel.Load(TinyModelCopy.WithRawFile("generation_config.json", "{\"max_new_tokens\": null}"), "model.safetensors"))
            Assert.Equal(32, m.DefaultMaxNewTokens);
        using (var m = LlavaModel.Load(TinyModelCopy.WithRawFile("generation_config.json", "{}"), "model.safetensors"))
            Assert.Equal(32, m.DefaultMaxNewTokens);
        Refused<ModelLoadException>(TinyModelCopy.WithRawFile("generation_config.json", "[8]"), "generation_config.json", "JSON object");
        Refused<ModelLoadException>(TinyModelCopy.WithRawFile("generation_config.json", "{\"max_new_tokens\": 8"), "generation_config.json", "invalid JSON");
    }

    [Theory]
    [InlineData("crop_size", "100000", "crop_size.height 100000 is outside 1..8192")]
    [InlineData("crop_size", "2147483647", "outside 1..8192")]
    [InlineData("size", "{\"shortest_edge\": 100000}", "size.shortest_edge 100000")]
    [InlineData("size", "{\"shortest_edge\": 2147483647}", "size.shortest_edge 2147483647")]
    [InlineData("image_std", "[1e-45, 1e-45, 1e-45]", "image_std")]
    [InlineData("rescale_factor", "1e300", "rescale_factor")]
    [InlineData("rescale_factor", "-1", "rescale_factor -1")]
    [InlineData("image_mean", "[1e39, 0, 0]", "image_mean")]
    public void OutOfRangePreprocessorValuesAreRefused(string field, string json, string fragment)
    {
        var dir = TinyModelCopy.WithFile("preprocessor_config.json", p => p[field] = JsonNode.Parse(json));
        Refused<ModelLoadException>(dir, "preprocessor_config.json", fragment);
    }

    [Fact]
    public void PreprocessorCropDisagreeingWithTheVisionTowerIsRefusedAtLoad()
    {
        Refused<ConfigMismatchException>(TinyModelCopy.WithFile("preprocessor_config.json", p => p["crop_size"] = 64),
            "preprocessor_config.json", "crop_size 64x64", "image_size is 128x128");
        Refused<ConfigMismatchException>(TinyModelCopy.WithFile("preprocessor_config.json", p => p["do_center_crop"] = false),
            "no center crop");
    }

    [Fact]
    public void LoneSurrogatesInModelJsonFilesAreTyped()
    {
        Refused<ModelLoadException>(TinyModelCopy.WithRawFile("tokenizer_config.json", "{\"\\ud800\": 1}"), "tokenizer_config.json", "lone surrogate");
        var cfg = File.ReadAllText(Path.Combine(TestPaths.TinyModel, "config.json")).Replace("\"silu\"", "\"\\udc00\"");
        Refused<ModelLoadException>(TinyModelCopy.WithRawFile("config.json", cfg), "config.json", "text_config.hidden_act", "lone surrogate");
    }

    [Fact]
    public void CorruptTokenizerModelSaysWhatIsWrong()
    {
        var dir = TinyModelCopy.Create();
        var bytes = File.ReadAllBytes(Path.Combine(dir, "tokenizer.model"));
        Array.Fill(bytes, (byte)0xFF, 10, 200);
        File.WriteAllBytes(Path.Combine(dir, "tokenizer.model"), bytes);
        var e = Assert.ThrowsAny<ModelLoadException>(() => LlavaModel.Load(dir, "model.safetensors").Dispose());
        Assert.Contains("tokenizer.model", e.Message);
        Assert.DoesNotContain("Object reference", e.Message);
    }
}
