using System.Runtime.ExceptionServices;

namespace AutoPrune.Tensors;

/// <summary>Body of a <see cref="Parallelism.For{TState}"/> loop: item <paramref name="index"/> of the shared state.</summary>
public delegate void ForBody<TState>(ref readonly TState state, int index);

/// <summary>
/// The kernels' thread pool: <see cref="MaxThreads"/> − 1 persistent workers plus the calling thread.
/// <see cref="For{TState}"/> splits <c>count</c> items among them; kernels choose item boundaries that never
/// depend on the thread count, so results are bitwise identical for any setting.
/// </summary>
/// <remarks>
/// Unlike Parallel.For, a call allocates nothing once warm: the loop state is a struct copied into a
/// per-type job object that is reused, and the body should be a static lambda (cached by the compiler).
/// Workers spin briefly after a loop (kernels come in quick succession during decode) and then sleep.
/// One loop runs on the pool at a time; a loop started from inside a body, or while another thread's loop
/// holds the pool, runs on the calling thread alone.
/// </remarks>
public static class Parallelism
{
    private static int s_maxThreads = Environment.ProcessorCount;

    /// <summary>Worker threads (default Environment.ProcessorCount; 1 for single-thread timing or debugging).</summary>
    public static int MaxThreads
    {
        get => s_maxThreads;
        set => s_maxThreads = Math.Max(1, value);
    }

    /// <summary>
    /// Runs <paramref name="body"/>(state, i) for i in [0, count), on up to <see cref="MaxThreads"/> threads,
    /// and returns when all items are done. Items are claimed dynamically, so a body must not depend on which
    /// thread runs it. The first exception thrown by a body is rethrown here after the loop drains.
    /// </summary>
    public static void For<TState>(int count, in TState state, ForBody<TState> body)
    {
        if (count <= 0) return;
        int threads = Math.Min(MaxThreads, count);
        if (threads == 1 || t_insideLoop || !Monitor.TryEnter(s_submit))
        {
            for (int i = 0; i < count; i++) body(in state, i);
            return;
        }
        var job = Job<TState>.Rent();
        try
        {
            job.State = state;
            job.Body = body;
            Pool.Run(job, count, threads - 1);
        }
        finally
        {
            job.State = default!;
            job.Body = null;
            Job<TState>.Return(job);
            Monitor.Exit(s_submit);
        }
    }

    private static readonly object s_submit = new();
    [ThreadStatic] private static bool t_insideLoop;

    /// <summary>A loop in flight: items are claimed with an interlocked counter by the caller and the workers.</summary>
    private abstract class Job
    {
        private int _next, _count;
        private ExceptionDispatchInfo? _error;

        public void Reset(int count) { _next = 0; _count = count; _error = null; }

        /// <summary>Claims and runs items until none are left; records the first exception and skips the rest.</summary>
        public void Drain()
        {
            bool outer = t_insideLoop;
            t_insideLoop = true;
            try
            {
                int i;
                while ((i = Interlocked.Increment(ref _next) - 1) < _count)
                {
                    try { Invoke(i); }
                    catch (Exception e)
                    {
                        Interlocked.CompareExchange(ref _error, ExceptionDispatchInfo.Capture(e), null);
                        Volatile.Write(ref _next, _count);
                    }
                }
            }
            finally { t_insideLoop = outer; }
        }

        public void ThrowIfFailed() => _error?.Throw();

        protected abstract void Invoke(int index);
    }

    private sealed class Job<TState> : Job
    {
        public TState State = default!;
        public ForBody<TState>? Body;
        private static Job<TState>? s_free;

        public static Job<TState> Rent() => Interlocked.Exchange(ref s_free, null) ?? new Job<TState>();
        public static void Return(Job<TState> job) => Volatile.Write(ref s_free, job);

        protected override void Invoke(int index) => Body!(in State, index);
    }

    /// <summary>
    /// Persistent workers (created on demand, never more than MaxThreads − 1 in use). A loop is published by
    /// bumping a generation number; workers spin on it for a short while before sleeping on a monitor.
    /// </summary>
    private static class Pool
    {
        private static readonly object s_gate = new();
        private static readonly List<Thread> s_threads = [];
        private static Job? s_job;
        private static int s_wanted;          // workers that join the current loop (worker ids 0..wanted-1)
        private static long s_generation;
        private static int s_busy;            // workers still inside the current loop
        private static int s_sleeping;
        // Spin this long for the next loop before sleeping: decode issues kernels microseconds apart, and a
        // monitor wake-up costs tens of microseconds; longer spinning would steal cycles on a shared machine.
        private static readonly long SpinTicks = System.Diagnostics.Stopwatch.Frequency / 5000; // 200 µs

        public static void Run(Job job, int count, int workers)
        {
            EnsureWorkers(workers);
            job.Reset(count);
            s_job = job;
            s_wanted = workers;
            Volatile.Write(ref s_busy, workers);
            Interlocked.Increment(ref s_generation);
            if (Volatile.Read(ref s_sleeping) > 0)
                lock (s_gate) Monitor.PulseAll(s_gate);
            job.Drain();
            var spin = new SpinWait();
            while (Volatile.Read(ref s_busy) > 0) spin.SpinOnce(-1);
            s_job = null;
            job.ThrowIfFailed();
        }

        private static void EnsureWorkers(int n)
        {
            while (s_threads.Count < n)
            {
                // The worker starts from the current generation, read here before the new loop is published:
                // read on the new thread instead, it could already be the new loop's and the worker would miss it.
                int id = s_threads.Count;
                long start = Volatile.Read(ref s_generation);
                var t = new Thread(() => WorkerLoop(id, start)) { IsBackground = true, Name = $"autoprune-worker-{id}" };
                s_threads.Add(t);
                t.Start();
            }
        }

        private static void WorkerLoop(int id, long seen)
        {
            while (true)
            {
                long g = WaitForGeneration(seen);
                // Read the loop's settings, then confirm no newer loop was published meanwhile (a worker that
                // sat out a loop may wake late); a loop this worker joins cannot be superseded before it is done.
                int wanted = Volatile.Read(ref s_wanted);
                var job = Volatile.Read(ref s_job);
                if (Volatile.Read(ref s_generation) != g) continue;
                seen = g;
                if (id >= wanted) continue;
                job!.Drain();
                Interlocked.Decrement(ref s_busy);
            }
        }

        private static long WaitForGeneration(long seen)
        {
            long until = System.Diagnostics.Stopwatch.GetTimestamp() + SpinTicks;
            do
            {
                for (int i = 0; i < 64; i++)
                {
                    long g = Volatile.Read(ref s_generation);
                    if (g != seen) return g;
                    Thread.SpinWait(4);
                }
            } while (System.Diagnostics.Stopwatch.GetTimestamp() < until);
            lock (s_gate)
            {
                // Interlocked (a full fence) pairs with the submitter's interlocked generation bump: either it
                // sees this sleeper and pulses, or this check sees its new generation.
                Interlocked.Increment(ref s_sleeping);
                try
                {
                    long g;
                    while ((g = Volatile.Read(ref s_generation)) == seen) Monitor.Wait(s_gate);
                    return g;
                }
                finally { Interlocked.Decrement(ref s_sleeping); }
            }
        }
    }
}
