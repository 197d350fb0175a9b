using System.CommandLine;
using AutoPrune.Models;
using AutoPrune.Pruning;
using AutoPrune.Server;

namespace AutoPrune.Cli.Commands;

/// <summary>`autoprune serve`: the OpenAI-compatible HTTP server over one model.</summary>
public static class ServeCommand
{
    public static Command Create()
    {
        var d = new ServerOptions();
        var model = Cli.ModelOption();
        var weights = Cli.WeightsOption();
        var host = new Option<string>("--host") { Description = "address to listen on (0.0.0.0: every interface)", DefaultValueFactory = _ => d.Host, HelpName = "ADDR" };
        var port = new Option<int>("--port") { Description = "TCP port (0: any free port)", DefaultValueFactory = _ => d.Port, HelpName = "PORT" };
        var concurrent = new Option<int>("--max-concurrent") { Description = "requests generating at once", DefaultValueFactory = _ => d.MaxConcurrent, HelpName = "N" };
        var queued = new Option<int>("--max-queue") { Description = "requests waiting beyond those; more are answered 429 with Retry-After", DefaultValueFactory = _ => d.MaxQueued, HelpName = "N" };
        var timeout = new Option<double>("--timeout") { Description = "seconds one request may take, queueing included (503 while queued, 504 once running)", DefaultValueFactory = _ => d.RequestTimeout.TotalSeconds, HelpName = "S" };
        var maxTokens = new Option<int>("--max-tokens-limit") { Description = "largest max_tokens a request may ask for", DefaultValueFactory = _ => d.MaxNewTokens, HelpName = "N" };
        var maxImages = new Option<int>("--max-images") { Description = "images per request", DefaultValueFactory = _ => d.MaxImages, HelpName = "N" };
        var maxImageMb = new Option<double>("--max-image-mb") { Description = "largest image, decoded from base64", DefaultValueFactory = _ => d.MaxImageBytes / 1048576.0, HelpName = "MB" };
        var maxBodyMb = new Option<double>("--max-body-mb") { Description = "largest request body", DefaultValueFactory = _ => d.MaxBodyBytes / 1048576.0, HelpName = "MB" };
        var maxPrompt = new Option<int?>("--max-prompt-tokens") { Description = "positions a prompt may need: text + visual tokens (before pruning) + max_tokens (default: the model's max_position_embeddings)", HelpName = "N" };
        var local = new Option<bool>("--allow-local-images") { Description = "accept absolute file paths and file:// URLs as image_url (off: base64 data: URLs only)" };
        var logFormat = new Option<string>("--log-format") { Description = "request log lines on stderr: text, json or none", DefaultValueFactory = _ => d.LogFormat, HelpName = "FORMAT" };
        logFormat.AcceptOnlyFromAmong("text", "json", "none");
        var (policy, budget, settings, positions) = PolicyOptionsCli.Create();
        policy.Description = $"default pruning policy for requests that do not set \"autoprune\": {{\"policy\": ...}} ({string.Join(", ", PolicyFactory.Names)})";
        budget.Description = "default budget: mean visual tokens per decoder layer";

        var cmd = new Command("serve", "Serve the model over an OpenAI-compatible HTTP API (POST /v1/chat/completions, GET /v1/models, GET /health)")
        {
            model, weights, host, port, policy, budget, settings, positions, concurrent, queued, timeout, maxTokens, maxImages, maxImageMb, maxBodyMb,
            maxPrompt, local, logFormat,
        };
        foreach (var f in PolicyOptionsCli.SettingFlags()) cmd.Options.Add(f);
        cmd.SetAction(async r =>
        {
            var po = PolicyOptionsCli.BuildOptions(r, budget, settings, positions);
            PolicyFactory.Create(r.GetValue(policy)!, po);      // a bad default is an error now, not in every request
            var options = new ServerOptions
            {
                Host = r.GetValue(host)!, Port = Positive(r.GetValue(port), "port", allowZero: true),
                DefaultPolicy = r.GetValue(policy)!, DefaultBudget = po.Budget, DefaultSettings = po.Settings, DefaultPositions = po.Positions,
                MaxConcurrent = Positive(r.GetValue(concurrent), "concurrent requests"),
                MaxQueued = Positive(r.GetValue(queued), "queued requests", allowZero: true),
                RequestTimeout = TimeSpan.FromSeconds(PositiveSeconds(r.GetValue(timeout))),
                MaxNewTokens = Positive(r.GetValue(maxTokens), "max tokens limit"),
                MaxImages = Positive(r.GetValue(maxImages), "images per request"),
                MaxImageBytes = (int)Math.Min(int.MaxValue, Mb(r.GetValue(maxImageMb), "image size")),
                MaxBodyBytes = Mb(r.GetValue(maxBodyMb), "body size"),
                MaxPromptTokens = r.GetValue(maxPrompt) is int mp ? Positive(mp, "prompt tokens") : null,
                AllowLocalImages = r.GetValue(local),
                LogFormat = r.GetValue(logFormat)!,
            };
            if (!System.Net.IPAddress.TryParse(options.Host, out _))
                throw new ArgumentException($"host '{options.Host}' is not an IP address (e.g. 127.0.0.1 or 0.0.0.0)");
            using var m = LlavaModel.Load(r.GetValue(model) ?? Cli.DefaultModelDir(), r.GetValue(weights));
            await using var server = new AutoPruneServer(m, options);
            await server.StartAsync();
            r.InvocationConfiguration.Output.WriteLine($"listening on {server.Url}");
            r.InvocationConfiguration.Output.Flush();
            await server.WaitForShutdownAsync();     // Ctrl+C / SIGTERM: the host stops gracefully
            return 0;
        });
        return cmd;
    }

    private static int Positive(int v, string what, bool allowZero = false) =>
        v > 0 || (allowZero && v == 0) ? v : throw new ArgumentException($"{what} must be {(allowZero ? ">= 0" : "> 0")} (got {v})");

    private static double PositiveSeconds(double s) =>
        s > 0 && s <= 86400 ? s : throw new ArgumentException($"timeout must be between 0 and 86400 seconds (got {s})");

    private static long Mb(double mb, string what) =>
        mb > 0 && mb <= 2047 ? (long)(mb * 1048576) : throw new ArgumentException($"{what} must be between 0 and 2047 MB (got {mb})");
}
