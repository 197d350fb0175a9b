using System.Diagnostics;
using AutoPrune.Loading;
using AutoPrune.Models;
using AutoPrune.Tensors;

namespace AutoPrune.Benchmarking;

/// <summary>
/// A random-weight CLIP vision tower and LLaVA projector of a shape's config, for timing the vision side as
/// <c>EncodeImage</c> runs it (LLaVA-NeXT runs the tower once per tile, then the projector over all tiles). As in
/// <see cref="SyntheticDecoder"/>, one random encoder layer is shared by all layers: the tower is compute-bound, so
/// timings match distinct weights.
/// </summary>
public sealed class SyntheticVisionTower : IDisposable
{
    private const string P = "vision_tower.vision_model.";
    public required LlavaConfig Config { get; init; }
    public required ClipVisionTower Tower { get; init; }
    public required MultiModalProjector Projector { get; init; }
    private ModelWeights? _weights;

    public static SyntheticVisionTower Create(LlavaConfig config, DType dtype, int seed = 21)
    {
        var v = config.Vision;
        int d = v.HiddenSize, m = v.IntermediateSize, p = v.PatchSize;
        var owners = new List<IDisposable>();
        var all = new List<Weight>();
        float s = 1f / MathF.Sqrt(d);
        var ones = new float[Math.Max(d, 1)];
        Array.Fill(ones, 1f);
        var zeros = new float[Math.Max(m, d)];
        Weight W(string name, int[] shape, int sd) => SyntheticWeights.Create(name, dtype, shape, seed + sd, s, owners);
        Weight F(string name, float[] values, int n) => SyntheticWeights.FromValues(name, DType.F32, [n], values.AsSpan(0, n), owners);
        all.Add(W(P + "embeddings.patch_embedding.weight", [d, v.NumChannels, p, p], 1));
        all.Add(W(P + "embeddings.class_embedding", [d], 2));
        all.Add(W(P + "embeddings.position_embedding.weight", [v.NumPatches + 1, d], 3));
        all.Add(F(P + "pre_layrnorm.weight", ones, d));
        all.Add(F(P + "pre_layrnorm.bias", zeros, d));
        var layer = new (string Name, Weight W)[]
        {
            ("layer_norm1.weight", F("ln1w", ones, d)), ("layer_norm1.bias", F("ln1b", zeros, d)),
            ("layer_norm2.weight", F("ln2w", ones, d)), ("layer_norm2.bias", F("ln2b", zeros, d)),
            ("self_attn.q_proj.weight", W("q", [d, d], 4)), ("self_attn.q_proj.bias", F("qb", zeros, d)),
            ("self_attn.k_proj.weight", W("k", [d, d], 5)), ("self_attn.k_proj.bias", F("kb", zeros, d)),
            ("self_attn.v_proj.weight", W("v", [d, d], 6)), ("self_attn.v_proj.bias", F("vb", zeros, d)),
            ("self_attn.out_proj.weight", W("o", [d, d], 7)), ("self_attn.out_proj.bias", F("ob", zeros, d)),
            ("mlp.fc1.weight", W("fc1", [m, d], 8)), ("mlp.fc1.bias", F("fc1b", zeros, m)),
            ("mlp.fc2.weight", W("fc2", [d, m], 9)), ("mlp.fc2.bias", F("fc2b", zeros, d)),
        };
        unsafe
        {
            for (int l = 0; l < config.VisionLayersUsed; l++)
                foreach (var (name, w) in layer)
                    all.Add(new Weight($"{P}encoder.layers.{l}.{name}", w.DType, w.Shape, w.Data));
        }
        int dt = config.Text.HiddenSize;
        all.Add(SyntheticWeights.Create("multi_modal_projector.linear_1.weight", dtype, [dt, d], seed + 10, s, owners));
        all.Add(F("multi_modal_projector.linear_1.bias", new float[dt], dt));
        all.Add(SyntheticWeights.Create("multi_modal_projector.linear_2.weight", dtype, [dt, dt], seed + 11, 1f / MathF.Sqrt(dt), owners));
        all.Add(F("multi_modal_projector.linear_2.bias", new float[dt], dt));
        var weights = new ModelWeights("random vision tower", all, owners);
        return new SyntheticVisionTower
        {
            Config = config, Tower = new ClipVisionTower(config, weights), Projector = new MultiModalProjector(config, weights), _weights = weights,
        };
    }

    /// <summary>
    /// GEMM FLOPs of one image of <paramref name="tiles"/> tiles, counting a multiply-add as 2 (as GEMM GFLOP/s do): exactly
    /// the products <c>EncodeImage</c> runs. Per tile: the patch embedding (patches x hidden x 3·patch²) and, per encoder
    /// layer used, q/k/v/out_proj (4 x tokens x hidden²), fc1 and fc2 (2 x tokens x hidden x mlp) and attention's QKᵀ and
    /// PV (2 x heads x tokens² x head_dim); then the projector over every tile's features (features x text hidden x
    /// (vision hidden + text hidden)). Not counted: elementwise work and the last layer's [CLS] attention row. LLaVA-1.5-7B:
    /// 0.69 + 23 x 15.88 + 24.16 = 390.2 GFLOP.
    /// </summary>
    public static double Flops(LlavaConfig config, int tiles)
    {
        var v = config.Vision;
        double n = v.NumPatches + 1, d = v.HiddenSize, m = v.IntermediateSize;
        double patch = 2.0 * v.NumPatches * d * v.NumChannels * v.PatchSize * v.PatchSize;
        double layer = 2 * n * (4 * d * d + 2 * d * m) + 2 * 2 * n * n * d;
        double features = (double)tiles * config.ImageSeqLength, dt = config.Text.HiddenSize;
        double projector = 2 * features * dt * (d + dt);
        return tiles * (patch + config.VisionLayersUsed * layer) + projector;
    }

    /// <summary>
    /// Median milliseconds to run the tower over <paramref name="tiles"/> tiles of random pixels and the projector over
    /// their features, as <c>EncodeImage</c> does (LLaVA-NeXT's tiles one after another; the first run warms up).
    /// </summary>
    public double MeasureTilesMs(int tiles, int reps, int seed = 5)
    {
        var v = Config.Vision;
        var rng = new Random(seed);
        var pixels = new float[tiles][];
        for (int t = 0; t < tiles; t++)
        {
            pixels[t] = new float[v.NumChannels * v.ImageSize * v.ImageSize];
            for (int i = 0; i < pixels[t].Length; i++) pixels[t][i] = (float)(rng.NextDouble() * 4 - 2);
        }
        int tokens = Tower.FeatureTokens, dv = v.HiddenSize;
        var features = new float[tiles * tokens * dv];
        void Once()
        {
            for (int t = 0; t < tiles; t++) Tower.Forward(pixels[t]).Features.CopyTo(features, t * tokens * dv);
            Projector.Forward(features, tiles * tokens);
        }
        Once();
        var times = new double[Math.Max(1, reps)];
        for (int r = 0; r < times.Length; r++)
        {
            var sw = Stopwatch.StartNew();
            Once();
            times[r] = sw.Elapsed.TotalMilliseconds;
        }
        Array.Sort(times);
        return times[times.Length / 2];
    }

    public void Dispose() { _weights?.Dispose(); _weights = null; }
}
