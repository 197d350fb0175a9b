using System.Text.Json;

namespace AutoPrune.Tests.Support;

/// <summary>One golden reference case (models/llava-shapes-tiny/golden/caseN.json), see golden/README.md.</summary>
public sealed class GoldenReference
{
    public JsonElement Root { get; }
    public string Name { get; }
    public string ImagePath { get; }

    public GoldenReference(string name)
    {
        Name = name;
        Root = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(TestPaths.Golden, name + ".json"))).RootElement;
        ImagePath = Path.Combine(TestPaths.Golden, Root.GetProperty("image").GetString()!);
    }

    public static IEnumerable<object[]> All() => [["case0"], ["case1"], ["case2"]];

    public string Prompt => Root.GetProperty("prompt").GetString()!;
    public string Question => Root.GetProperty("question").GetString()!;
    public int[] InputIds => Ints(Root.GetProperty("input_ids"));
    public int[] GreedyIds => Ints(Root.GetProperty("greedy_output_ids"));
    public string GreedyText => Root.GetProperty("greedy_output_text").GetString()!;
    public float[] LastLogits => Floats(Root.GetProperty("last_logits"));
    public float[] Bf16LastLogits => Floats(Root.GetProperty("bf16_weights_last_logits"));
    public int[] Bf16GreedyIds => Ints(Root.GetProperty("bf16_weights_greedy_output_ids"));
    public JsonElement this[string key] => Root.GetProperty(key);

    public static int[] Ints(JsonElement a) { var r = new int[a.GetArrayLength()]; int i = 0; foreach (var e in a.EnumerateArray()) r[i++] = e.GetInt32(); return r; }
    public static float[] Floats(JsonElement a) { var r = new float[a.GetArrayLength()]; int i = 0; foreach (var e in a.EnumerateArray()) r[i++] = (float)e.GetDouble(); return r; }
}

/// <summary>Comparison helpers that name the tensor and the error when they fail.</summary>
public static class Compare
{
    public static (double maxAbs, double cosine) Diff(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        Assert.Equal(b.Length, a.Length);
        double max = 0, dot = 0, na = 0, nb = 0;
        for (int i = 0; i < a.Length; i++)
        {
            max = Math.Max(max, Math.Abs(a[i] - b[i]));
            dot += (double)a[i] * b[i]; na += (double)a[i] * a[i]; nb += (double)b[i] * b[i];
        }
        return (max, dot / Math.Sqrt(na * nb + 1e-300));
    }

    public static void Close(string what, ReadOnlySpan<float> actual, ReadOnlySpan<float> expected, double maxAbs, double minCos = 0)
    {
        var (m, c) = Diff(actual, expected);
        Assert.True(m <= maxAbs && c >= minCos, $"{what}: max-abs {m:E3} (limit {maxAbs:E1}), cosine {c:F8} (limit {minCos})");
    }

    /// <summary>Checks the golden {first, sum, sum_sq} statistics of a tensor with a relative tolerance.</summary>
    public static void Stats(string what, ReadOnlySpan<float> actual, JsonElement golden, double rel, int firstOffset = 0)
    {
        if (golden.TryGetProperty("first", out var first))
            Close(what + ".first", actual.Slice(firstOffset, first.GetArrayLength()), GoldenReference.Floats(first), rel * 10);
        double sum = 0, sq = 0;
        foreach (var v in actual) { sum += v; sq += (double)v * v; }
        double gSq = golden.GetProperty("sum_sq").GetDouble(), gSum = golden.GetProperty("sum").GetDouble();
        // |sum| is bounded by sqrt(n·sum_sq): scale the sum tolerance by that bound, not by the (cancelling) sum.
        double sumTol = rel * Math.Sqrt(actual.Length * gSq);
        Assert.True(Math.Abs(sq - gSq) <= rel * gSq, $"{what}.sum_sq: {sq} vs golden {gSq} (rel limit {rel:E0})");
        Assert.True(Math.Abs(sum - gSum) <= sumTol, $"{what}.sum: {sum} vs golden {gSum} (limit {sumTol:E2})");
    }
}
