using AutoPrune.Tensors;

namespace AutoPrune.Tests.Support;

/// <summary>
/// Runs code under a given <see cref="Parallelism.MaxThreads"/> and restores the previous value; for the tests of the
/// <see cref="ThreadCountCollection"/>, which compare results across thread counts.
/// </summary>
public static class Threads
{
    public static T With<T>(int threads, Func<T> body)
    {
        int saved = Parallelism.MaxThreads;
        Parallelism.MaxThreads = threads;
        try { return body(); }
        finally { Parallelism.MaxThreads = saved; }
    }

    public static void With(int threads, Action body) => With(threads, () => { body(); return 0; });
}
