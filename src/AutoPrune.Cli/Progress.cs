using AutoPrune.Evaluation;
using Spectre.Console;

namespace AutoPrune.Cli;

/// <summary>Live progress bar with rate and ETA on a terminal; plain periodic lines on stderr when redirected.</summary>
public static class EvalProgressDisplay
{
    public static T Run<T>(string title, TextWriter err, Func<IProgress<EvalProgress>, T> work)
    {
        bool interactive = !Console.IsErrorRedirected && !Console.IsOutputRedirected && AnsiConsole.Profile.Capabilities.Interactive
                           && ReferenceEquals(err, Console.Error);
        if (!interactive)
        {
            var last = DateTime.MinValue;
            var plain = new SyncProgress(p =>
            {
                bool final = p.Done == p.Total;
                if (!final && (DateTime.UtcNow - last).TotalSeconds < 10 && p.Done != p.Resumed) return;
                last = DateTime.UtcNow;
                err.WriteLine($"{title}: {p.Done}/{p.Total}" + (p.Resumed > 0 ? $" ({p.Resumed} resumed)" : "") +
                              (p.RatePerSecond > 0 ? $", {p.RatePerSecond:F2} q/s" : "") + (p.Eta is { } eta && !final ? $", ETA {eta:hh\\:mm\\:ss}" : ""));
            });
            return work(plain);
        }
        T result = default!;
        AnsiConsole.Progress()
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn(), new SpinnerColumn())
            .Start(ctx =>
            {
                var task = ctx.AddTask(Markup.Escape(title));
                result = work(new SyncProgress(p =>
                {
                    task.MaxValue = Math.Max(1, p.Total);
                    task.Value = p.Done;
                    task.Description = Markup.Escape($"{title} {p.Done}/{p.Total}" + (p.RatePerSecond > 0 ? $" {p.RatePerSecond:F2} q/s" : ""));
                }));
            });
        return result;
    }

    /// <summary>IProgress that reports synchronously (Progress&lt;T&gt; posts to the thread pool and can reorder).</summary>
    private sealed class SyncProgress(Action<EvalProgress> report) : IProgress<EvalProgress>
    {
        public void Report(EvalProgress value) => report(value);
    }
}
