using AutoPrune.Loading;
using W = AutoPrune.Tests.Support.SafetensorsTestWriter;

namespace AutoPrune.Tests.Tensors;

public sealed class NonFiniteWeightsTests : TempDirTest
{
    [Fact]
    public void TheFirstNonFiniteValueIsFoundInEveryFloatType()
    {
        var big = new float[70_000]; // more than one scan chunk
        big[69_999] = float.PositiveInfinity;
        var path = W.Write(Dir, "w.safetensors", W.Build(
            W.F32("a", [3], 1, 2, 3),
            W.BF16Bits("b", [4], 0x3F80, 0x7FC0, 0x0000, 0x7F80), // 1, NaN, 0, +Inf
            W.F16("c", [2], 1, 2),
            W.F32("d", [70_000], big)));
        using (var weights = CheckpointLoader.Open(path))
        {
            var hit = weights.FindNonFinite();
            Assert.NotNull(hit);
            Assert.Equal(("b", 1L), (hit!.Value.Tensor, hit.Value.Index));
            Assert.True(float.IsNaN(hit.Value.Value));
        }
        var path2 = W.Write(Dir, "w2.safetensors", W.Build(W.F32("a", [3], 1, 2, 3), W.F32("d", [70_000], big)));
        using (var weights = CheckpointLoader.Open(path2))
            Assert.Equal(("d", 69_999L), (weights.FindNonFinite()!.Value.Tensor, weights.FindNonFinite()!.Value.Index));
        var ok = W.Write(Dir, "ok.safetensors", W.Build(W.F32("a", [3], 1, float.MaxValue, float.Epsilon), W.F16("c", [1], 65504)));
        using (var weights = CheckpointLoader.Open(ok))
            Assert.Null(weights.FindNonFinite());
    }

    [Fact]
    public void TheEmbeddedModelIsFinite()
    {
        using var weights = CheckpointLoader.Open(Path.Combine(TestPaths.TinyModel, "model.safetensors"));
        Assert.Null(weights.FindNonFinite());
    }
}
