namespace AutoPrune.Loading;

/// <summary>Resolves a model directory and the files in it, failing early with a message that names the path.</summary>
public static class ModelFolder
{
    public const string ConfigFileName = "config.json";

    /// <summary>Full path of an existing model folder that has a config.json. A name shaped like ORG/NAME that is not a
    /// folder is looked up in the local Hugging Face cache (<see cref="HuggingFaceCache"/>).</summary>
    public static string Resolve(string dir)
    {
        if (string.IsNullOrWhiteSpace(dir)) throw new ModelLoadException("model folder not given");
        var full = Path.GetFullPath(dir);
        if (!Directory.Exists(full) && !File.Exists(full) && HuggingFaceCache.LooksLikeRepoId(dir))
            return HuggingFaceCache.TryFind(dir, out var lookedIn) ?? throw new ModelLoadException(
                $"model '{dir}' is neither a folder nor in the local Hugging Face cache (looked in {lookedIn}); " +
                $"download it first, e.g. `huggingface-cli download {dir}`, or give the model folder");
        if (!Directory.Exists(full))
            throw new ModelLoadException(File.Exists(full)
                ? $"model folder not found: {full} is a file, not a folder"
                : $"model folder not found: {full}");
        if (!File.Exists(Path.Combine(full, ConfigFileName)))
            throw new ModelLoadException($"{full} has no {ConfigFileName}");
        return full;
    }

    public static string ConfigPath(string dir) => Path.Combine(Resolve(dir), ConfigFileName);

    public static LlavaConfig LoadConfig(string dir) => LlavaConfig.Load(ConfigPath(dir));
}
