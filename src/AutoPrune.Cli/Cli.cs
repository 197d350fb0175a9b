using System.CommandLine;
using AutoPrune.Loading;

namespace AutoPrune.Cli;

/// <summary>Shared plumbing of the verbs: error reporting, default model, common options.</summary>
public static class Cli
{
    /// <summary>Every verb of the tool.</summary>
    public static RootCommand BuildRoot() => new("autoprune: LLaVA inference in pure C# with adaptive visual-token pruning (AutoPrune, NeurIPS 2025)")
    {
        Commands.AskCommand.Create(),
        Commands.InspectCommand.Create(),
        Commands.ExplainCommand.Create(),
        Commands.EvalCommands.Eval(),
        Commands.EvalCommands.Sweep(),
        Commands.EvalCommands.Merge(),
        Commands.BenchCommand.Create(),
    };

    /// <summary>Parses and runs; every error is one line on stderr and a non-zero exit code, never a stack trace
    /// (set AUTOPRUNE_DEBUG=1 to see one).</summary>
    public static int Run(RootCommand root, string[] args, TextWriter? stdout = null, TextWriter? stderr = null)
    {
        var err = stderr ?? Console.Error;
        var config = new InvocationConfiguration { EnableDefaultExceptionHandler = false };
        if (stdout != null) config.Output = stdout;
        if (stderr != null) config.Error = stderr;
        try
        {
            return root.Parse(args).Invoke(config);
        }
        catch (Exception e) when (e is AutoPruneException or IOException or UnauthorizedAccessException or ArgumentException or InvalidOperationException)
        {
            err.WriteLine($"error: {e.Message}");
            if (Environment.GetEnvironmentVariable("AUTOPRUNE_DEBUG") == "1") err.WriteLine(e);
            return e is AutoPruneException ? 1 : 2;
        }
        catch (OperationCanceledException)
        {
            err.WriteLine("error: cancelled");
            return 130;
        }
        catch (Exception e)
        {
            err.WriteLine($"error: unexpected {e.GetType().Name}: {e.Message}");
            if (Environment.GetEnvironmentVariable("AUTOPRUNE_DEBUG") == "1") err.WriteLine(e);
            return 70;
        }
    }

    public const string EmbeddedModelName = "llava-shapes-tiny";

    /// <summary>
    /// The model folder to use when --model is not given: $AUTOPRUNE_MODEL, else models/llava-shapes-tiny found
    /// above the current directory or above the tool's own directory (a repository checkout).
    /// </summary>
    public static string DefaultModelDir()
    {
        var env = Environment.GetEnvironmentVariable("AUTOPRUNE_MODEL");
        if (!string.IsNullOrEmpty(env)) return env;
        foreach (var start in new[] { Environment.CurrentDirectory, AppContext.BaseDirectory })
        {
            for (var d = new DirectoryInfo(start); d != null; d = d.Parent)
            {
                var p = Path.Combine(d.FullName, "models", EmbeddedModelName);
                if (File.Exists(Path.Combine(p, "config.json"))) return p;
            }
        }
        throw new ModelLoadException($"no --model given and the embedded model models/{EmbeddedModelName} was not found above " +
            $"{Environment.CurrentDirectory}; pass --model DIR or set AUTOPRUNE_MODEL");
    }

    public static Option<string?> ModelOption() => new("--model", "-m")
    {
        Description = $"llava-hf model folder (config.json, *.safetensors, tokenizer.model). Default: the embedded {EmbeddedModelName}",
        HelpName = "DIR",
    };

    public static Option<string?> WeightsOption() => new("--weights")
    {
        Description = "a specific .safetensors file inside the model folder (e.g. model.bf16.safetensors)",
        HelpName = "FILE",
    };

    public static Option<bool> JsonOption() => new("--json") { Description = "print one JSON object instead of text" };

    public static Option<long?> MaxImagePixelsOption() => new("--max-image-pixels")
    {
        Description = $"refuse images with more pixels than this, read from the file header before decoding (default {ImageLoader.DefaultMaxPixels}, as Pillow)",
        HelpName = "N",
    };

    /// <summary>Applies --max-image-pixels for this process (the limit is process-wide, as Pillow's is).</summary>
    public static void ApplyImageLimit(ParseResult r, Option<long?> option)
    {
        if (r.GetValue(option) is long n) ImageLoader.MaxPixels = n;
    }
}
