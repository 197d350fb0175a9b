using AutoPrune.Models;
using AutoPrune.Pruning;

namespace AutoPrune.Tests.Models;

/// <summary>
/// Scoring the next layer before it runs (PyramidDrop's stage scoring) must give exactly what that layer computes when
/// nothing is pruned at the boundary: same hidden states, same positions, same weights.
/// </summary>
public sealed class NextLayerAttentionTests(TinyModelFixture fx) : IClassFixture<TinyModelFixture>
{
    private sealed class Probe : IPruningPolicy, IPruningRun
    {
        public string Name => "probe";
        public PositionMode Positions => PositionMode.Original;
        public IPruningRun Begin(PruningSetup setup) => this;
        public float[]? Predicted, Actual;

        public VisualSelection? AfterLayer(LayerContext ctx)
        {
            int[] rows = [ctx.VisualRow(0) - 1, ctx.LastRow, ctx.TextAfterStart];
            var cols = ctx.VisualRows();
            if (ctx.Layer == 1) Predicted = ctx.NextLayerAttentionPerHead(rows, cols);
            if (ctx.Layer == 2) Actual = ctx.AttentionPerHead(rows, cols);
            return null;
        }
    }

    [Fact]
    public void NextLayerScoresEqualThatLayersAttention()
    {
        var g = new GoldenReference("case1");
        var probe = new Probe();
        fx.F32.Prefill(fx.F32.PreprocessImage(g.ImagePath), fx.F32.Tokenize(g.Question), probe);
        Assert.NotNull(probe.Predicted);
        Compare.Close("next-layer attention", probe.Predicted, probe.Actual, 1e-6);
        // Rows are full causal softmax rows: the row before the image sees no visual key.
        Assert.All(probe.Actual!.AsSpan(0, 256).ToArray(), v => Assert.Equal(0f, v));
    }
}
