namespace AutoPrune.Server;

/// <summary>
/// Bounded admission: <c>concurrent</c> requests run, up to <c>queued</c> more wait in arrival order, anything beyond is
/// refused at once (429). Retry-After is estimated from the recent service time and the backlog.
/// </summary>
public sealed class AdmissionQueue : IDisposable
{
    private readonly SemaphoreSlim _slots;
    private readonly int _concurrent, _capacity;
    private int _admitted;           // running + waiting
    private double _serviceMs = 500; // moving average of one request's run time

    public AdmissionQueue(int concurrent, int queued)
    {
        if (concurrent < 1) throw new ArgumentOutOfRangeException(nameof(concurrent));
        if (queued < 0) throw new ArgumentOutOfRangeException(nameof(queued));
        _concurrent = concurrent;
        _capacity = concurrent + queued;
        _slots = new SemaphoreSlim(concurrent, concurrent);
    }

    /// <summary>Requests running or waiting.</summary>
    public int Admitted => Volatile.Read(ref _admitted);

    /// <summary>Seconds after which a refused client may expect a free place.</summary>
    public int RetryAfterSeconds => Math.Max(1, (int)Math.Ceiling(Volatile.Read(ref _serviceMs) * Math.Max(1, Admitted) / _concurrent / 1000));

    /// <summary>Takes a place in the queue, or throws 429 when it is full.</summary>
    public Ticket Enter()
    {
        if (Interlocked.Increment(ref _admitted) > _capacity)
        {
            Interlocked.Decrement(ref _admitted);
            throw new ApiError(429, $"the server is busy ({_capacity} requests running or queued); retry later", code: "queue_full") { RetryAfter = RetryAfterSeconds };
        }
        return new Ticket(this);
    }

    public void Dispose() => _slots.Dispose();

    /// <summary>A place in the queue; <see cref="RunAsync"/> waits for a slot. Dispose leaves the queue.</summary>
    public sealed class Ticket(AdmissionQueue q) : IDisposable
    {
        private bool _running, _disposed;
        private long _start;

        public async Task RunAsync(CancellationToken ct)
        {
            await q._slots.WaitAsync(ct).ConfigureAwait(false);
            _running = true;
            _start = Environment.TickCount64;
        }

        public void Dispose()
        {
            if (_disposed) return;
            _disposed = true;
            if (_running)
            {
                double ms = Environment.TickCount64 - _start;
                double avg = Volatile.Read(ref q._serviceMs);
                Volatile.Write(ref q._serviceMs, 0.8 * avg + 0.2 * ms);
                q._slots.Release();
            }
            Interlocked.Decrement(ref q._admitted);
        }
    }
}
