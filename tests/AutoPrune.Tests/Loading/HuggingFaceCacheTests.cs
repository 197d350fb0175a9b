using AutoPrune.Loading;
using AutoPrune.Tests.Cli;

namespace AutoPrune.Tests.Loading;

/// <summary>--model ORG/NAME resolved offline in a fake Hugging Face cache built in a temp folder.</summary>
[Collection(EnvironmentCollection.Name)]
public sealed class HuggingFaceCacheTests
{
    /// <summary>hub/models--ORG--NAME/{refs/main, snapshots/REV/*} linking to the embedded model's files, as the hub client lays it out.</summary>
    private static string FakeHub(string root, string repoDir, string? refMain, params string[] revisions)
    {
        var hub = Path.Combine(root, "hub");
        foreach (var rev in revisions)
        {
            var snap = Directory.CreateDirectory(Path.Combine(hub, repoDir, "snapshots", rev)).FullName;
            foreach (var f in Directory.EnumerateFiles(TestPaths.TinyModel))
                File.CreateSymbolicLink(Path.Combine(snap, Path.GetFileName(f)), f);
        }
        if (refMain != null)
        {
            Directory.CreateDirectory(Path.Combine(hub, repoDir, "refs"));
            File.WriteAllText(Path.Combine(hub, repoDir, "refs", "main"), refMain);
        }
        return hub;
    }

    private static T WithHfHome<T>(string home, Func<T> body)
    {
        var (oldHome, oldHub) = (Environment.GetEnvironmentVariable("HF_HOME"), Environment.GetEnvironmentVariable("HF_HUB_CACHE"));
        Environment.SetEnvironmentVariable("HF_HOME", home);
        Environment.SetEnvironmentVariable("HF_HUB_CACHE", null);
        try { return body(); }
        finally
        {
            Environment.SetEnvironmentVariable("HF_HOME", oldHome);
            Environment.SetEnvironmentVariable("HF_HUB_CACHE", oldHub);
        }
    }

    [Fact]
    public void RepoIdResolvesToTheSnapshotRefsMainNames()
    {
        var root = TestPaths.TempDir();
        try
        {
            FakeHub(root, "models--test-org--tiny-llava", "bbb", "aaa", "bbb");
            var dir = WithHfHome(root, () => ModelFolder.Resolve("test-org/tiny-llava"));
            Assert.Equal(Path.Combine(root, "hub", "models--test-org--tiny-llava", "snapshots", "bbb"), dir);

            var (code, stdout, stderr) = WithHfHome(root, () => CliTests.Run("inspect", "--model", "test-org/tiny-llava", "--json"));
            Assert.True(code == 0, stderr);
            Assert.Contains("\"parameters\":7740032", stdout);
        }
        finally { Directory.Delete(root, true); }
    }

    [Fact]
    public void WithoutRefsMainTheSnapshotWithAConfigIsUsed()
    {
        var root = TestPaths.TempDir();
        try
        {
            FakeHub(root, "models--o--n", null, "only");
            Assert.EndsWith(Path.Combine("snapshots", "only"), WithHfHome(root, () => ModelFolder.Resolve("o/n")));
        }
        finally { Directory.Delete(root, true); }
    }

    [Fact]
    public void MissingRepoSaysWhereItLooked()
    {
        var root = TestPaths.TempDir();
        try
        {
            var (code, stdout, stderr) = WithHfHome(root, () => CliTests.Run("ask", "--image", Path.Combine(TestPaths.Samples, "scene1.png"), "Q?",
                "--model", "llava-hf/not-downloaded"));
            Assert.Equal(1, code);
            Assert.Equal("", stdout);
            Assert.Contains("nor in the local Hugging Face cache", stderr);
            Assert.Contains(Path.Combine(root, "hub", "models--llava-hf--not-downloaded"), stderr);
            Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        }
        finally { Directory.Delete(root, true); }
    }

    [Fact]
    public void AnExistingRelativeFolderIsNotTakenForARepoId()
    {
        Assert.False(HuggingFaceCache.LooksLikeRepoId("../x"));
        Assert.False(HuggingFaceCache.LooksLikeRepoId("/abs/path"));
        Assert.True(HuggingFaceCache.LooksLikeRepoId("llava-hf/llava-1.5-7b-hf"));
        var cwd = Environment.CurrentDirectory;
        Environment.CurrentDirectory = TestPaths.RepoRoot;
        try { Assert.Equal(TestPaths.TinyModel, ModelFolder.Resolve("models/llava-shapes-tiny")); }
        finally { Environment.CurrentDirectory = cwd; }
    }

    [Fact]
    public void ModelEnvironmentVariableIsTheDefaultModel()
    {
        var old = Environment.GetEnvironmentVariable("AUTOPRUNE_MODEL");
        Environment.SetEnvironmentVariable("AUTOPRUNE_MODEL", TestPaths.TinyModel);
        try
        {
            Assert.Equal(TestPaths.TinyModel, global::AutoPrune.Cli.Cli.ModelDir(null));
            Assert.Equal("/x", global::AutoPrune.Cli.Cli.ModelDir("/x"));   // --model wins
        }
        finally { Environment.SetEnvironmentVariable("AUTOPRUNE_MODEL", old); }
    }
}
