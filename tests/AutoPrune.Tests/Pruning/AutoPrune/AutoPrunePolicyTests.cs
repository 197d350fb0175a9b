using System.Globalization;
using AutoPrune.Models;
using AutoPrune.Pruning;

namespace AutoPrune.Tests.Pruning.AutoPrune;

/// <summary>Wraps a policy and records every selection it makes, plus what the engine showed it.</summary>
internal sealed class RecordingPolicy(IPruningPolicy inner) : IPruningPolicy
{
    public string Name => inner.Name;
    public PositionMode Positions => inner.Positions;
    public readonly Dictionary<int, VisualSelection> Selections = new();
    public readonly List<(int layer, int seq, int visualStart, int visualCount, int textAfter)> Seen = new();
    public Action<LayerContext, VisualSelection>? OnSelection;

    public IPruningRun Begin(PruningSetup setup)
    {
        Selections.Clear();
        Seen.Clear();
        return new Run(this, inner.Begin(setup));
    }

    private sealed class Run(RecordingPolicy p, IPruningRun inner) : IPruningRun
    {
        public VisualSelection? BeforeDecoder(PreDecoderContext ctx) => inner.BeforeDecoder(ctx);
        public VisualSelection? AfterLayer(LayerContext ctx) => p.Record(ctx, inner.AfterLayer(ctx));
    }

    private VisualSelection? Record(LayerContext ctx, VisualSelection? sel)
    {
        Seen.Add((ctx.Layer, ctx.SequenceLength, ctx.VisualRow(0), ctx.VisualCount, ctx.TextAfterCount));
        if (sel != null)
        {
            Selections[ctx.Layer] = sel;
            OnSelection?.Invoke(ctx, sel);
        }
        return sel;
    }
}

/// <summary>Replays recorded selections regardless of what the attention says (a reference prefill with more text).</summary>
internal sealed class ReplayPolicy(IReadOnlyDictionary<int, VisualSelection> selections, PositionMode positions) : IPruningPolicy, IPruningRun
{
    public string Name => "replay";
    public PositionMode Positions => positions;
    public IPruningRun Begin(PruningSetup setup) => this;
    public VisualSelection? AfterLayer(LayerContext ctx) => selections.GetValueOrDefault(ctx.Layer);
}

public sealed class AutoPrunePolicyTests(TinyModelFixture fx) : IClassFixture<TinyModelFixture>
{
    private static IPruningPolicy Make(double? budget, params (string key, string value)[] settings) =>
        PolicyFactory.Create("autoprune", new PolicyOptions
        {
            Budget = budget,
            Settings = settings.ToDictionary(s => s.key, s => s.value),
        });

    private (float[] pixels, TokenizedPrompt prompt) Case(string name)
    {
        var g = new GoldenReference(name);
        return (fx.F32.PreprocessImage(g.ImagePath), fx.F32.Tokenize(g.Question));
    }

    [Theory, MemberData(nameof(GoldenReference.All), MemberType = typeof(GoldenReference))]
    public void BudgetOfAllTokensReproducesUnprunedLogitsExactly(string name)
    {
        var (pixels, prompt) = Case(name);
        var reference = fx.F32.Prefill(pixels, prompt).Logits;
        int n0 = fx.F32.ImageTokens;
        foreach (var mode in new[] { "faithful", "strict" })
            foreach (var t in new double[] { n0, n0 + 100 })
            {
                var pre = fx.F32.Prefill(pixels, prompt, Make(t, ("budget-mode", mode)));
                Assert.Equal(reference, pre.Logits);                         // bitwise
                Assert.All(pre.Trace.VisualTokensPerLayer, v => Assert.Equal(n0, v));
                Assert.Equal(0, pre.Trace.FlopsReduction);
            }
    }

    public static TheoryData<string, double, string, string> Budgets => new()
    {
        { "case0", 86, "faithful", "sum" }, { "case1", 57, "faithful", "sum" }, { "case2", 28, "faithful", "mean" },
        { "case0", 57, "strict", "sum" }, { "case1", 40, "strict", "mean-per-text" }, { "case2", 40, "strict", "sum" },
    };

    /// <summary>Text is never dropped, the engine's counts are the plan's, and each mode's accounting meets T.</summary>
    [Theory, MemberData(nameof(Budgets))]
    public void PrunesOnlyVisualTokensAndMeetsTheBudget(string name, double t, string mode, string norm)
    {
        var (pixels, prompt) = Case(name);
        var rec = new RecordingPolicy(Make(t, ("budget-mode", mode), ("mi-norm", norm)));
        var seqLengths = new List<int>();
        var pre = TestRuns.Prefill(fx.F32, pixels, prompt, rec, (_, _, n) => seqLengths.Add(n));
        var tr = pre.Trace;
        int L = fx.F32.Config.Text.NumHiddenLayers, n0 = fx.F32.ImageTokens;

        int textAfter = prompt.Ids.Length - prompt.ImagePositions[0] - 1;
        foreach (var s in rec.Seen)
        {
            Assert.Equal(prompt.ImagePositions[0], s.visualStart);
            Assert.Equal(textAfter, s.textAfter);
            Assert.Equal(prompt.TextTokens, s.seq - s.visualCount);
        }
        for (int l = 0; l < L; l++)
        {
            Assert.Equal(prompt.TextTokens, seqLengths[l] - tr.VisualTokensPerLayer[l]);
            if (l == 0) continue;
            var prev = new HashSet<int>(tr.VisualIdsPerLayer[l - 1]);
            foreach (var id in tr.VisualIdsPerLayer[l]) Assert.True(id >= n0 || prev.Contains(id), $"layer {l} revived token {id}");
        }

        Assert.Equal(tr.Curves["planned_visual_tokens"], Array.ConvertAll(tr.VisualTokensPerLayer, v => (double)v));
        Assert.True(tr.VisualTokensPerLayer[1] < n0);
        double accounted = tr.Values["budget_mean_accounted"];
        Assert.True(Math.Abs(accounted - t) <= 1, $"accounted {accounted} vs {t}");
        if (mode == "strict") Assert.Equal(tr.MeanVisualTokens, accounted, 9);
        else Assert.Equal(Math.Floor(2.5 * t), tr.VisualTokensPerLayer[1]);

        double k = tr.Values["k"], mi1 = tr.Values["mi1"], mi1Sum = tr.Values["mi1_sum"];
        Assert.Equal(Math.Max(0.4 - 0.2 * mi1, 0), k, 12);
        int heads = fx.F32.Config.Text.NumAttentionHeads;
        Assert.Equal(norm switch { "sum" => mi1Sum, "mean" => mi1Sum / heads, _ => mi1Sum / heads / textAfter }, mi1, 12);
        Assert.True(tr.Flops < tr.FlopsUnpruned);
    }

    [Fact]
    public void RecyclingReturnsTheDocumentedClustersOfAveragedMembers()
    {
        var (pixels, prompt) = Case("case0");
        int checkedLayers = 0;
        var rec = new RecordingPolicy(Make(57));
        rec.OnSelection = (ctx, sel) =>
        {
            if (ctx.Layer == 0) { Assert.Null(sel.Merge); return; }   // step 0 only preselects
            int dropped = ctx.VisualCount - sel.Keep.Length;
            int m = (int)(0.3 * dropped) + 1;
            Assert.NotNull(sel.Merge);
            Assert.Equal(Math.Min(m / 10 + 1, m), sel.Merge!.Length);
            var kept = new HashSet<int>(sel.Keep);
            var members = new HashSet<int>();
            foreach (var g in sel.Merge) foreach (var i in g) { Assert.DoesNotContain(i, kept); Assert.True(members.Add(i)); }
            Assert.Equal(m, members.Count);

            // Apply the selection the way the engine does and check every merged row is its members' mean.
            int d = ctx.HiddenSize, n = ctx.SequenceLength;
            var rows = new float[n * d];
            for (int r = 0; r < n; r++) ctx.Hidden(r).CopyTo(rows.AsSpan(r * d, d));
            var seq = Sequences.Of(rows, n, d, ctx.VisualRow(0), ctx.VisualCount);
            seq.Apply(sel, PositionMode.Compact);
            var h = seq.H;
            for (int g = 0; g < sel.Merge.Length; g++)
            {
                var row = h.AsSpan((ctx.VisualRow(0) + sel.Keep.Length + g) * d, d);
                for (int j = 0; j < d; j++)
                {
                    double mean = 0;
                    foreach (var i in sel.Merge[g]) mean += ctx.Hidden(ctx.VisualRow(i))[j];
                    mean /= sel.Merge[g].Length;
                    Assert.True(Math.Abs(row[j] - mean) <= 1e-5 * Math.Max(1, Math.Abs(mean)), $"layer {ctx.Layer} group {g} dim {j}: {row[j]} vs {mean}");
                }
            }
            checkedLayers++;
        };
        fx.F32.Prefill(pixels, prompt, rec);
        Assert.True(checkedLayers > 0);

        var noRecycle = new RecordingPolicy(Make(57, ("recycle", "false")));
        fx.F32.Prefill(pixels, prompt, noRecycle);
        Assert.All(noRecycle.Selections.Values, s => Assert.Null(s.Merge));
    }

    /// <summary>
    /// Decoding from the pruned caches equals a fresh prefill of prompt + generated tokens that replays the same
    /// selections (causal attention: earlier rows are unaffected by the appended ones), in both position modes.
    /// </summary>
    [Theory]
    [InlineData(PositionMode.Compact, "faithful")]
    [InlineData(PositionMode.Original, "faithful")]
    [InlineData(PositionMode.Compact, "strict")]
    public void DecodeAfterPruningMatchesAReplayedPrefill(PositionMode positions, string mode)
    {
        var (pixels, prompt) = Case("case1");
        var inner = PolicyFactory.Create("autoprune", new PolicyOptions
        {
            Budget = 57, Positions = positions, Settings = new Dictionary<string, string> { ["budget-mode"] = mode },
        });
        var rec = new RecordingPolicy(inner);
        var model = fx.F32;
        var pre = model.Prefill(pixels, prompt, rec, reserveForDecode: 4);
        Assert.Equal(positions, pre.Positions);
        Assert.NotEmpty(rec.Selections);

        var ids = prompt.Ids.ToList();
        var logits = pre.Logits;
        for (int step = 0; step < 3; step++)
        {
            int next = Sampling.Argmax(logits);
            logits = pre.Decode(next);
            ids.Add(next);
            var replay = model.Prefill(pixels, new TokenizedPrompt(ids.ToArray(), prompt.ImagePositions), new ReplayPolicy(rec.Selections, positions));
            Assert.Equal(pre.Trace.VisualTokensPerLayer, replay.Trace.VisualTokensPerLayer);
            Compare.Close($"decode step {step + 1}", logits, replay.Logits, 1e-4);
        }
    }

    [Fact]
    public void InfeasibleStrictBudgetIsRefusedNamingTheLowestFeasible()
    {
        var (pixels, prompt) = Case("case0");
        int n0 = fx.F32.ImageTokens, L = fx.F32.Config.Text.NumHiddenLayers;
        double min = (n0 + L - 1.0) / L;
        var e = Assert.Throws<InfeasibleBudgetException>(() => fx.F32.Prefill(pixels, prompt, Make(Math.Floor(min) - 1, ("budget-mode", "strict"))));
        Assert.Contains(min.ToString("0.######", CultureInfo.InvariantCulture), e.Message);
        // The faithful accounting (layer 0 counted as 2.5T) accepts the same budget.
        var ok = fx.F32.Prefill(pixels, prompt, Make(Math.Floor(min) - 1, ("budget-mode", "faithful")));
        Assert.True(ok.Trace.Values["budget_mean_accounted"] < min);
    }

    [Theory]
    [InlineData("x0", "-1")]
    [InlineData("x0", "abc")]
    [InlineData("k0", "-0.1")]
    [InlineData("gamma", "NaN")]
    [InlineData("budget-mode", "loose")]
    [InlineData("recycle", "maybe")]
    [InlineData("mi-norm", "max")]
    [InlineData("x1", "3")]
    public void BadSettingsAreRefused(string key, string value)
    {
        var e = Assert.Throws<PruningOptionException>(() => Make(57, (key, value)));
        Assert.Contains(key, e.Message);
    }

    [Fact]
    public void SettingsParseAndDefaultsAreDocumented()
    {
        var p = (AutoPrunePolicy)Make(null, ("X0", "10"), ("k0", "0.5"), ("gamma", "0.1"), ("budget-mode", "STRICT"), ("recycle", "false"), ("mi-norm", "mean-per-text"));
        Assert.Equal((10, 0.5, 0.1, BudgetMode.Strict, false, MiNormalization.MeanPerText, PositionMode.Compact),
            (p.X0At32, p.K0, p.Gamma, p.Mode, p.Recycle, p.MiNorm, p.Positions));
        var d = (AutoPrunePolicy)Make(null);
        // Strict by default: the budget is the mean of what the layers process; faithful is the reproduction mode.
        Assert.Equal((14.9, 0.4, 0.2, BudgetMode.Strict, true, MiNormalization.Sum), (d.X0At32, d.K0, d.Gamma, d.Mode, d.Recycle, d.MiNorm));
        Assert.Equal(64, AutoPrunePolicy.DefaultBudget(576));
        Assert.Equal(28, AutoPrunePolicy.DefaultBudget(256));
    }
}
