using System.Text.Json.Nodes;
using AutoPrune.Models;

namespace AutoPrune.Tests.Models;

/// <summary>Whole-model loading failures: each one a typed exception naming the problem.</summary>
public sealed class ModelLoadTests
{
    /// <summary>A copy of the tiny model folder whose config.json is edited by <paramref name="edit"/>.</summary>
    private static string CopyWithConfig(Action<JsonObject> edit, bool copyWeights = true)
    {
        var dir = TestPaths.TempDir();
        foreach (var f in Directory.EnumerateFiles(TestPaths.TinyModel))
        {
            if (!copyWeights && f.EndsWith(".safetensors")) continue;
            File.Copy(f, Path.Combine(dir, Path.GetFileName(f)));
        }
        var cfg = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "config.json")))!.AsObject();
        edit(cfg);
        File.WriteAllText(Path.Combine(dir, "config.json"), cfg.ToJsonString());
        return dir;
    }

    [Fact]
    public void ConfigDisagreeingWithWeightsIsRefused()
    {
        var dir = CopyWithConfig(c => c["text_config"]!["intermediate_size"] = 700);
        // Two safetensors files in the folder: pick the F32 one explicitly.
        var e = Assert.Throws<ConfigMismatchException>(() => LlavaModel.Load(dir, "model.safetensors"));
        Assert.Contains("mlp", e.Message);
        Assert.Contains("700", e.Message);
    }

    [Fact]
    public void MoreLayersThanTheCheckpointHasIsAMissingTensor()
    {
        var dir = CopyWithConfig(c => c["text_config"]!["num_hidden_layers"] = 9);
        var e = Assert.Throws<MissingTensorException>(() => LlavaModel.Load(dir, "model.safetensors"));
        Assert.Contains("layers.8.", e.TensorName);
    }

    [Fact]
    public void ImageTokenIdDisagreeingWithTheTokenizerIsRefused()
    {
        var dir = CopyWithConfig(c => c["image_token_index"] = 3);
        Assert.ThrowsAny<ModelLoadException>(() => LlavaModel.Load(dir, "model.safetensors"));
    }

    [Fact]
    public void FolderWithoutWeightsIsRefused()
    {
        var dir = CopyWithConfig(_ => { }, copyWeights: false);
        var e = Assert.Throws<ModelLoadException>(() => LlavaModel.Load(dir));
        Assert.Contains("safetensors", e.Message);
    }

    [Fact]
    public void MissingFolderIsRefused()
    {
        var e = Assert.Throws<ModelLoadException>(() => LlavaModel.Load(Path.Combine(TestPaths.TempDir(), "absent")));
        Assert.Contains("absent", e.Message);
    }

    [Fact]
    public void PromptsAreValidated()
    {
        using var m = LlavaModel.Load(TestPaths.TinyModel, "model.safetensors");
        Assert.Throws<InvalidPromptException>(() => m.Tokenize(""));
        Assert.Throws<InvalidPromptException>(() => m.Tokenize("two images <image> here"));
    }
}
