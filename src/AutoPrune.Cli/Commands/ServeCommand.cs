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
        var mmproj = Cli.MmprojOption();
        var quantize = Cli.QuantizeOption();
        var kvCache = Cli.KvCacheOption();
        var host = new Option<string>("--host") { Description = "IP address to listen on (0.0.0.0: every interface)", DefaultValueFactory = _ => d.Host, HelpName = "ADDR" }
            .Validate(h => System.Net.IPAddress.TryParse(h, out _), "an IP address such as 127.0.0.1 or 0.0.0.0");
        var port = new Option<int>("--port") { Description = "TCP port (0: any free port; the address is printed)", DefaultValueFactory = _ => d.Port, HelpName = "PORT" }
            .Validate(p => p is >= 0 and <= 65535, "a port from 0 to 65535");
        var concurrent = new Option<int>("--max-concurrent") { Description = "requests generating at once", DefaultValueFactory = _ => d.MaxConcurrent, HelpName = "N" }
            .Validate(n => n >= 1, "at least 1");
        var queued = new Option<int>("--max-queue") { Description = "requests waiting beyond those; more are answered 429 with Retry-After", DefaultValueFactory = _ => d.MaxQueued, HelpName = "N" }
            .Validate(n => n >= 0, "at least 0");
        var timeout = new Option<double>("--timeout") { Description = "seconds one request may take, queueing included (503 while queued, 504 once running)", DefaultValueFactory = _ => d.RequestTimeout.TotalSeconds, HelpName = "S" }
            .Validate(s => s > 0 && s <= 86400, "between 0 and 86400 seconds");
        var maxTokens = new Option<int>("--max-tokens-limit") { Description = "largest max_tokens a request may ask for", DefaultValueFactory = _ => d.MaxNewTokens, HelpName = "N" }
            .Validate(n => n >= 1, "at least 1");
        var maxImages = new Option<int>("--max-images") { Description = "images per request", DefaultValueFactory = _ => d.MaxImages, HelpName = "N" }
            .Validate(n => n >= 1, "at least 1");
        var maxImageMb = new Option<double>("--max-image-mb") { Description = "largest image, decoded from base64", DefaultValueFactory = _ => d.MaxImageBytes / 1048576.0, HelpName = "MB" }
            .Validate(m => m > 0 && m <= 2047, "between 0 and 2047");
        var maxBodyMb = new Option<double>("--max-body-mb") { Description = "largest request body", DefaultValueFactory = _ => d.MaxBodyBytes / 1048576.0, HelpName = "MB" }
            .Validate(m => m > 0 && m <= 2047, "between 0 and 2047");
        var maxPrompt = new Option<int?>("--max-prompt-tokens") { Description = "positions a prompt may need: text + visual tokens (before pruning) + max_tokens (default: the model's max_position_embeddings)", HelpName = "N" }
            .Validate(n => n is null or >= 1, "at least 1");
        var local = new Option<bool>("--allow-local-images") { Description = "accept absolute file paths and file:// URLs as image_url (off: base64 data: URLs only)" };
        var logFormat = new Option<string>("--log-format") { Description = "request log lines on stderr: text, json or none", DefaultValueFactory = _ => d.LogFormat, HelpName = "FORMAT" };
        logFormat.AcceptOnlyFromAmong("text", "json", "none");
        var pruning = new PolicyOptionsCli();
        pruning.Policy.Description = $"default pruning policy of requests without \"autoprune\": {{\"policy\": ...}} ({string.Join(", ", PolicyFactory.Names)})";
        pruning.Budget.Description = "default budget: mean visual tokens per decoder layer";

        var cmd = new Command("serve", "Serve the model over an OpenAI-compatible HTTP API (POST /v1/chat/completions, GET /v1/models, GET /health); Ctrl+C stops it after the requests in flight")
        {
            model, weights, mmproj, quantize, kvCache, host, port, concurrent, queued, timeout, maxTokens, maxImages, maxImageMb, maxBodyMb,
            maxPrompt, local, logFormat,
        };
        pruning.AddTo(cmd);
        cmd.SetAction(async r =>
        {
            var po = pruning.Options(r, r.GetValue(pruning.Budget));
            var policy = r.GetValue(pruning.Policy)!;
            PolicyFactory.Create(policy, po);      // a bad default is an error now, not in every request
            var options = new ServerOptions
            {
                Host = r.GetValue(host)!, Port = r.GetValue(port),
                DefaultPolicy = policy, DefaultBudget = po.Budget, DefaultSettings = po.Settings, DefaultPositions = po.Positions,
                MaxConcurrent = r.GetValue(concurrent), MaxQueued = r.GetValue(queued),
                RequestTimeout = TimeSpan.FromSeconds(r.GetValue(timeout)),
                MaxNewTokens = r.GetValue(maxTokens), MaxImages = r.GetValue(maxImages),
                MaxImageBytes = (int)Math.Min(int.MaxValue, r.GetValue(maxImageMb) * 1048576),
                MaxBodyBytes = (long)(r.GetValue(maxBodyMb) * 1048576),
                MaxPromptTokens = r.GetValue(maxPrompt),
                AllowLocalImages = r.GetValue(local),
                LogFormat = r.GetValue(logFormat)!,
            };
            using var m = Cli.LoadModel(r, model, weights, mmproj, quantize, kvCache: kvCache);
            await using var server = new AutoPruneServer(m, options);
            await server.StartAsync();
            r.InvocationConfiguration.Output.WriteLine($"listening on {server.Url}");
            r.InvocationConfiguration.Output.Flush();
            await server.WaitForShutdownAsync();     // Ctrl+C / SIGTERM: the host stops gracefully
            return 0;
        });
        return cmd;
    }
}
