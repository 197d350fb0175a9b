using AutoPrune.Benchmarking;
using AutoPrune.Models;
using AutoPrune.Models.LlavaNext;
using AutoPrune.Loading;
using AutoPrune.Pruning;
using AutoPrune.Tensors;
using AutoPrune.Tests.Pruning.AutoPrune;

namespace AutoPrune.Tests.Models;

/// <summary>
/// The BF16 KV cache against the exact F32 one. Its stated tolerance, with headroom over what was measured: on the
/// embedded model's golden cases (unpruned, AutoPrune@57, FastV@64; the prefill logits and 8 forced decode steps)
/// logits differ by at most 2e-2 (measured 6.4e-3, logits up to 13.5) at cosine ≥ 0.9999999 (measured ≥ 0.999999996),
/// with the same argmax at every step and the same greedy answers; on random-weight decoders (GQA included), at most
/// 2e-2 (measured 5.6e-3) at cosine ≥ 0.99999 (measured ≥ 0.999996). Beyond closeness: a 100% budget reproduces the
/// unpruned BF16 logits bitwise, decode after pruning equals a prefill of the longer sequence (prefill and decode
/// attend to the same rounded rows), growing the cache keeps its rows, and results do not depend on the thread count.
/// </summary>
[Collection(ThreadCountCollection.Name)]
public sealed class KvCacheTypeTests(TinyModelFixture fx) : IClassFixture<TinyModelFixture>
{
    private static readonly int[] Forced = [3, 100, 200, 7, 50, 250, 33, 12];

    /// <summary>Prefill logits, then the logits after each forced token.</summary>
    private static float[][] Steps(InferenceRun run)
    {
        var res = new List<float[]> { (float[])run.Prefill().Clone() };
        foreach (var id in Forced) res.Add((float[])run.Decode(id).Clone());
        return res.ToArray();
    }

    private static T WithKvCache<T>(LlamaModel lm, KvCacheType type, Func<T> f)
    {
        var saved = lm.KvCacheType;
        lm.KvCacheType = type;
        try { return f(); }
        finally { lm.KvCacheType = saved; }
    }

    [Theory, MemberData(nameof(GoldenReference.All), MemberType = typeof(GoldenReference))]
    public void EmbeddedModelBf16CacheStaysWithinItsTolerance(string name)
    {
        var g = new GoldenReference(name);
        var m = fx.F32;
        var prompt = m.Tokenize(g.Question);
        var image = m.EncodeImage(m.PreprocessImage(g.ImagePath));
        foreach (var policy in new[] { null, PolicyFactory.Create("autoprune", new PolicyOptions { Budget = 57 }), PolicyFactory.Create("fastv", new PolicyOptions { Budget = 64 }) })
        {
            var exact = WithKvCache(m.LanguageModel, KvCacheType.F32, () => Steps(m.StartRun(prompt, [image], policy, Forced.Length)));
            var bf16 = WithKvCache(m.LanguageModel, KvCacheType.BF16, () => Steps(m.StartRun(prompt, [image], policy, Forced.Length)));
            for (int s = 0; s < exact.Length; s++)
            {
                Compare.Close($"{name} {policy?.Name ?? "unpruned"} step {s}", bf16[s], exact[s], 2e-2, 0.9999999);
                Assert.Equal(Sampling.Argmax(exact[s]), Sampling.Argmax(bf16[s]));
            }
        }
        var answer = WithKvCache(m.LanguageModel, KvCacheType.BF16, () => Generator.Ask(m, g.ImagePath, g.Question));
        Assert.Equal(g.GreedyIds, answer.OutputIds);
    }

    [Theory]
    [InlineData(4, 4, 64, 256)]
    [InlineData(8, 2, 32, 256)]
    [InlineData(4, 4, 128, 512)]
    public void RandomDecoderBf16CacheStaysWithinItsTolerance(int heads, int kvHeads, int hd, int d)
    {
        var c = new LlamaConfig
        {
            HiddenSize = d, IntermediateSize = 2 * d, NumHiddenLayers = 3, NumAttentionHeads = heads, NumKeyValueHeads = kvHeads, HeadDim = hd,
            VocabSize = 300, MaxPositionEmbeddings = 1024,
        };
        using var sd = SyntheticDecoder.Create("test", c, 200, 32, null, DType.F32);
        var prompt = sd.Prompt(20, 299);
        float[][] Run(KvCacheType t) => WithKvCache(sd.LanguageModel, t, () => Steps(new InferenceRun(sd.LanguageModel, prompt, [sd.Image(200)], null, Forced.Length)));
        var exact = Run(KvCacheType.F32);
        var bf16 = Run(KvCacheType.BF16);
        for (int s = 0; s < exact.Length; s++) Compare.Close($"step {s}", bf16[s], exact[s], 2e-2, 0.99999);
    }

    [Fact]
    public void FullBudgetReproducesUnprunedBf16LogitsExactly()
    {
        var g = new GoldenReference("case1");
        var m = fx.F32;
        var pixels = m.PreprocessImage(g.ImagePath);
        var prompt = m.Tokenize(g.Question);
        WithKvCache(m.LanguageModel, KvCacheType.BF16, () =>
        {
            var reference = m.Prefill(pixels, prompt).Logits;
            var full = m.Prefill(pixels, prompt, PolicyFactory.Create("autoprune", new PolicyOptions { Budget = m.ImageTokens }));
            Assert.Equal(KvCacheType.BF16, full.Cache.Type);
            Assert.Equal(reference, full.Logits);      // bitwise
            return 0;
        });
    }

    /// <summary>
    /// Decoding after AutoPrune pruned the BF16 caches gives the logits of a prefill of the longer sequence with the same
    /// selections: the decode kernel reads the rounded rows the prefill wrote, and the prefill attends to rounded rows too.
    /// The cache is reserved for one token only, so decoding also grows it.
    /// </summary>
    [Fact]
    public void Bf16DecodeAfterPruningMatchesAReplayedPrefill()
    {
        var g = new GoldenReference("case1");
        var m = fx.F32;
        var pixels = m.PreprocessImage(g.ImagePath);
        var prompt = m.Tokenize(g.Question);
        WithKvCache(m.LanguageModel, KvCacheType.BF16, () =>
        {
            var rec = new RecordingPolicy(PolicyFactory.Create("autoprune", new PolicyOptions { Budget = 57 }));
            var pre = m.Prefill(pixels, prompt, rec, reserveForDecode: 1);
            Assert.NotEmpty(rec.Selections);
            var ids = prompt.Ids.ToList();
            var logits = pre.Logits;
            for (int step = 0; step < 4; step++)
            {
                int next = Sampling.Argmax(logits);
                logits = pre.Decode(next);
                ids.Add(next);
                var replay = m.Prefill(pixels, new TokenizedPrompt(ids.ToArray(), prompt.ImagePositions), new ReplayPolicy(rec.Selections, pre.Positions));
                Compare.Close($"bf16 decode step {step + 1}", logits, replay.Logits, 1e-4);
            }
            return 0;
        });
    }

    [Fact]
    public void Bf16CacheResultsDoNotDependOnThreadCount()
    {
        var c = new LlamaConfig
        {
            HiddenSize = 256, IntermediateSize = 512, NumHiddenLayers = 2, NumAttentionHeads = 4, NumKeyValueHeads = 2, HeadDim = 64,
            VocabSize = 300, MaxPositionEmbeddings = 1024,
        };
        using var sd = SyntheticDecoder.Create("test", c, 300, 32, null, DType.BF16);
        sd.LanguageModel.KvCacheType = KvCacheType.BF16;
        var prompt = sd.Prompt(20, 299);
        var one = Threads.With(1, () => Steps(new InferenceRun(sd.LanguageModel, prompt, [sd.Image(300)], null, Forced.Length)));
        var two = Threads.With(2, () => Steps(new InferenceRun(sd.LanguageModel, prompt, [sd.Image(300)], null, Forced.Length)));
        for (int s = 0; s < one.Length; s++) Assert.Equal(one[s], two[s]);    // bitwise
    }

    [Fact]
    public void ConversationAndLlavaNextRunWithABf16Cache()
    {
        // A follow-up question prefills the whole conversation afresh: with the BF16 cache the answers stay the F32 ones.
        var g = new GoldenReference("case0");
        var m = fx.F32;
        var image = ImageInput.FromFile(g.ImagePath);
        List<Turn> turns = [new(Speaker.User, g.Question, [image]), new(Speaker.Assistant, "yes"), new(Speaker.User, "How many objects are there?")];
        var exact = Generator.Chat(m, turns, new GenerationOptions { MaxNewTokens = 4 });
        var bf16 = WithKvCache(m.LanguageModel, KvCacheType.BF16, () => Generator.Chat(m, turns, new GenerationOptions { MaxNewTokens = 4 }));
        Assert.Equal(exact.OutputIds, bf16.OutputIds);

        using var next = LlavaNextModel.Load(NextGolden.ModelDir);
        var ng = new NextGolden("case0");
        var features = next.EncodeAnyres(ImageLoader.Load(ng.ImagePath));
        var nprompt = next.Tokenize(ng["question"].GetString()!);
        var nExact = Steps(next.StartRun(nprompt, [features.Features], null, Forced.Length));
        next.LanguageModel.KvCacheType = KvCacheType.BF16;
        var run = next.StartRun(nprompt, [features.Features], null, Forced.Length);
        var nBf16 = Steps(run);
        Assert.Equal(KvCacheType.BF16, run.Cache.Type);
        for (int s = 0; s < nExact.Length; s++) Compare.Close($"next step {s}", nBf16[s], nExact[s], 2e-2, 0.99999);
    }

    [Fact]
    public void AnUndefinedCacheTypeIsRefused()
    {
        var lm = fx.F32.LanguageModel;
        var e = Assert.Throws<GenerationOptionException>(() => lm.KvCacheType = (KvCacheType)7);
        Assert.Contains("KV cache type 7", e.Message);
        Assert.Equal(KvCacheType.F32, lm.KvCacheType);
        Assert.Throws<GenerationOptionException>(() => new KvCache(2, 64, (KvCacheType)(-1)));
    }
}
