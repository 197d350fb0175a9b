using AutoPrune.Models;
using AutoPrune.Tensors;

namespace AutoPrune.Tests.Models;

/// <summary>
/// The golden logits and greedy answer on every instruction-set path this machine can run (forced with
/// <see cref="Simd.Use"/>): max-abs ≤ 1e-3, cosine ≥ 0.99999, answer ids exact, as for the default path.
/// </summary>
public sealed class SimdParityTests(TinyModelFixture fx) : IClassFixture<TinyModelFixture>
{
    public static TheoryData<string, SimdLevel> Cases()
    {
        var d = new TheoryData<string, SimdLevel>();
        foreach (var l in Simd.Supported) d.Add("case0", l);
        return d;
    }

    [Theory, MemberData(nameof(Cases))]
    public void GoldenLogitsAndAnswerOnEveryPath(string name, SimdLevel level)
    {
        var g = new GoldenReference(name);
        using var _ = Simd.Use(level);
        var pre = fx.F32.Prefill(fx.F32.PreprocessImage(g.ImagePath), fx.F32.Tokenize(g.Question));
        Compare.Close($"{level.Name()} last_logits", pre.Logits, g.LastLogits, 1e-3, 0.99999);
        Assert.Equal(g.GreedyIds, Generator.Ask(fx.F32, g.ImagePath, g.Question).OutputIds);
    }
}
