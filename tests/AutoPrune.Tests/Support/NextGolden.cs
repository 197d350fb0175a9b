using System.Text.Json;
using AutoPrune.Models.LlavaNext;

namespace AutoPrune.Tests.Support;

/// <summary>One golden case of models/llava-next-tiny-random/golden (see the model's README).</summary>
public sealed class NextGolden
{
    public static string ModelDir => Path.Combine(TestPaths.RepoRoot, "models", "llava-next-tiny-random");
    public static string Dir => Path.Combine(ModelDir, "golden");

    public JsonElement Root { get; }
    public string Name { get; }
    public string ImagePath => Path.Combine(Dir, Root.GetProperty("image").GetString()!);
    public string File(string key) => Path.Combine(Dir, Root.GetProperty(key).GetString()!);

    public NextGolden(string name)
    {
        Name = name;
        Root = JsonDocument.Parse(System.IO.File.ReadAllBytes(Path.Combine(Dir, name + ".json"))).RootElement;
    }

    public static IEnumerable<object[]> All() => Enumerable.Range(0, 8).Select(i => new object[] { $"case{i}" });

    public JsonElement this[string key] => Root.GetProperty(key);
    public int Int(string key) => Root.GetProperty(key).GetInt32();
    public int[] Ints(string key) => GoldenReference.Ints(Root.GetProperty(key));
}

/// <summary>The NeXT tiny model, loaded once per test class.</summary>
public sealed class NextModelFixture : IDisposable
{
    public LlavaNextModel Model { get; } = LlavaNextModel.Load(NextGolden.ModelDir);
    private LlavaNextModel? _spatial;
    public LlavaNextModel Spatial => _spatial ??= LlavaNextModel.Load(NextGolden.ModelDir, packing: AnyresPackingMode.Spatial);
    public void Dispose() { Model.Dispose(); _spatial?.Dispose(); }
}
