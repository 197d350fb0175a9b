namespace AutoPrune.Evaluation;

/// <summary>Median prefill time of each configuration and its median speedup over configuration 0 (the unpruned one).</summary>
/// <param name="MedianMs">Per configuration, the median over the timed questions.</param>
/// <param name="Speedup">Per configuration, the median over questions of (configuration 0's time / this time) on the same
/// question and repetition; 1 for configuration 0.</param>
public sealed record SweepTimings(int Questions, int Repetitions, double[] MedianMs, double[] Speedup);

/// <summary>
/// Fair wall-clock comparison of several configurations on the same questions: one untimed warm-up pass over every
/// configuration first (JIT, caches, page faults), then per question and repetition every configuration once, in an
/// order that rotates from one question to the next, so drift in machine load and order effects fall on all of them
/// alike. Speedups are medians of paired ratios, which a few disturbed measurements do not move.
/// </summary>
public static class SweepTiming
{
    /// <param name="prefillMs">Runs configuration c on a question and returns its measured time in ms.</param>
    public static SweepTimings Measure(int configurations, IReadOnlyList<EvalQuestion> questions, int repetitions,
        Func<int, EvalQuestion, double> prefillMs, CancellationToken cancellationToken = default, Action<int, int>? progress = null)
    {
        if (configurations < 1 || questions.Count == 0 || repetitions < 1)
            throw new ArgumentOutOfRangeException(nameof(configurations), "timing needs at least one configuration, question and repetition");
        for (int c = 0; c < configurations; c++) prefillMs(c, questions[0]);   // warm-up, not recorded

        int samples = questions.Count * repetitions, done = 0;
        var ms = new double[configurations][];
        for (int c = 0; c < configurations; c++) ms[c] = new double[samples];
        for (int s = 0; s < samples; s++)
        {
            var q = questions[s % questions.Count];
            for (int k = 0; k < configurations; k++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                int c = (s + k) % configurations;
                ms[c][s] = prefillMs(c, q);
                progress?.Invoke(++done, samples * configurations);
            }
        }
        var median = new double[configurations];
        var speedup = new double[configurations];
        var ratios = new double[samples];
        for (int c = 0; c < configurations; c++)
        {
            median[c] = Median(ms[c]);
            for (int s = 0; s < samples; s++) ratios[s] = ms[0][s] / Math.Max(ms[c][s], 1e-9);
            speedup[c] = c == 0 ? 1 : Median(ratios);
        }
        return new SweepTimings(questions.Count, repetitions, median, speedup);
    }

    public static double Median(IReadOnlyList<double> values)
    {
        if (values.Count == 0) throw new ArgumentException("no values", nameof(values));
        var a = values.ToArray();
        Array.Sort(a);
        int n = a.Length;
        return n % 2 == 1 ? a[n / 2] : 0.5 * (a[n / 2 - 1] + a[n / 2]);
    }
}
