using System.Text.RegularExpressions;

namespace AutoPrune.Loading;

/// <summary>
/// Finds a Hugging Face repo id (e.g. llava-hf/llava-1.5-7b-hf) in the local hub cache, offline:
/// $HF_HUB_CACHE, else $HF_HOME/hub, else $XDG_CACHE_HOME/huggingface/hub, else ~/.cache/huggingface/hub;
/// inside it models--ORG--NAME/snapshots/REV/, REV being the commit refs/main names (else the newest snapshot).
/// Nothing is ever downloaded.
/// </summary>
public static partial class HuggingFaceCache
{
    [GeneratedRegex(@"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")]
    private static partial Regex RepoIdPattern();

    /// <summary>True for text shaped like ORG/NAME (one slash, no path syntax).</summary>
    public static bool LooksLikeRepoId(string text) => RepoIdPattern().IsMatch(text) && !text.Contains("..", StringComparison.Ordinal);

    /// <summary>The hub cache folder the environment points to.</summary>
    public static string HubDirectory()
    {
        static string? Env(string name) => Environment.GetEnvironmentVariable(name) is { Length: > 0 } v ? v : null;
        if (Env("HF_HUB_CACHE") is { } hub) return hub;
        if (Env("HF_HOME") is { } home) return Path.Combine(home, "hub");
        var cache = Env("XDG_CACHE_HOME") ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache");
        return Path.Combine(cache, "huggingface", "hub");
    }

    /// <summary>The snapshot folder of <paramref name="repoId"/>, or null when the cache does not hold it.</summary>
    public static string? TryFind(string repoId, out string lookedIn)
    {
        var parts = repoId.Split('/');
        var repoDir = Path.Combine(HubDirectory(), $"models--{parts[0]}--{parts[1]}");
        var snapshots = Path.Combine(repoDir, "snapshots");
        lookedIn = snapshots;
        if (!Directory.Exists(snapshots)) return null;
        var refMain = Path.Combine(repoDir, "refs", "main");
        if (File.Exists(refMain))
        {
            var rev = Path.Combine(snapshots, File.ReadAllText(refMain).Trim());
            if (File.Exists(Path.Combine(rev, ModelFolder.ConfigFileName))) return rev;
        }
        // No refs/main (e.g. a revision pinned at download): the most recently written snapshot with a config.json.
        return new DirectoryInfo(snapshots).EnumerateDirectories()
            .Where(d => File.Exists(Path.Combine(d.FullName, ModelFolder.ConfigFileName)))
            .OrderByDescending(d => d.LastWriteTimeUtc).Select(d => d.FullName).FirstOrDefault();
    }
}
