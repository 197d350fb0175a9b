using AutoPrune.Tensors;

namespace AutoPrune.Tests.Tensors;

[Collection(ThreadCountCollection.Name)]
public sealed class ParallelismTests
{
    private struct Counts { public int[] Hits; }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(2, 1)]
    [InlineData(2, 1000)]
    [InlineData(4, 7)]
    [InlineData(3, 100_000)]
    public void EveryItemRunsExactlyOnce(int threads, int count) => Threads.With(threads, () =>
    {
        for (int rep = 0; rep < 20; rep++)
        {
            var state = new Counts { Hits = new int[count] };
            Parallelism.For(count, state, static (ref readonly Counts s, int i) => Interlocked.Increment(ref s.Hits[i]));
            Assert.All(state.Hits, h => Assert.Equal(1, h));
        }
    });

    private sealed class Meeting { public int Started; public readonly int[] Threads = new int[2]; }

    [Fact]
    public void UsesSeveralThreadsWhenAllowed() => Threads.With(2, () =>
    {
        // Two items that each wait for the other to start: on two threads they meet however late the worker is
        // scheduled (on a machine at load average 50 that can take longer than any fixed sleep), and the loop ends
        // at once; run on one thread, the first item gives up after 2 s. A loop also runs on its caller alone while
        // another test's loop holds the pool, so it is retried, for at most a minute; a pool that never runs a loop
        // on two threads fails.
        var deadline = DateTime.UtcNow.AddMinutes(1);
        int attempts = 0;
        bool parallel = false;
        while (!parallel && (attempts == 0 || DateTime.UtcNow < deadline))
        {
            attempts++;
            var m = new Meeting();
            Parallelism.For(2, m, static (ref readonly Meeting s, int i) =>
            {
                s.Threads[i] = Environment.CurrentManagedThreadId;
                Interlocked.Increment(ref s.Started);
                var meeting = s;
                SpinWait.SpinUntil(() => Volatile.Read(ref meeting.Started) == 2, TimeSpan.FromSeconds(2));
            });
            parallel = m.Threads[0] != m.Threads[1];
        }
        Assert.True(parallel, $"no loop ran on two threads in {attempts} attempts");
    });

    [Fact]
    public void ExceptionsReachTheCaller_AndThePoolKeepsWorking() => Threads.With(2, () =>
    {
        var e = Assert.Throws<InvalidOperationException>(() =>
            Parallelism.For(64, 0, static (ref readonly int _, int i) => { if (i == 13) throw new InvalidOperationException("item 13"); }));
        Assert.Equal("item 13", e.Message);
        var state = new Counts { Hits = new int[256] };
        Parallelism.For(256, state, static (ref readonly Counts s, int i) => Interlocked.Increment(ref s.Hits[i]));
        Assert.All(state.Hits, h => Assert.Equal(1, h));
    });

    [Fact]
    public void NestedAndConcurrentLoopsComplete() => Threads.With(2, () =>
    {
        var hits = new int[8 * 16];
        // Outer loops from several threads at once, each with an inner loop per item.
        System.Threading.Tasks.Parallel.For(0, 4, _ =>
            Parallelism.For(8, hits, static (ref readonly int[] h, int i) =>
                Parallelism.For(16, (h, i), static (ref readonly (int[] h, int i) s, int j) => Interlocked.Increment(ref s.h[s.i * 16 + j]))));
        Assert.All(hits, h => Assert.Equal(4, h));
    });

    [Fact]
    public void AWarmLoopAllocatesNothing() => Threads.With(2, () =>
    {
        // One call site, as in a kernel: its static lambda's delegate is created on the first call and cached.
        var state = new Counts { Hits = new int[64] };
        static void Loop(in Counts state) => Parallelism.For(64, state, static (ref readonly Counts s, int i) => s.Hits[i]++);
        for (int i = 0; i < 3; i++) Loop(state);
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 100; i++) Loop(state);
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        Assert.All(state.Hits, h => Assert.Equal(103, h));
    });
    [Fact]
    public void ElementwiseKernelsOnThePool_AreBitwiseTheSerialOnes()
    {
        // Large enough to be split on the pool: 300 rows x 1030 (not a multiple of the chunk or of 8).
        int rows = 300, d = 1030;
        var rng = new Random(3);
        float[] R(int n) { var a = new float[n]; for (int i = 0; i < n; i++) a[i] = (float)(rng.NextDouble() * 4 - 2); return a; }
        var x = R(rows * d); var w = R(d); var b = R(d); var up = R(rows * d);
        float[][] RunAll()
        {
            var rms = new float[rows * d]; var ln = new float[rows * d];
            Ops.RmsNorm(x, w, 1e-5f, rms, rows);
            Ops.LayerNorm(x, w, b, 1e-5f, ln, rows);
            var silu = (float[])x.Clone(); Ops.SiluMul(silu, up);
            var qg = (float[])x.Clone(); Ops.QuickGelu(qg);
            var g = (float[])x.Clone(); Ops.Gelu(g);
            return [rms, ln, silu, qg, g];
        }
        float[][] one = null!, two = null!;
        Threads.With(1, () => one = RunAll());
        Threads.With(2, () => two = RunAll());
        for (int k = 0; k < one.Length; k++)
            for (int i = 0; i < one[k].Length; i++)
                Assert.True(BitConverter.SingleToInt32Bits(one[k][i]) == BitConverter.SingleToInt32Bits(two[k][i]), $"kernel {k} [{i}]");
        // And the parallel path against the references.
        var reference = new float[rows * d];
        Ops.RmsNormReference(x, w, 1e-5f, reference, rows);
        Assert.Equal(reference, two[0]);
        var siluRef = (float[])x.Clone(); Ops.SiluMulReference(siluRef, up);
        for (int i = 0; i < siluRef.Length; i++) Assert.True(Math.Abs(siluRef[i] - two[2][i]) <= 1e-5f * (1 + Math.Abs(siluRef[i])), $"silu [{i}]");
    }
}
