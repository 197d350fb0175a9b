namespace AutoPrune.Tests.Support;

/// <summary>Locates files of the repository (the embedded model, its golden vectors, samples) from the test binaries.</summary>
public static class TestPaths
{
    public static string RepoRoot { get; } = FindRoot();

    public static string TinyModel => Path.Combine(RepoRoot, "models", "llava-shapes-tiny");
    public static string Golden => Path.Combine(TinyModel, "golden");
    public static string Samples => Path.Combine(RepoRoot, "samples");

    /// <summary>The 600-question development benchmark committed under data/.</summary>
    public static string DevSet => Path.Combine(RepoRoot, "data", "shapes-vqa", "dev");

    /// <summary>Its first 5 questions, for CLI tests that run a whole benchmark.</summary>
    public static string ShapesMini => Path.Combine(RepoRoot, "tests", "AutoPrune.Tests", "Fixtures", "shapes-mini");

    /// <summary>A fresh folder under this test process's own temporary root (see <see cref="TempRoot"/>).</summary>
    public static string TempDir()
    {
        var d = Path.Combine(TempRoot, Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(d);
        return d;
    }

    private const string TempPrefix = "autoprune-tests-";

    /// <summary>
    /// One folder per test process, deleted after the last test (<see cref="TempCleanupFramework"/>): tests that
    /// keep a model memory-mapped cannot always delete their own folder in time, so the whole root goes at the
    /// end. Roots left by a killed run (their process is gone) are swept when the next run starts.
    /// </summary>
    public static string TempRoot { get; } = CreateTempRoot();

    private static string CreateTempRoot()
    {
        SweepStaleRoots();
        var root = Path.Combine(Path.GetTempPath(), $"{TempPrefix}{Environment.ProcessId}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(root);
        return root;
    }

    public static void DeleteTempRoot() => DeleteQuietly(TempRoot);

    private static void SweepStaleRoots()
    {
        foreach (var dir in Directory.EnumerateDirectories(Path.GetTempPath(), TempPrefix + "*"))
        {
            var rest = Path.GetFileName(dir).AsSpan(TempPrefix.Length);
            int dash = rest.IndexOf('-');
            if (dash <= 0 || !int.TryParse(rest[..dash], out int pid) || ProcessAlive(pid)) continue;
            DeleteQuietly(dir);
        }
    }

    private static bool ProcessAlive(int pid)
    {
        try { using var p = System.Diagnostics.Process.GetProcessById(pid); return !p.HasExited; }
        catch (ArgumentException) { return false; }
        catch (InvalidOperationException) { return false; }
    }

    public static void DeleteQuietly(string dir)
    {
        try { Directory.Delete(dir, recursive: true); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
    }

    private static string FindRoot()
    {
        var d = new DirectoryInfo(AppContext.BaseDirectory);
        while (d != null && !File.Exists(Path.Combine(d.FullName, "AutoPrune.sln")) && !File.Exists(Path.Combine(d.FullName, "AutoPrune.slnx")))
            d = d.Parent;
        return d?.FullName ?? throw new InvalidOperationException("repository root (AutoPrune.sln) not found above " + AppContext.BaseDirectory);
    }
}
