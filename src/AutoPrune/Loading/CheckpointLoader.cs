using System.Text.Json;
using AutoPrune.Tensors;

namespace AutoPrune.Loading;

/// <summary>
/// Opens the weights of a model: a single .safetensors file, a folder with model.safetensors, or a
/// folder with a sharded checkpoint (model.safetensors.index.json). Keys come back normalized by
/// <see cref="WeightNames"/>; the returned <see cref="ModelWeights"/> owns the memory mappings.
/// </summary>
public static class CheckpointLoader
{
    public const string SingleFileName = "model.safetensors";
    public const string IndexFileName = "model.safetensors.index.json";

    public static ModelWeights Open(string path)
    {
        if (string.IsNullOrWhiteSpace(path)) throw new ModelLoadException("model path not given");
        if (Directory.Exists(path)) return OpenFolder(path);
        if (File.Exists(path))
        {
            if (path.EndsWith(".index.json", StringComparison.OrdinalIgnoreCase))
                return OpenIndexed(path, Path.GetDirectoryName(Path.GetFullPath(path))!, path);
            return Build(path, [SafetensorsFile.Open(path)]);
        }
        throw new ModelLoadException($"model path not found: {path}");
    }

    private static ModelWeights OpenFolder(string dir)
    {
        var index = Path.Combine(dir, IndexFileName);
        if (File.Exists(index)) return OpenIndexed(index, dir, dir);

        var single = Path.Combine(dir, SingleFileName);
        if (File.Exists(single)) return Build(dir, [SafetensorsFile.Open(single)]);

        var candidates = Directory.GetFiles(dir, "*.safetensors");
        Array.Sort(candidates, StringComparer.Ordinal);
        if (candidates.Length == 1) return Build(dir, [SafetensorsFile.Open(candidates[0])]);
        if (candidates.Length == 0) throw new ModelLoadException($"no safetensors weights in {dir}");
        var names = string.Join(", ", Array.ConvertAll(candidates, c => Path.GetFileName(c)));
        throw new ModelLoadException(
            $"{dir} has several safetensors files ({names}) and no {SingleFileName} or {IndexFileName}; pass one file explicitly");
    }

    /// <summary>Reads the index's weight_map: tensor name -> shard file name (relative to the folder).</summary>
    internal static Dictionary<string, string> ReadWeightMap(string indexPath)
    {
        using (var doc = JsonInput.ReadFile(indexPath, p => new ModelLoadException($"{indexPath}: {p}")))
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw new ModelLoadException($"{indexPath}: expected a JSON object");
            if (!root.TryGetProperty("weight_map", out var wm) || wm.ValueKind != JsonValueKind.Object)
                throw new ModelLoadException($"{indexPath}: missing the 'weight_map' object");
            var map = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var kv in wm.EnumerateObject())
            {
                if (kv.Value.ValueKind != JsonValueKind.String || string.IsNullOrEmpty(kv.Value.GetString()))
                    throw new ModelLoadException($"{indexPath}: weight_map entry '{kv.Name}' must be a shard file name, got {kv.Value.GetRawText()}");
                if (!map.TryAdd(kv.Name, kv.Value.GetString()!))
                    throw new ModelLoadException($"{indexPath}: tensor '{kv.Name}' is listed twice in weight_map");
            }
            if (map.Count == 0) throw new ModelLoadException($"{indexPath}: weight_map is empty");
            return map;
        }
    }

    private static ModelWeights OpenIndexed(string indexPath, string dir, string source)
    {
        var weightMap = ReadWeightMap(indexPath);
        var root = Path.TrimEndingDirectorySeparator(Path.GetFullPath(dir));

        // Open each distinct shard once, in a stable order.
        var shardNames = new SortedSet<string>(weightMap.Values, StringComparer.Ordinal);
        var shards = new List<SafetensorsFile>();
        var shardByName = new Dictionary<string, SafetensorsFile>(StringComparer.Ordinal);
        try
        {
            foreach (var shard in shardNames)
            {
                var full = Path.GetFullPath(Path.Combine(root, shard));
                // The index is data: never let it point outside the model folder.
                if (Path.IsPathRooted(shard) || !full.StartsWith(root + Path.DirectorySeparatorChar, StringComparison.Ordinal))
                    throw new ModelLoadException($"{indexPath}: shard '{shard}' is outside the model folder");
                if (!File.Exists(full)) throw new ModelLoadException($"{indexPath}: shard '{shard}' not found in {root}");
                var f = SafetensorsFile.Open(full);
                shards.Add(f);
                shardByName.Add(shard, f);
            }

            foreach (var (tensor, shard) in weightMap)
                if (!shardByName[shard].Contains(tensor)) throw new MissingTensorException(tensor, shardByName[shard].Path);

            // A tensor stored in two shards (or in a shard the index does not name for it) is ambiguous.
            var home = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var shard in shardNames)
                foreach (var name in shardByName[shard].Names)
                {
                    if (home.TryGetValue(name, out var other))
                        throw new ModelLoadException($"{indexPath}: tensor '{name}' appears in both {other} and {shard}");
                    home.Add(name, shard);
                    if (weightMap.TryGetValue(name, out var listed) && listed != shard)
                        throw new ModelLoadException($"{indexPath}: tensor '{name}' is mapped to {listed} but stored in {shard}");
                }
        }
        catch
        {
            foreach (var f in shards) f.Dispose();
            throw;
        }
        return Build(source, shards);
    }

    /// <summary>Normalizes names across all files and hands ownership of the files to the result.</summary>
    private static unsafe ModelWeights Build(string source, List<SafetensorsFile> files)
    {
        try
        {
            var weights = new List<Weight>();
            var origin = new Dictionary<string, string>(StringComparer.Ordinal); // normalized -> raw name
            foreach (var f in files)
                foreach (var w in f.Tensors)
                {
                    var name = WeightNames.Normalize(w.Name);
                    if (name == null) continue;
                    if (!origin.TryAdd(name, w.Name))
                        throw new ModelLoadException(
                            $"{source}: tensors '{origin[name]}' and '{w.Name}' both map to '{name}' (mixed checkpoint layouts?)");
                    weights.Add(name == w.Name ? w : new Weight(name, w.DType, w.Shape, w.Data));
                }
            return new ModelWeights(source, weights, files);
        }
        catch
        {
            foreach (var f in files) f.Dispose();
            throw;
        }
    }
}
