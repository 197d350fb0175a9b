using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Parsing;
using System.Text;
using AutoPrune.Loading;

namespace AutoPrune.Cli;

/// <summary>
/// Shared plumbing of the verbs: the error contract, the default model, the options several verbs share.
///
/// The contract every verb follows (new verbs too):
/// - A failure prints exactly one line on stderr, "error: ...", in plain words that name the offending option and
///   value (or file), and nothing on stdout. Help is printed only for --help; a usage error ends with a one-line hint.
/// - Exit codes: 0 success; 1 bad input (a model, image, benchmark or question that cannot be used, or a
///   policy/budget the model cannot satisfy: <see cref="AutoPruneException"/> and I/O errors); 2 usage (the
///   command line itself: an unknown verb or option, a missing required value, a value of the wrong type or out of
///   range); 130 cancelled; 70 an internal error (a bug: please report it with AUTOPRUNE_DEBUG=1).
/// - Options are validated by the parser (<see cref="Validate{T}"/>) or at the top of the action, before any model
///   is loaded or any timing starts.
/// - Option conventions: -o/--output is a file for verbs that write one result and a folder for verbs that write
///   several (the help says which); the question is a positional argument; placeholders are upper case (FILE, DIR,
///   N, T, NAME=VALUE); environment variables a verb reads are named in the help of the option they default.
/// </summary>
public static class Cli
{
    public const string DebugVariable = "AUTOPRUNE_DEBUG", ModelVariable = "AUTOPRUNE_MODEL";

    /// <summary>Every verb of the tool.</summary>
    public static RootCommand BuildRoot() => new("autoprune: LLaVA inference in pure C# with adaptive visual-token pruning (AutoPrune, NeurIPS 2025). " +
                                                 $"Errors are one line on stderr (exit 1 bad input, 2 usage); {DebugVariable}=1 adds the stack trace.")
    {
        Commands.AskCommand.Create(),
        Commands.InspectCommand.Create(),
        Commands.ExplainCommand.Create(),
        Commands.EvalCommands.Eval(),
        Commands.EvalCommands.Sweep(),
        Commands.EvalCommands.Merge(),
        Commands.BenchCommand.Create(),
        Commands.ServeCommand.Create(),
        Commands.ChatCommand.Create(),
        Commands.BenchServeCommand.Create(),
        Commands.PoliciesCommand.Create(),
        Commands.ConvertCommand.Create(),
    };

    /// <summary>Parses and runs; every error is one line on stderr and a non-zero exit code, never a stack trace
    /// (set AUTOPRUNE_DEBUG=1 to see one).</summary>
    public static int Run(RootCommand root, string[] args, TextWriter? stdout = null, TextWriter? stderr = null)
    {
        var err = stderr ?? Console.Error;
        var config = new InvocationConfiguration { EnableDefaultExceptionHandler = false };
        if (stdout != null) config.Output = stdout;
        if (stderr != null) config.Error = stderr;
        bool debug = Environment.GetEnvironmentVariable(DebugVariable) == "1";
        try
        {
            var parse = root.Parse(args);
            if (parse.Errors.Count > 0 && parse.Action is not HelpAction)
            {
                err.WriteLine($"error: {OneLine(Describe(FirstError(parse.Errors)))} (see '{CommandPath(parse.CommandResult)} --help')");
                return 2;
            }
            // serve's web host handles Ctrl+C and SIGTERM itself and lets requests in flight finish (longer than the
            // 2 s the parser would wait before ending the process).
            if (parse.CommandResult.Command.Name == "serve") config.ProcessTerminationTimeout = null;
            return parse.Invoke(config);
        }
        catch (Exception e) when (e is UsageException or AutoPruneException or IOException or UnauthorizedAccessException or ArgumentException)
        {
            // ArgumentException's message ends with " (Parameter 'x')", a C# name the user never typed.
            var msg = e is ArgumentException ae && ae.ParamName != null ? ae.Message.Replace($" (Parameter '{ae.ParamName}')", "") : e.Message;
            err.WriteLine($"error: {OneLine(msg)}");
            if (debug) err.WriteLine(e);
            return e is UsageException ? 2 : 1;
        }
        catch (OperationCanceledException)
        {
            err.WriteLine("error: cancelled");
            return 130;
        }
        catch (Exception e)
        {
            err.WriteLine($"error: internal error {e.GetType().Name}: {OneLine(e.Message)}" + (debug ? "" : $" (rerun with {DebugVariable}=1 for the stack trace)"));
            if (debug) err.WriteLine(e);
            return 70;
        }
    }

    /// <summary>A parse error in plain words naming the option and the value.</summary>
    private static string Describe(ParseError e)
    {
        var option = e.SymbolResult switch { OptionResult o => o, ArgumentResult { Parent: OptionResult o } => o, _ => null };
        var tokens = e.SymbolResult?.Tokens;
        string? value = tokens is { Count: > 0 } ? tokens[^1].Value : null;
        var m = e.Message;
        if (m.StartsWith("Cannot parse argument", StringComparison.Ordinal))
        {
            value ??= m.Split('\'').ElementAtOrDefault(1);
            if (option != null) return $"{option.Option.Name} '{value}' is not {Kind(option.Option.ValueType)}";
            if (e.SymbolResult is ArgumentResult ar) return $"{ar.Argument.Name.ToUpperInvariant()} '{value}' is not {Kind(ar.Argument.ValueType)}";
        }
        if (m.Contains("not recognized. Must be one of:", StringComparison.Ordinal))
        {
            // "Argument 'x' not recognized. Must be one of:\n\t'a'\n\t'b'" → "--opt 'x' is not one of: a, b"
            value = m.Split('\'').ElementAtOrDefault(1) ?? value;
            var choices = m[(m.IndexOf(':') + 1)..].Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(c => c.Trim('\''));
            return $"{(option != null ? option.Option.Name + " " : "")}'{value}' is not one of: {string.Join(", ", choices)}";
        }
        if (m.StartsWith("Unrecognized command or argument", StringComparison.Ordinal))
        {
            var tok = m.Split('\'').ElementAtOrDefault(1) ?? "";
            return tok.StartsWith('-') ? $"unknown option '{tok}'" : $"unexpected argument '{tok}' (quote a question that has spaces)";
        }
        if (m == "Required command was not provided.") return "no verb given";
        if (m.StartsWith("Option '", StringComparison.Ordinal) && m.EndsWith("' is required.", StringComparison.Ordinal))
            return $"{m.Split('\'')[1]} is required";
        return m.TrimEnd('.');
    }

    /// <summary>The error to show first: an unknown option explains the stray arguments after it.</summary>
    private static ParseError FirstError(IReadOnlyList<ParseError> errors) =>
        errors.FirstOrDefault(e => e.Message.StartsWith("unknown option", StringComparison.Ordinal)
                                   || e.Message.StartsWith("Unrecognized command or argument '-", StringComparison.Ordinal)) ?? errors[0];

    private static string Kind(Type t) => (Nullable.GetUnderlyingType(t) ?? t) switch
    {
        var x when x == typeof(int) || x == typeof(long) => "a whole number",
        var x when x == typeof(double) || x == typeof(float) => "a number",
        var x when x == typeof(bool) => "true or false",
        var x => $"a valid {x.Name.ToLowerInvariant()}",
    };

    private static string CommandPath(CommandResult r)
    {
        var names = new List<string>();
        for (SymbolResult? s = r; s is CommandResult c; s = c.Parent) names.Insert(0, c.Command is RootCommand ? "autoprune" : c.Command.Name);
        return string.Join(' ', names);
    }

    /// <summary>One printable line: newlines and tabs become spaces, other control characters (e.g. NUL bytes read from
    /// a damaged file) are dropped.</summary>
    public static string OneLine(string message)
    {
        var sb = new StringBuilder(message.Length);
        foreach (var ch in message)
        {
            if (ch is '\n' or '\r' or '\t') { if (sb.Length > 0 && sb[^1] != ' ') sb.Append(' '); }
            else if (!char.IsControl(ch) && ch != '\uFFFD') sb.Append(ch);
        }
        return sb.ToString().Trim();
    }

    /// <summary>Adds a parser check: a value given on the command line must satisfy <paramref name="ok"/>, else a usage
    /// error "--name 'value' must be ...".</summary>
    public static Option<T> Validate<T>(this Option<T> option, Func<T, bool> ok, string must)
    {
        option.Validators.Add(r =>
        {
            if (r.Implicit || r.Tokens.Count == 0) return;
            T v;
            try { v = r.GetValueOrDefault<T>(); } catch (InvalidOperationException) { return; }   // a type error is reported on its own
            if (!ok(v)) r.AddError($"{option.Name} '{r.Tokens[^1].Value}' must be {must}");
        });
        return option;
    }

    public const string EmbeddedModelName = "llava-shapes-tiny";

    /// <summary>
    /// The model folder: --model (a folder or a Hugging Face repo id found in the local cache), else $AUTOPRUNE_MODEL,
    /// else models/llava-shapes-tiny found above the current directory or above the tool's own directory (a checkout).
    /// </summary>
    public static string ModelDir(string? option)
    {
        // Folders and repo ids are told apart by ModelFolder.Resolve when the model loads.
        if (!string.IsNullOrEmpty(option)) return option;
        var env = Environment.GetEnvironmentVariable(ModelVariable);
        if (!string.IsNullOrEmpty(env)) return env;
        foreach (var start in new[] { Environment.CurrentDirectory, AppContext.BaseDirectory })
        {
            for (var d = new DirectoryInfo(start); d != null; d = d.Parent)
            {
                var p = Path.Combine(d.FullName, "models", EmbeddedModelName);
                if (File.Exists(Path.Combine(p, "config.json"))) return p;
            }
        }
        throw new ModelLoadException($"no model given and the embedded model models/{EmbeddedModelName} (part of the repository checkout) was not found above " +
            $"{Environment.CurrentDirectory}; pass --model DIR or a Hugging Face repo id, or set {ModelVariable}");
    }

    public static Option<string?> ModelOption() => new("--model", "-m")
    {
        Description = "model: a llava-hf folder (config.json, *.safetensors, tokenizer.model or tokenizer.json) or a Hugging Face repo id " +
                      "such as llava-hf/llava-1.5-7b-hf, found offline in $HF_HOME/hub or ~/.cache/huggingface/hub; or llama.cpp GGUF files: " +
                      "a folder holding the language-model and mmproj .gguf, or the language-model .gguf with --mmproj. " +
                      $"Default: ${ModelVariable}, else the embedded {EmbeddedModelName} of a repository checkout",
        HelpName = "DIR|ORG/NAME",
    };

    public static Option<string?> MmprojOption() => new("--mmproj")
    {
        Description = "llama.cpp mmproj GGUF (vision tower + projector) for a GGUF language model given as --model FILE.gguf",
        HelpName = "FILE",
    };

    public static Option<string?> QuantizeOption() => new Option<string?>("--quantize")
    {
        Description = "quantize a safetensors model's language-model matrices when loading: q8_0 or q4_k",
        HelpName = "TYPE",
    }.AcceptOnlyFromAmong("q8_0", "q4_k");

    public static Option<string> KvCacheOption() => new Option<string>("--kv-cache")
    {
        Description = "number format of the KV cache: f32 (default, exact) or bf16 (half the cache memory and decode attention reads; " +
                      "keys and values rounded to bfloat16 as they are stored, so answers can differ slightly from f32)",
        DefaultValueFactory = _ => "f32", HelpName = "TYPE",
    }.AcceptOnlyFromAmong("f32", "bf16");

    /// <summary>"f32" or "bf16" as a KV cache type; null for anything else.</summary>
    public static Models.KvCacheType? ParseKvCache(string text) => text switch
    {
        "f32" => Models.KvCacheType.F32,
        "bf16" => Models.KvCacheType.BF16,
        _ => null,
    };

    public static string KvCacheName(Models.KvCacheType t) => t == Models.KvCacheType.BF16 ? "bf16" : "f32";

    /// <summary>
    /// A LLaVA-1.5 or LLaVA-NeXT model, as the folder's config.json (or a GGUF path) says, loaded as the
    /// --model/--weights/--mmproj/--quantize options name, its runs using the --kv-cache type.
    /// </summary>
    public static Models.IVisionLanguageModel LoadModel(ParseResult r, Option<string?> model, Option<string?> weights, Option<string?> mmproj,
        Option<string?> quantize, bool padToSquare = false, Option<bool>? checkWeights = null, Option<string>? kvCache = null)
    {
        var q = r.GetValue(quantize);
        var m = Models.VisionLanguageModel.Load(ModelDir(r.GetValue(model)), r.GetValue(weights), padToSquare, r.GetValue(mmproj),
            q == null ? null : Tensors.Quant.WeightQuantizer.Parse(q));
        if (kvCache != null) m.LanguageModel.KvCacheType = ParseKvCache(r.GetValue(kvCache)!) ?? Models.KvCacheType.F32;
        if (checkWeights is not null && r.GetValue(checkWeights) && m.Weights.FindNonFinite() is { } bad)
        {
            m.Dispose();
            throw new NonFiniteValueException($"{m.Weights.Source}: tensor '{bad.Tensor}' holds {bad.Value} at element {bad.Index}");
        }
        return m;
    }

    public static Option<bool> CheckWeightsOption() => new("--check-weights")
    {
        Description = "read every weight once after loading and refuse NaN or infinite values (costs a full read of the weights: seconds for a 7B model)",
    };

    public static Option<string?> WeightsOption() => new("--weights")
    {
        Description = "a specific .safetensors file inside the model folder (e.g. model.bf16.safetensors)",
        HelpName = "FILE",
    };

    public static Option<bool> JsonOption() => new("--json") { Description = "print one JSON object instead of text" };

    public static Option<int?> MaxNewTokensOption() => new Option<int?>("--max-new-tokens")
    {
        Description = "stop after this many answer tokens (default: the model's generation_config.json)",
        HelpName = "N",
    }.Validate(v => v is null or >= 1, "at least 1");

    public static Option<long?> MaxImagePixelsOption() => new Option<long?>("--max-image-pixels")
    {
        Description = $"refuse images with more pixels than this, read from the file header before decoding (default {ImageLoader.DefaultMaxPixels}, as Pillow)",
        HelpName = "N",
    }.Validate(v => v is null or >= 1 and <= ImageLoader.MaxPixelsCeiling, $"from 1 to {ImageLoader.MaxPixelsCeiling}");

    /// <summary>Applies --max-image-pixels for this process (the limit is process-wide, as Pillow's is).</summary>
    public static void ApplyImageLimit(ParseResult r, Option<long?> option)
    {
        if (r.GetValue(option) is long n) ImageLoader.MaxPixels = n;
    }

    public static Option<bool> PadToSquareOption() => new("--pad-to-square")
    {
        Description = "pad the image to a square with the mean color first (original LLaVA), instead of llava-hf's center crop",
    };

    public static Option<string> ImageOption() => new("--image", "-i") { Description = "image file (PNG, JPEG, BMP, GIF, TGA)", Required = true, HelpName = "FILE" };

    public static Argument<string> QuestionArgument()
    {
        var q = new Argument<string>("question") { Description = "the question about the image (quote it)" };
        return RejectUnknownOptions(q);
    }

    /// <summary>The parser takes an unknown "--flag" for a positional value; report it as the unknown option it is.</summary>
    public static Argument<T> RejectUnknownOptions<T>(Argument<T> argument)
    {
        argument.Validators.Add(r =>
        {
            foreach (var t in r.Tokens)
                if (t.Value.StartsWith('-')) { r.AddError($"unknown option '{t.Value}'"); return; }
        });
        return argument;
    }
}

/// <summary>A command-line value that is wrong in itself (exit 2), found after parsing.</summary>
public sealed class UsageException(string message) : Exception(message);
