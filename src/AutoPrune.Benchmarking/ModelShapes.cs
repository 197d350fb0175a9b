using AutoPrune.Loading;

namespace AutoPrune.Benchmarking;

/// <summary>
/// The named model shapes the benchmarks build random-weight models of: the one place their sizes are written.
/// Each is a full llava-hf config (decoder, vision tower, image token id), as a config.json of that model gives.
/// </summary>
public static class ModelShapes
{
    /// <summary>Names accepted by <see cref="Get"/>.</summary>
    public static readonly string[] Names = ["llava-7b", "llava-13b", "llava-next-7b"];

    /// <summary>
    /// LLaVA-1.5 7B / 13B (llava-hf): LLaMA-2 decoder, CLIP ViT-L/14-336, 576 visual tokens, vocabulary 32064.
    /// llava-next-7b (llava-v1.6-vicuna-7b-hf): the same decoder and tower; its image runs as <see cref="Tiles"/> tiles.
    /// </summary>
    public static LlavaConfig Get(string name) => name switch
    {
        "llava-7b" or "llava-next-7b" => Llava15(new LlamaConfig
        {
            HiddenSize = 4096, IntermediateSize = 11008, NumHiddenLayers = 32, NumAttentionHeads = 32, NumKeyValueHeads = 32,
            HeadDim = 128, VocabSize = 32064, RmsNormEps = 1e-5f, MaxPositionEmbeddings = 4096,
        }),
        "llava-13b" => Llava15(new LlamaConfig
        {
            HiddenSize = 5120, IntermediateSize = 13824, NumHiddenLayers = 40, NumAttentionHeads = 40, NumKeyValueHeads = 40,
            HeadDim = 128, VocabSize = 32064, RmsNormEps = 1e-5f, MaxPositionEmbeddings = 4096,
        }),
        _ => throw new ArgumentException($"unknown shape '{name}' ({string.Join(", ", Names)}, or a model folder)"),
    };

    /// <summary>
    /// Vision-tower tiles per image: 1 for LLaVA-1.5; 5 for LLaVA-NeXT (the base view and a 2x2 grid, the most
    /// llava-v1.6's pinpoints give), i.e. 5 x 576 = 2,880 visual tokens in the official AutoPrune (spatial) packing.
    /// </summary>
    public static int Tiles(string name) => name == "llava-next-7b" ? 5 : 1;

    /// <summary>True for a name <see cref="Get"/> knows.</summary>
    public static bool IsNamed(string name) => Array.IndexOf(Names, name) >= 0;

    private static LlavaConfig Llava15(LlamaConfig text) => new()
    {
        Text = text,
        Vision = new ClipVisionConfig(),   // its defaults are CLIP ViT-L/14-336
        ImageTokenIndex = 32000,
        PadTokenId = 32001,
    };
}
