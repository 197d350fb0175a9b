using AutoPrune.Benchmarking;
using AutoPrune.Loading;
using AutoPrune.Models;
using AutoPrune.Tensors;

namespace AutoPrune.Tests.Models;

/// <summary>
/// A decode step allocates nothing once warm (KV caches reserved, kernels' per-thread buffers grown): a random
/// decoder big enough that the GEMVs and the key-range attention (several 64-key items) run on the worker pool.
/// </summary>
[Collection(ThreadCountCollection.Name)]
public sealed class DecodeAllocationTests
{
    [Theory]
    [InlineData(KvCacheType.F32)]
    [InlineData(KvCacheType.BF16)]
    public void DecodeStep_AllocatesNothingOnceWarm(KvCacheType kvCache)
    {
        var c = new LlamaConfig
        {
            HiddenSize = 256, IntermediateSize = 512, NumHiddenLayers = 2, NumAttentionHeads = 4, NumKeyValueHeads = 4, HeadDim = 64,
            VocabSize = 300, MaxPositionEmbeddings = 1024,
        };
        using var sd = SyntheticDecoder.Create("test", c, 300, 32, null, DType.BF16);
        sd.LanguageModel.KvCacheType = kvCache;
        var prompt = sd.Prompt(20, 299);
        var run = new InferenceRun(sd.LanguageModel, prompt, [sd.Image(300)], null, 8);
        run.Prefill();
        run.Decode(5);
        run.Decode(6);
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 3; i++) run.Decode(7 + i);
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        Assert.True(System.Numerics.Tensors.TensorPrimitives.IsFiniteAll<float>(run.Logits));
    }
}
