using AutoPrune.Benchmarking;

namespace AutoPrune.Tests.Benchmarking;

/// <summary>The FLOP count behind the bench's vision row, written out by hand for LLaVA-1.5-7B and LLaVA-NeXT-7B.</summary>
public sealed class SyntheticVisionTowerTests
{
    [Fact]
    public void FlopsAreTheProductsOfTowerAndProjector()
    {
        // 577 tokens, hidden 1024, MLP 4096, 16 heads of 64, 23 of 24 layers used, patches 14x14x3, projector 1024 -> 4096 -> 4096.
        const double patch = 2.0 * 576 * 1024 * 588;                                        // 0.69 GFLOP
        const double layer = 2.0 * 577 * (4.0 * 1024 * 1024 + 2.0 * 1024 * 4096)           // q, k, v, out, fc1, fc2
                             + 2 * (2.0 * 16 * 577 * 577 * 64);                             // QKᵀ and PV over 16 heads
        const double projector = 2.0 * 576 * (4096.0 * 1024 + 4096.0 * 4096);
        Assert.Equal(patch + 23 * layer + projector, SyntheticVisionTower.Flops(ModelShapes.Get("llava-7b"), 1));
        Assert.Equal(390_193_049_600, SyntheticVisionTower.Flops(ModelShapes.Get("llava-7b"), 1));
        // LLaVA-NeXT: the tower per tile, the projector over every tile's 576 features.
        Assert.Equal(5 * (patch + 23 * layer) + 5 * projector, SyntheticVisionTower.Flops(ModelShapes.Get("llava-next-7b"), 5));
    }
}
