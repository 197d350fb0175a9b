using System.CommandLine;
using AutoPrune.Models;
using AutoPrune.Pruning;

namespace AutoPrune.Cli.Commands;

/// <summary>
/// `autoprune chat`: an interactive conversation. Lines are questions; /image PATH attaches an image to the next
/// question, /policy NAME [BUDGET] switches pruning, /reset starts over, /quit (or end of input) leaves. Each answer
/// re-runs the whole conversation with the current policy, streams on stdout, and prints its accounting on stderr.
/// </summary>
public static class ChatCommand
{
    /// <param name="input">Where the lines come from (default: the console).</param>
    public static Command Create(TextReader? input = null)
    {
        var image = new Option<string?>("--image", "-i") { Description = "an image for the first question (more with /image PATH)", HelpName = "FILE" };
        var model = Cli.ModelOption();
        var weights = Cli.WeightsOption();
        var mmproj = Cli.MmprojOption();
        var quantize = Cli.QuantizeOption();
        var kvCache = Cli.KvCacheOption();
        var maxNew = Cli.MaxNewTokensOption();
        var sampling = new SamplingOptionsCli();
        var pruning = new PolicyOptionsCli();

        var cmd = new Command("chat", "Talk with the model: questions on stdin, /image PATH, /policy NAME [BUDGET], /reset, /quit")
        {
            image, model, weights, mmproj, quantize, kvCache, maxNew,
        };
        sampling.AddTo(cmd);
        pruning.AddTo(cmd);
        cmd.SetAction(r =>
        {
            var o = r.InvocationConfiguration.Output;
            var e = r.InvocationConfiguration.Error;
            var policyOptions = pruning.Options(r, r.GetValue(pruning.Budget));
            string policyName = r.GetValue(pruning.Policy)!;
            PolicyFactory.Create(policyName, policyOptions);        // a bad starting policy is an error before the model loads
            var decoding = sampling.Options(r, r.GetValue(maxNew));
            Sampling.Validate(decoding);
            var pending = new List<ImageInput>();
            if (r.GetValue(image) is string first) pending.Add(ImageInput.FromFile(first));
            using var m = Cli.LoadModel(r, model, weights, mmproj, quantize, kvCache: kvCache);
            var turns = new List<Turn>();
            var cache = new ImageFeatureCache(m);       // follow-up questions reuse the images' encodings
            var reader = input ?? Console.In;
            bool prompt = input == null && !Console.IsInputRedirected;
            e.WriteLine($"chat with {Path.GetFileName(m.Directory.TrimEnd('/'))}, policy {Describe(policyName, policyOptions)}; " +
                        "/image PATH, /policy NAME [BUDGET], /reset, /quit");
            while (true)
            {
                if (prompt) { o.Write("> "); o.Flush(); }
                var line = reader.ReadLine();
                if (line == null) break;
                line = line.Trim();
                if (line.Length == 0) continue;
                try
                {
                    if (line.StartsWith('/'))
                    {
                        var parts = line.Split(' ', 2, StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
                        switch (parts[0])
                        {
                            case "/quit" or "/exit": return 0;
                            case "/reset": turns.Clear(); pending.Clear(); e.WriteLine("conversation cleared"); break;
                            case "/image":
                                if (parts.Length < 2) throw new InvalidPromptException("/image needs a file path");
                                var img = ImageInput.FromFile(parts[1]);
                                img.Decode();                // a bad image is reported now, not with the next question
                                pending.Add(img);
                                e.WriteLine($"image {parts[1]} attached to the next question");
                                break;
                            case "/policy":
                                var (name, po) = ParsePolicy(parts.Length > 1 ? parts[1] : "", policyOptions);
                                PolicyFactory.Create(name, po);
                                (policyName, policyOptions) = (name, po);
                                e.WriteLine($"policy {Describe(name, po)}");
                                break;
                            case "/help": e.WriteLine("/image PATH, /policy NAME [BUDGET], /reset, /quit; any other line is a question"); break;
                            default: throw new InvalidPromptException($"unknown command {parts[0]} (/image, /policy, /reset, /quit, /help)");
                        }
                        continue;
                    }
                    var next = new List<Turn>(turns) { new(Speaker.User, line, [.. pending]) };
                    var answer = Generator.Chat(m, next, decoding with
                    {
                        Policy = PolicyFactory.Create(policyName, policyOptions),
                        OnText = t => { o.Write(t); o.Flush(); },
                    }, cache);
                    o.WriteLine();
                    turns = next;
                    turns.Add(new Turn(Speaker.Assistant, answer.Text));
                    pending.Clear();
                    var t = answer.Trace;
                    e.WriteLine($"[{t.Policy}] prefill {answer.PrefillMs:F1} ms (vision {t.VisionMs:F1} ms) | {answer.PromptTokens} prompt ids + {answer.VisualTokens} visual tokens | " +
                                $"decode {answer.DecodeMs:F1} ms ({answer.OutputIds.Length} tokens) | mean visual tokens/layer {t.MeanVisualTokens:F1} | FLOPs -{t.FlopsReduction:F1}%");
                }
                catch (AutoPruneException ex)
                {
                    // One bad line does not end the conversation.
                    o.Flush();
                    e.WriteLine($"error: {ex.Message}");
                }
            }
            return 0;
        });
        return cmd;
    }

    /// <summary>"NAME [BUDGET]": the settings carry over when the policy stays the same.</summary>
    private static (string, PolicyOptions) ParsePolicy(string args, PolicyOptions current)
    {
        var p = args.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (p.Length is 0 or > 2) throw new PruningOptionException("/policy expects NAME [BUDGET], e.g. /policy autoprune 57");
        double? budget = null;
        if (p.Length == 2)
        {
            if (!double.TryParse(p[1], System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var b))
                throw new PruningOptionException($"budget '{p[1]}' is not a number");
            budget = b;
        }
        return (p[0], new PolicyOptions { Budget = budget, Positions = current.Positions });
    }

    private static string Describe(string name, PolicyOptions o) => o.Budget is double b ? $"{name} budget {b}" : name;
}
