using AutoPrune.Accounting;
using AutoPrune.Loading;
using AutoPrune.Pruning;
using SkiaSharp;

namespace AutoPrune.Tests.Support;

/// <summary>Hand-made traces and images for the plot tests, and a tiny policy that registers itself for CLI tests.</summary>
internal static class PlotTestSupport
{
    /// <summary>8 layers of a 16x16 grid: layers 0-1 all tokens, 2.. the even ids; layer 3 also holds one merged token (id 256).</summary>
    public static PrefillTrace EvenTrace(string policy = "test-even")
    {
        const int n0 = 256, layers = 8;
        var t = new PrefillTrace { Policy = policy, Budget = 100, VisualTokensIn = n0, VisualTokensIntoDecoder = n0 };
        var all = Enumerable.Range(0, n0).ToArray();
        var even = all.Where(i => i % 2 == 0).ToArray();
        t.VisualIdsPerLayer = Enumerable.Range(0, layers).Select(l => l < 2 ? all : l == 3 ? [.. even, n0] : even).ToArray();
        t.VisualTokensPerLayer = t.VisualIdsPerLayer.Select(ids => ids.Length).ToArray();
        return t;
    }

    /// <summary>A 128x128 gradient with no dark pixel (every channel ≥ 60), so darkening is always visible.</summary>
    public static RgbImage Gradient(int size = 128)
    {
        var px = new byte[size * size * 3];
        for (int y = 0; y < size; y++)
            for (int x = 0; x < size; x++)
            {
                int i = (y * size + x) * 3;
                px[i] = (byte)(60 + x * 150 / size);
                px[i + 1] = (byte)(60 + y * 150 / size);
                px[i + 2] = 200;
            }
        return new RgbImage(size, size, px);
    }

    public static SKBitmap DecodePng(string path)
    {
        Assert.True(File.Exists(path), path + " was not written");
        var bytes = File.ReadAllBytes(path);
        Assert.True(bytes.AsSpan(0, 8).SequenceEqual(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A }), path + " is not a PNG");
        return SKBitmap.Decode(bytes) ?? throw new Xunit.Sdk.XunitException(path + " does not decode");
    }

    public static (byte R, byte G, byte B) Rgb(RgbImage img, int x, int y)
    {
        int i = (y * img.Width + x) * 3;
        return (img.Rgb[i], img.Rgb[i + 1], img.Rgb[i + 2]);
    }

    /// <summary>Registers "test-even" (keeps even original ids after layer 1, records a keep-fraction curve) and
    /// "test-merge" (pre-decoder: keeps 0..99 and merges 100..255 into one token). A module initializer runs it
    /// before any test, so no test reads the registry while it changes.</summary>
    [System.Runtime.CompilerServices.ModuleInitializer]
    internal static void RegisterTestPolicies()
    {
        PolicyFactory.Register("test-even", _ => new KeepEvenAfterLayer1());
        PolicyFactory.Register("test-merge", _ => new MergeTail());
    }

    private sealed class KeepEvenAfterLayer1 : IPruningPolicy, IPruningRun
    {
        public string Name => "test-even";
        public PositionMode Positions => PositionMode.Original;

        public IPruningRun Begin(PruningSetup setup)
        {
            setup.Trace.Curves.Set("test.keep", Enumerable.Range(0, setup.DecoderLayers).Select(l => l < 2 ? 1.0 : 0.5).ToArray(), CurveKind.KeepFraction);
            return this;
        }

        public VisualSelection? AfterLayer(LayerContext ctx)
        {
            if (ctx.Layer != 1) return null;
            var ids = ctx.VisualIds;
            var keep = new List<int>();
            for (int i = 0; i < ids.Length; i++) if (ids[i] % 2 == 0) keep.Add(i);
            return new VisualSelection(keep.ToArray());
        }
    }

    private sealed class MergeTail : IPruningPolicy, IPruningRun
    {
        public string Name => "test-merge";
        public PositionMode Positions => PositionMode.Compact;
        public IPruningRun Begin(PruningSetup setup) => this;

        public VisualSelection? BeforeDecoder(PreDecoderContext ctx) =>
            new(Enumerable.Range(0, 100).ToArray(), [Enumerable.Range(100, ctx.VisualTokens - 100).ToArray()]);
    }
}
