using AutoPrune.Evaluation;

namespace AutoPrune.Tests.Evaluation;

public sealed class SweepTimingTests
{
    private static IReadOnlyList<EvalQuestion> Questions(int n) =>
        Enumerable.Range(0, n).Select(i => new EvalQuestion($"q{i}", $"/img{i}.png", "t", null, i)).ToList();

    [Fact]
    public void WarmsUpThenInterleavesWithRotatingOrder()
    {
        var calls = new List<(int c, string q)>();
        SweepTiming.Measure(3, Questions(2), 2, (c, q) => { calls.Add((c, q.QuestionId)); return 1; });
        // Warm-up: every configuration once on the first question; then per (question, repetition) all three, rotated.
        Assert.Equal([(0, "q0"), (1, "q0"), (2, "q0"),
                      (0, "q0"), (1, "q0"), (2, "q0"),
                      (1, "q1"), (2, "q1"), (0, "q1"),
                      (2, "q0"), (0, "q0"), (1, "q0"),
                      (0, "q1"), (1, "q1"), (2, "q1")], calls);
    }

    [Fact]
    public void SpeedupIsTheMedianOfPairedRatiosAndIgnoresAnOutlier()
    {
        int call = 0;
        // Config 0: 10 ms on q0, 20 ms on q1; config 1 takes half; config 2 the same as config 0, with one disturbed run.
        var t = SweepTiming.Measure(3, Questions(2), 2, (c, q) =>
        {
            call++;
            double baseMs = q.QuestionId == "q0" ? 10 : 20;
            if (c == 2 && call == 10) return 1000;   // a disturbed measurement (not in the warm-up)
            return c == 1 ? baseMs / 2 : baseMs;
        });
        Assert.Equal(1, t.Speedup[0]);
        Assert.Equal(2, t.Speedup[1], 12);
        Assert.Equal(1, t.Speedup[2], 12);
        Assert.Equal(15, t.MedianMs[0], 12);
        Assert.Equal(7.5, t.MedianMs[1], 12);
    }

    [Fact]
    public void MedianOfEvenAndOddCounts()
    {
        Assert.Equal(2, SweepTiming.Median([3, 1, 2]));
        Assert.Equal(2.5, SweepTiming.Median([4, 1, 3, 2]));
    }
}
