namespace AutoPrune.Tests.Support;

/// <summary>Locates files of the repository (the embedded model, its golden vectors, samples) from the test binaries.</summary>
public static class TestPaths
{
    public static string RepoRoot { get; } = FindRoot();

    public static string TinyModel => Path.Combine(RepoRoot, "models", "llava-shapes-tiny");
    public static string Golden => Path.Combine(TinyModel, "golden");
    public static string Samples => Path.Combine(RepoRoot, "samples");

    /// <summary>The shared dev benchmark when present beside the repo (CI has ../shared), else null.</summary>
    public static string? SharedDev
    {
        get
        {
            var p = Path.GetFullPath(Path.Combine(RepoRoot, "..", "shared", "data", "shapes-vqa", "dev"));
            return Directory.Exists(p) ? p : null;
        }
    }

    public static string TempDir()
    {
        var d = Path.Combine(Path.GetTempPath(), "autoprune-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(d);
        return d;
    }

    private static string FindRoot()
    {
        var d = new DirectoryInfo(AppContext.BaseDirectory);
        while (d != null && !File.Exists(Path.Combine(d.FullName, "AutoPrune.sln")) && !File.Exists(Path.Combine(d.FullName, "AutoPrune.slnx")))
            d = d.Parent;
        return d?.FullName ?? throw new InvalidOperationException("repository root (AutoPrune.sln) not found above " + AppContext.BaseDirectory);
    }
}
