using AutoPrune.Models;
using AutoPrune.Tensors;

namespace AutoPrune.Tests.Models;

/// <summary>
/// Work partitioning never depends on the thread count, so the tiny model's prefill logits (vision tower,
/// projector, decoder) must be bitwise identical with 1 and 2 worker threads.
/// </summary>
[Collection(ThreadCountCollection.Name)]
public sealed class ThreadCountDeterminismTests
{
    [Fact]
    public void PrefillLogitsAreBitwiseIdenticalForOneAndTwoThreads()
    {
        var g = new GoldenReference("case0");
        using var model = LlavaModel.Load(TestPaths.TinyModel);
        var pixels = model.PreprocessImage(g.ImagePath);
        var prompt = model.Tokenize(g.Question);
        int saved = Parallelism.MaxThreads;
        try
        {
            Parallelism.MaxThreads = 1;
            var one = model.Prefill(pixels, prompt).Logits;
            Parallelism.MaxThreads = 2;
            var two = model.Prefill(pixels, prompt).Logits;
            Assert.Equal(one.Length, two.Length);
            for (int i = 0; i < one.Length; i++)
                Assert.True(BitConverter.SingleToInt32Bits(one[i]) == BitConverter.SingleToInt32Bits(two[i]),
                    $"logit {i}: {one[i]:R} (1 thread) vs {two[i]:R} (2 threads)");
        }
        finally { Parallelism.MaxThreads = saved; }
    }

    [Fact]
    public void MaxThreadsIsClampedAndSharedWithGemm()
    {
        int saved = Parallelism.MaxThreads;
        try
        {
            Parallelism.MaxThreads = 0;
            Assert.Equal(1, Parallelism.MaxThreads);
            Gemm.MaxThreads = 3;
            Assert.Equal(3, Parallelism.MaxThreads);
        }
        finally { Parallelism.MaxThreads = saved; }
    }
}
