using System.Text.Json;

namespace AutoPrune.Tests.Support;

/// <summary>The preprocessing/tokenizer fields of models/llava-shapes-tiny/golden/caseN.json.</summary>
public sealed record GoldenCase(string ImagePath, string Prompt, int[] InputIds, double[] PixelFirst16, double PixelSum)
{
    public static GoldenCase Load(int n)
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(TestPaths.Golden, $"case{n}.json")));
        var r = doc.RootElement;
        var pv = r.GetProperty("pixel_values");
        return new GoldenCase(
            Path.Combine(TestPaths.Golden, r.GetProperty("image").GetString()!),
            r.GetProperty("prompt").GetString()!,
            r.GetProperty("input_ids").EnumerateArray().Select(e => e.GetInt32()).ToArray(),
            pv.GetProperty("first16").EnumerateArray().Select(e => e.GetDouble()).ToArray(),
            pv.GetProperty("sum").GetDouble());
    }
}
