using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using AutoPrune.Pruning;
using AutoPrune.Server;

namespace AutoPrune.Cli.Commands;

/// <summary>
/// `autoprune bench-serve`: requests/s and latency percentiles of the HTTP server under 1, 4 and 8 concurrent clients,
/// per pruning policy, against an in-process server on a loopback port (or a running one with --url).
/// </summary>
public static class BenchServeCommand
{
    private sealed record Row(string Policy, int Clients, int Requests, double Seconds, double P50, double P95, double MeanVisualTokens)
    {
        public double RequestsPerSecond => Requests / Seconds;
    }

    public static Command Create()
    {
        var model = Cli.ModelOption();
        var weights = Cli.WeightsOption();
        var url = new Option<string?>("--url") { Description = "benchmark a server already running there instead of starting one", HelpName = "URL" };
        var requests = new Option<int>("--requests") { Description = "requests per policy and client count", DefaultValueFactory = _ => 48, HelpName = "N" }
            .Validate(n => n >= 1, "at least 1");
        var clients = new Option<string>("--clients") { Description = "client counts, comma-separated", DefaultValueFactory = _ => "1,4,8", HelpName = "LIST" };
        var policies = new Option<string>("--policies") { Description = "policies as NAME or NAME:BUDGET, comma-separated", DefaultValueFactory = _ => "none,autoprune:57", HelpName = "LIST" };
        var images = new Option<string[]>("--image") { Description = "images the requests cycle through (default: samples/*.png of the checkout)", HelpName = "FILE", AllowMultipleArgumentsPerToken = false };
        var json = Cli.JsonOption();
        var cmd = new Command("bench-serve", "Requests/s and p50/p95 latency of `autoprune serve` under concurrent clients, unpruned vs pruned")
        {
            model, weights, url, requests, clients, policies, images, json,
        };
        cmd.SetAction(async r =>
        {
            var counts = ParseList<int>(r.GetValue(clients)!, "--clients", s => int.TryParse(s, out var n) && n >= 1 ? n : null);
            var pols = ParseList<(string name, double? budget)>(r.GetValue(policies)!, "--policies", s =>
            {
                var p = s.Split(':');
                double? b = p.Length == 2 && double.TryParse(p[1], NumberStyles.Float, CultureInfo.InvariantCulture, out var v) ? v : null;
                if (p.Length > 2 || (p.Length == 2 && b == null)) return null;
                PolicyFactory.Create(p[0], new PolicyOptions { Budget = b });
                return (p[0], b);
            });
            var imageFiles = r.GetValue(images) is { Length: > 0 } given ? given
                : Directory.GetFiles(Path.Combine(Path.GetDirectoryName(Path.GetDirectoryName(Cli.ModelDir(r.GetValue(model)))!)!, "samples"), "*.png");
            var payloads = imageFiles.Select(f => "data:image/png;base64," + Convert.ToBase64String(File.ReadAllBytes(f))).ToArray();
            if (payloads.Length == 0) throw new UsageException("no images: pass --image FILE");

            Models.IVisionLanguageModel? m = null;
            AutoPruneServer? server = null;
            string baseUrl = r.GetValue(url) ?? "";
            try
            {
                if (baseUrl.Length == 0)
                {
                    m = Models.VisionLanguageModel.Load(Cli.ModelDir(r.GetValue(model)), r.GetValue(weights));
                    server = new AutoPruneServer(m, new ServerOptions { Port = 0, LogFormat = "none", MaxQueued = counts.Max() });
                    await server.StartAsync();
                    baseUrl = server.Url;
                }
                using var http = new HttpClient { BaseAddress = new Uri(baseUrl), Timeout = TimeSpan.FromMinutes(10) };
                var questions = new[] { "What color is the triangle?", "How many objects are there?", "Is there a red shape?", "What shape is the blue object?" };
                string Body(int i, (string name, double? budget) p) => new JsonObject
                {
                    ["messages"] = new JsonArray(new JsonObject
                    {
                        ["role"] = "user",
                        ["content"] = new JsonArray(
                            new JsonObject { ["type"] = "image_url", ["image_url"] = new JsonObject { ["url"] = payloads[i % payloads.Length] } },
                            new JsonObject { ["type"] = "text", ["text"] = questions[i % questions.Length] }),
                    }),
                    ["autoprune"] = new JsonObject { ["policy"] = p.name, ["budget"] = p.budget },
                }.ToJsonString();

                var rows = new List<Row>();
                foreach (var p in pols)
                {
                    for (int i = 0; i < 4; i++) await Send(http, Body(i, p));      // warm-up: JIT, caches
                    foreach (int c in counts)
                    {
                        int n = r.GetValue(requests), next = -1;
                        var latencies = new double[n];
                        double visual = 0;
                        var sw = Stopwatch.StartNew();
                        await Task.WhenAll(Enumerable.Range(0, c).Select(_ => Task.Run(async () =>
                        {
                            int k;
                            while ((k = Interlocked.Increment(ref next)) < n)
                            {
                                var t0 = Stopwatch.GetTimestamp();
                                var mv = await Send(http, Body(k, p));
                                latencies[k] = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
                                if (k == 0) visual = mv;
                            }
                        })));
                        Array.Sort(latencies);
                        rows.Add(new Row(p.budget is double b ? $"{p.name}@{b}" : p.name, c, n, sw.Elapsed.TotalSeconds,
                            Percentile(latencies, 0.50), Percentile(latencies, 0.95), visual));
                    }
                }
                (double, double, double)? followUp = m == null ? null : FollowUp(m, imageFiles[0]);
                Print(r.InvocationConfiguration.Output, rows, followUp, r.GetValue(json));
            }
            finally
            {
                if (server != null) await server.DisposeAsync();
                m?.Dispose();
            }
            return 0;
        });
        return cmd;
    }

    /// <summary>
    /// A follow-up question about an image already seen: the conversation's prefill with the image's features from
    /// the cache against the same prefill encoding the image again (median of 9 each, alternating).
    /// </summary>
    private static (double cachedMs, double encodedMs, double visionMs) FollowUp(Models.IVisionLanguageModel m, string imageFile)
    {
        var image = new Models.ImageInput(File.ReadAllBytes(imageFile), imageFile);
        var first = new Models.Turn(Models.Speaker.User, "What color is the triangle?", [image]);
        var answer = Models.Generator.Chat(m, [first]).Text;
        Models.Turn[] turns = [first, new(Models.Speaker.Assistant, answer), new(Models.Speaker.User, "How many objects are there?")];
        var cache = new Models.ImageFeatureCache(m);
        cache.GetOrEncode(m, image);
        var options = new Models.GenerationOptions { MaxNewTokens = 1 };
        double[] cached = new double[9], encoded = new double[9], vision = new double[9];
        for (int i = 0; i < 9; i++)
        {
            cached[i] = Models.Generator.Chat(m, turns, options, cache).PrefillMs;
            var fresh = Models.Generator.Chat(m, turns, options);
            encoded[i] = fresh.PrefillMs;
            vision[i] = fresh.Trace.VisionMs;
        }
        Array.Sort(cached); Array.Sort(encoded); Array.Sort(vision);
        return (cached[4], encoded[4], vision[4]);
    }

    /// <summary>One request; the mean visual tokens it reports. A non-200 answer ends the benchmark.</summary>
    private static async Task<double> Send(HttpClient http, string body)
    {
        using var res = await http.PostAsync("/v1/chat/completions", new StringContent(body, Encoding.UTF8, "application/json"));
        var text = await res.Content.ReadAsStringAsync();
        if (!res.IsSuccessStatusCode) throw new IOException($"the server answered {(int)res.StatusCode}: {Cli.OneLine(text)}");
        using var doc = JsonDocument.Parse(text);
        return doc.RootElement.GetProperty("autoprune").GetProperty("mean_visual_tokens").GetDouble();
    }

    private static double Percentile(double[] sorted, double q) => sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(q * sorted.Length) - 1)];

    private static List<T> ParseList<T>(string list, string option, Func<string, T?> parse) where T : struct
    {
        var items = new List<T>();
        foreach (var s in list.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
            items.Add(parse(s) ?? throw new UsageException($"{option} '{s}' is not valid"));
        if (items.Count == 0) throw new UsageException($"{option} is empty");
        return items;
    }

    private static void Print(TextWriter o, List<Row> rows, (double cachedMs, double encodedMs, double visionMs)? followUp, bool json)
    {
        if (json)
        {
            o.WriteLine(JsonSerializer.Serialize(new
            {
                load = rows.Select(x => new
                {
                    policy = x.Policy, clients = x.Clients, requests = x.Requests, seconds = Math.Round(x.Seconds, 3),
                    requests_per_second = Math.Round(x.RequestsPerSecond, 2), p50_ms = Math.Round(x.P50, 1), p95_ms = Math.Round(x.P95, 1),
                    mean_visual_tokens = x.MeanVisualTokens,
                }),
                follow_up = followUp is { } f ? new { cached_prefill_ms = Math.Round(f.cachedMs, 2), encoded_prefill_ms = Math.Round(f.encodedMs, 2), vision_ms = Math.Round(f.visionMs, 2) } : null,
            }));
            return;
        }
        o.WriteLine("| policy | clients | requests | req/s | p50 ms | p95 ms | mean visual tokens/layer |");
        o.WriteLine("|---|---:|---:|---:|---:|---:|---:|");
        foreach (var x in rows)
            o.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| {x.Policy} | {x.Clients} | {x.Requests} | {x.RequestsPerSecond:F2} | {x.P50:F0} | {x.P95:F0} | {x.MeanVisualTokens:F1} |"));
        if (followUp is { } fu)
            o.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"\nfollow-up question on a cached image: prefill {fu.cachedMs:F1} ms vs {fu.encodedMs:F1} ms re-encoding it (vision tower {fu.visionMs:F1} ms; {100 * (1 - fu.cachedMs / fu.encodedMs):F0}% saved)"));
    }
}
