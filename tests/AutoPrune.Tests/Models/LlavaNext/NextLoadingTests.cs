using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using AutoPrune.Loading;
using AutoPrune.Models.LlavaNext;
using AutoPrune.Tests.Support;

namespace AutoPrune.Tests.Models.LlavaNext;

public sealed class NextLoadingTests : TempDirTest
{
    /// <summary>transformers ≥ 4.52 saves NeXT as model.language_model.* / model.vision_tower.* / model.image_newline / lm_head.*.</summary>
    [Fact]
    public void NewerKeyLayoutLoadsToTheSameFeatures()
    {
        foreach (var f in Directory.GetFiles(NextGolden.ModelDir))
            if (Path.GetFileName(f) != "model.safetensors") File.Copy(f, Path.Combine(Dir, Path.GetFileName(f)));
        var bytes = File.ReadAllBytes(Path.Combine(NextGolden.ModelDir, "model.safetensors"));
        int n = (int)BitConverter.ToUInt64(bytes, 0);
        var header = JsonNode.Parse(Encoding.UTF8.GetString(bytes, 8, n))!.AsObject();
        var renamed = new JsonObject();
        foreach (var (k, v) in header)
        {
            string name = k switch
            {
                "image_newline" => "model.image_newline",
                _ when k.StartsWith("language_model.model.") => "model.language_model." + k["language_model.model.".Length..],
                _ when k.StartsWith("language_model.lm_head.") => "lm_head." + k["language_model.lm_head.".Length..],
                _ when k.StartsWith("vision_tower.") || k.StartsWith("multi_modal_projector.") => "model." + k,
                _ => k,
            };
            renamed[name] = v!.DeepClone();
        }
        Assert.Contains("model.image_newline", renamed.Select(p => p.Key));
        SafetensorsTestWriter.Write(Dir, "model.safetensors",
            SafetensorsTestWriter.FromHeader(renamed.ToJsonString(), bytes.AsSpan(8 + n).ToArray()));

        using var classic = LlavaNextModel.Load(NextGolden.ModelDir);
        using var newer = LlavaNextModel.Load(Dir);
        var img = ImageLoader.Load(new NextGolden("case3").ImagePath);
        Assert.Equal(classic.EncodeAnyres(img).Packed, newer.EncodeAnyres(img).Packed);
    }

    [Fact]
    public void PinpointsThatDifferBetweenConfigAndProcessorAreRefused()
    {
        foreach (var f in Directory.GetFiles(NextGolden.ModelDir))
            File.Copy(f, Path.Combine(Dir, Path.GetFileName(f)));
        var pp = JsonNode.Parse(File.ReadAllText(Path.Combine(Dir, "preprocessor_config.json")))!.AsObject();
        pp["image_grid_pinpoints"] = JsonNode.Parse("[[48,96],[96,48]]");
        File.WriteAllText(Path.Combine(Dir, "preprocessor_config.json"), pp.ToJsonString());
        var e = Assert.Throws<ConfigMismatchException>(() => LlavaNextModel.Load(Dir));
        Assert.Contains("image_grid_pinpoints differ", e.Message);
    }
}
