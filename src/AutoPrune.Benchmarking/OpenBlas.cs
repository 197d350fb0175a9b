using System.Runtime.InteropServices;

namespace AutoPrune.Benchmarking;

/// <summary>
/// Optional OpenBLAS binding used only to compare our GEMM against (benchmarks). Loaded lazily
/// and only on request; the engine never depends on it and CI does not have it.
/// </summary>
public static unsafe class OpenBlas
{
    private const int RowMajor = 101, NoTrans = 111, Trans = 112;

    private static readonly string[] Candidates =
    {
        "libopenblas.so.0", "libopenblas.so", "/usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblas.so.0",
    };

    private static readonly object Gate = new();
    private static bool _tried;
    private static string _why = "";
    private static delegate* unmanaged<int, int, int, int, int, int, float, float*, int, float*, int, float, float*, int, void> _sgemm;
    private static delegate* unmanaged<int, void> _setThreads;

    public static bool IsLoaded => _sgemm != null;

    /// <summary>Loads libopenblas and resolves cblas_sgemm; false with a reason when unavailable.</summary>
    public static bool TryLoad(out string why)
    {
        lock (Gate)
        {
            if (!_tried)
            {
                _tried = true;
                _why = "libopenblas not found (tried " + string.Join(", ", Candidates) + ")";
                foreach (var name in Candidates)
                {
                    if (!NativeLibrary.TryLoad(name, out var h)) continue;
                    if (!NativeLibrary.TryGetExport(h, "cblas_sgemm", out var f))
                    {
                        _why = $"{name} has no cblas_sgemm";
                        continue;
                    }
                    _sgemm = (delegate* unmanaged<int, int, int, int, int, int, float, float*, int, float*, int, float, float*, int, void>)f;
                    if (NativeLibrary.TryGetExport(h, "openblas_set_num_threads", out var t))
                        _setThreads = (delegate* unmanaged<int, void>)t;
                    _why = "";
                    break;
                }
            }
            why = _why;
            return _sgemm != null;
        }
    }

    /// <summary>Sets OpenBLAS's thread count (no-op when the export is missing).</summary>
    public static void SetThreads(int n)
    {
        if (_setThreads != null) _setThreads(n);
    }

    /// <summary>Y[M,N] = X[M,K]·W[N,K]ᵀ (all F32, row-major): cblas_sgemm(RowMajor, NoTrans, Trans).</summary>
    public static void Sgemm(int m, int n, int k, float* x, float* w, float* y)
    {
        if (_sgemm == null) throw new InvalidOperationException("OpenBLAS not loaded: call TryLoad first");
        _sgemm(RowMajor, NoTrans, Trans, m, n, k, 1f, x, k, w, k, 0f, y, n);
    }

    public static void Sgemm(ReadOnlySpan<float> x, int m, ReadOnlySpan<float> w, int n, int k, Span<float> y)
    {
        if (x.Length < (long)m * k || w.Length < (long)n * k || y.Length < (long)m * n)
            throw new ArgumentException("buffer too short for sgemm");
        fixed (float* px = x, pw = w, py = y) Sgemm(m, n, k, px, pw, py);
    }
}
