using AutoPrune.Tensors;
using BenchmarkDotNet.Attributes;

namespace AutoPrune.Benchmarks;

/// <summary>Prefill GEMM shapes of LLaVA-7B (576 image tokens): attention/MLP projections.</summary>
[MemoryDiagnoser]
public class GemmPrefill
{
    [Params(DType.F32, DType.BF16)] public DType WeightDType;
    [Params(4096, 11008)] public int N;
    public int M = 576, K = 4096;

    private readonly List<IDisposable> _owners = new();
    private Weight _w = null!;
    private float[] _x = null!, _y = null!;

    [GlobalSetup]
    public void Setup()
    {
        _w = SyntheticWeights.Create("w", WeightDType, new[] { N, K }, 1, 1f, _owners);
        _x = new float[M * K];
        var r = new Random(2);
        for (int i = 0; i < _x.Length; i++) _x[i] = (float)(r.NextDouble() * 2 - 1);
        _y = new float[M * N];
    }

    [GlobalCleanup]
    public void Cleanup() { foreach (var o in _owners) o.Dispose(); _owners.Clear(); }

    [Benchmark]
    public void Linear() => MatMul.Linear(_x, M, _w, default, _y);
}

/// <summary>Decode: one token through a 4096x11008 BF16 weight (memory-bound).</summary>
[MemoryDiagnoser]
public class GemvDecode
{
    [Params(1, 4, 16)] public int M;
    public int N = 4096, K = 11008;

    private readonly List<IDisposable> _owners = new();
    private Weight _w = null!;
    private float[] _x = null!, _y = null!;

    [GlobalSetup]
    public void Setup()
    {
        _w = SyntheticWeights.Create("w", DType.BF16, new[] { N, K }, 1, 1f, _owners);
        _x = new float[M * K];
        var r = new Random(2);
        for (int i = 0; i < _x.Length; i++) _x[i] = (float)(r.NextDouble() * 2 - 1);
        _y = new float[M * N];
    }

    [GlobalCleanup]
    public void Cleanup() { foreach (var o in _owners) o.Dispose(); _owners.Clear(); }

    [Benchmark]
    public void Linear() => MatMul.Linear(_x, M, _w, default, _y);
}

/// <summary>F16 / BF16 widening throughput (1M elements).</summary>
public class Widening
{
    private readonly ushort[] _src = new ushort[1 << 20];
    private readonly float[] _dst = new float[1 << 20];

    [GlobalSetup]
    public void Setup()
    {
        var r = new Random(3);
        for (int i = 0; i < _src.Length; i++) _src[i] = Tensors.Convert.F32ToF16((float)(r.NextDouble() * 2 - 1));
    }

    [Benchmark] public void F16() => Tensors.Convert.F16ToF32(_src, _dst);
    [Benchmark] public void BF16() => Tensors.Convert.BF16ToF32(_src, _dst);
}
