using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json;
using AutoPrune.Loading;
using AutoPrune.Tensors;

namespace AutoPrune.Benchmarking;

/// <summary>
/// Writes a random-weight llava-hf LLaVA-1.5 folder of a named shape (or any config) to disk: config.json,
/// preprocessor_config.json, a made-up tokenizer of the shape's size (<see cref="SyntheticVocabulary"/>) and one
/// model.safetensors, streamed tensor by tensor so a 7B or 13B model never sits in memory. Matrices are uniform in
/// ±1/sqrt(hidden) (the decoder's and the tower's width, as the in-memory synthetic benches use), norms 1, biases 0,
/// so activations stay in range through every layer. Deterministic in the seed. A folder written completely is
/// stamped (random-model.json, last) and reused as it is when asked for again with the same settings.
/// </summary>
public static class RandomLlavaFolder
{
    public const string StampFileName = "random-model.json";
    public const string WeightsFileName = "model.safetensors";

    /// <summary>A named shape (<see cref="ModelShapes"/>, LLaVA-1.5 only) with <paramref name="layers"/> decoder layers (default: all).</summary>
    public static string Create(string dir, string shape, int? layers = null, DType dtype = DType.BF16, int seed = 1, Action<string>? progress = null)
    {
        if (ModelShapes.Tiles(shape) != 1) throw new ArgumentException($"shape '{shape}' is LLaVA-NeXT; only LLaVA-1.5 folders are written");
        var config = ModelShapes.Get(shape);
        if (layers is { } n)
        {
            if (n < 1) throw new ArgumentOutOfRangeException(nameof(layers), "a decoder needs at least one layer");
            config = config with { Text = config.Text with { NumHiddenLayers = n } };
        }
        return Create(dir, config, dtype, seed, progress, shape);
    }

    /// <summary>Writes the folder for <paramref name="config"/> unless <paramref name="dir"/> already holds it complete; returns the full path.</summary>
    public static string Create(string dir, LlavaConfig config, DType dtype = DType.BF16, int seed = 1, Action<string>? progress = null, string? name = null)
    {
        config.Validate("random model config");
        dir = Path.GetFullPath(dir);
        var stamp = Stamp(config, dtype, seed);
        if (IsComplete(dir, stamp))
        {
            progress?.Invoke($"reusing {dir}");
            return dir;
        }
        Directory.CreateDirectory(dir);
        File.Delete(Path.Combine(dir, StampFileName));
        WriteConfig(Path.Combine(dir, ModelFolder.ConfigFileName), config, name);
        WritePreprocessor(Path.Combine(dir, "preprocessor_config.json"), config.Vision.ImageSize);
        SyntheticVocabulary.Write(dir, config);

        var writer = Tensors(config, dtype);
        double gb = writer.FileBytes / 1e9;
        var partial = Path.Combine(dir, WeightsFileName + ".partial");
        int done = 0;
        var next = DateTime.UtcNow;
        writer.Write(partial, (e, s) =>
        {
            Fill(s, e, Scale(e.Name, config), seed);
            done++;
            if (progress != null && (DateTime.UtcNow >= next || done == writer.Entries.Count))
            {
                progress($"{WeightsFileName}: {done}/{writer.Entries.Count} tensors ({s.Position / 1e9:F1} of {gb:F1} GB)");
                next = DateTime.UtcNow.AddSeconds(10);
            }
        });
        File.Move(partial, Path.Combine(dir, WeightsFileName), overwrite: true);
        File.WriteAllText(Path.Combine(dir, StampFileName), JsonSerializer.Serialize(stamp));
        return dir;
    }

    /// <summary>Parameters of the checkpoint <paramref name="config"/> describes (llava-7b: 7,063,427,072).</summary>
    public static long Parameters(LlavaConfig config) => Tensors(config, DType.BF16).Entries.Sum(e => e.Elements);

    /// <summary>True when <paramref name="dir"/> holds a complete folder written with these settings.</summary>
    public static bool IsComplete(string dir, LlavaConfig config, DType dtype = DType.BF16, int seed = 1) =>
        IsComplete(Path.GetFullPath(dir), Stamp(config, dtype, seed));

    private sealed record StampInfo(int Version, string Config, string DType, int Seed, long Bytes);

    private static StampInfo Stamp(LlavaConfig config, DType dtype, int seed) =>
        new(1, config.ToString(), dtype.Name(), seed, Tensors(config, dtype).FileBytes);

    private static bool IsComplete(string dir, StampInfo expected)
    {
        var path = Path.Combine(dir, StampFileName);
        var weights = new FileInfo(Path.Combine(dir, WeightsFileName));
        if (!File.Exists(path) || !weights.Exists || weights.Length != expected.Bytes) return false;
        try { return JsonSerializer.Deserialize<StampInfo>(File.ReadAllText(path)) == expected; }
        catch (JsonException) { return false; }
    }

    /// <summary>Every tensor of a llava-hf LLaVA-1.5 checkpoint (classic key layout), all in <paramref name="dtype"/> as llava-hf stores them.</summary>
    private static SafetensorsStreamWriter Tensors(LlavaConfig config, DType dtype)
    {
        var w = new SafetensorsStreamWriter();
        var v = config.Vision;
        var t = config.Text;
        long vd = v.HiddenSize, vm = v.IntermediateSize, d = t.HiddenSize, m = t.IntermediateSize;
        long qd = (long)t.NumAttentionHeads * t.HeadDim, kvd = (long)t.NumKeyValueHeads * t.HeadDim;
        const string P = "vision_tower.vision_model.";
        w.Declare(P + "embeddings.class_embedding", dtype, vd);
        w.Declare(P + "embeddings.patch_embedding.weight", dtype, vd, v.NumChannels, v.PatchSize, v.PatchSize);
        w.Declare(P + "embeddings.position_embedding.weight", dtype, v.NumPatches + 1, vd);
        w.Declare(P + "pre_layrnorm.weight", dtype, vd);
        w.Declare(P + "pre_layrnorm.bias", dtype, vd);
        for (int i = 0; i < v.NumHiddenLayers; i++)
        {
            string p = $"{P}encoder.layers.{i}.";
            foreach (var proj in new[] { "q_proj", "k_proj", "v_proj", "out_proj" })
            {
                w.Declare($"{p}self_attn.{proj}.weight", dtype, vd, vd);
                w.Declare($"{p}self_attn.{proj}.bias", dtype, vd);
            }
            w.Declare(p + "layer_norm1.weight", dtype, vd);
            w.Declare(p + "layer_norm1.bias", dtype, vd);
            w.Declare(p + "mlp.fc1.weight", dtype, vm, vd);
            w.Declare(p + "mlp.fc1.bias", dtype, vm);
            w.Declare(p + "mlp.fc2.weight", dtype, vd, vm);
            w.Declare(p + "mlp.fc2.bias", dtype, vd);
            w.Declare(p + "layer_norm2.weight", dtype, vd);
            w.Declare(p + "layer_norm2.bias", dtype, vd);
        }
        w.Declare(P + "post_layernorm.weight", dtype, vd);
        w.Declare(P + "post_layernorm.bias", dtype, vd);
        w.Declare("multi_modal_projector.linear_1.weight", dtype, d, vd);
        w.Declare("multi_modal_projector.linear_1.bias", dtype, d);
        w.Declare("multi_modal_projector.linear_2.weight", dtype, d, d);
        w.Declare("multi_modal_projector.linear_2.bias", dtype, d);
        const string L = "language_model.model.";
        w.Declare(L + "embed_tokens.weight", dtype, t.VocabSize, d);
        for (int i = 0; i < t.NumHiddenLayers; i++)
        {
            string p = $"{L}layers.{i}.";
            w.Declare(p + "input_layernorm.weight", dtype, d);
            w.Declare(p + "self_attn.q_proj.weight", dtype, qd, d);
            w.Declare(p + "self_attn.k_proj.weight", dtype, kvd, d);
            w.Declare(p + "self_attn.v_proj.weight", dtype, kvd, d);
            w.Declare(p + "self_attn.o_proj.weight", dtype, d, qd);
            w.Declare(p + "post_attention_layernorm.weight", dtype, d);
            w.Declare(p + "mlp.gate_proj.weight", dtype, m, d);
            w.Declare(p + "mlp.up_proj.weight", dtype, m, d);
            w.Declare(p + "mlp.down_proj.weight", dtype, d, m);
        }
        w.Declare(L + "norm.weight", dtype, d);
        w.Declare("language_model.lm_head.weight", dtype, t.VocabSize, d);
        return w;
    }

    /// <summary>Values of a tensor: NaN marks "constant" (1 for norm weights, 0 for biases), else the uniform half-width.</summary>
    private static float Scale(string name, LlavaConfig config)
    {
        if (name.EndsWith(".bias", StringComparison.Ordinal)) return 0;
        if (name.Contains("norm", StringComparison.Ordinal)) return float.NaN;   // every LayerNorm/RMSNorm weight (pre_layrnorm too)
        int width = name.StartsWith("vision_tower.", StringComparison.Ordinal) ? config.Vision.HiddenSize : config.Text.HiddenSize;
        return 1f / MathF.Sqrt(width);
    }

    /// <summary>Streams one tensor's values: a SplitMix64 sequence seeded by the tensor's name, so each tensor is reproducible alone.</summary>
    private static void Fill(Stream s, SafetensorsStreamWriter.Entry e, float scale, int seed)
    {
        ulong state = (ulong)seed * 0x9E3779B97F4A7C15UL ^ NameHash(e.Name);
        const int Chunk = 1 << 20;
        var values = new float[Chunk];
        var bytes = new byte[Chunk * 4];
        for (long done = 0; done < e.Elements;)
        {
            int n = (int)Math.Min(Chunk, e.Elements - done);
            var span = values.AsSpan(0, n);
            if (float.IsNaN(scale)) span.Fill(1f);
            else if (scale == 0) span.Clear();
            else
                for (int i = 0; i < n; i++)
                {
                    ulong z = state += 0x9E3779B97F4A7C15UL;
                    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
                    z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
                    z ^= z >> 31;
                    span[i] = ((z >> 40) * (1f / (1 << 23)) - 1f) * scale;   // 24 random bits → [-1, 1)
                }
            int size = e.DType.Size();
            var outBytes = bytes.AsSpan(0, n * size);
            switch (e.DType)
            {
                case DType.F32: MemoryMarshal.AsBytes(span).CopyTo(outBytes); break;
                case DType.BF16:
                    var bf = MemoryMarshal.Cast<byte, ushort>(outBytes);
                    for (int i = 0; i < n; i++) bf[i] = AutoPrune.Tensors.Convert.F32ToBF16(span[i]);
                    break;
                default:
                    var h = MemoryMarshal.Cast<byte, ushort>(outBytes);
                    for (int i = 0; i < n; i++) h[i] = AutoPrune.Tensors.Convert.F32ToF16(span[i]);
                    break;
            }
            s.Write(outBytes);
            done += n;
        }
    }

    private static ulong NameHash(string name)
    {
        ulong h = 14695981039346656037UL;   // FNV-1a: stable across runs, unlike string.GetHashCode
        foreach (char c in name) h = (h ^ c) * 1099511628211UL;
        return h;
    }

    private static void WriteConfig(string path, LlavaConfig c, string? name)
    {
        var t = c.Text;
        var v = c.Vision;
        using var fs = File.Create(path);
        using var w = new Utf8JsonWriter(fs, new JsonWriterOptions { Indented = true });
        w.WriteStartObject();
        w.WriteStartArray("architectures"); w.WriteStringValue("LlavaForConditionalGeneration"); w.WriteEndArray();
        w.WriteString("model_type", "llava");
        if (name != null) w.WriteString("_name_or_path", $"random {name}");
        w.WriteNumber("image_token_index", c.ImageTokenIndex);
        w.WriteNumber("pad_token_id", c.PadTokenId);
        w.WriteString("projector_hidden_act", c.ProjectorHiddenAct);
        w.WriteNumber("vision_feature_layer", c.VisionFeatureLayer);
        w.WriteString("vision_feature_select_strategy", c.VisionFeatureSelectStrategy);
        w.WriteNumber("image_seq_length", c.ImageSeqLength);
        w.WriteBoolean("tie_word_embeddings", false);
        w.WriteStartObject("text_config");
        w.WriteString("model_type", t.ModelType);
        w.WriteNumber("hidden_size", t.HiddenSize);
        w.WriteNumber("intermediate_size", t.IntermediateSize);
        w.WriteNumber("num_hidden_layers", t.NumHiddenLayers);
        w.WriteNumber("num_attention_heads", t.NumAttentionHeads);
        w.WriteNumber("num_key_value_heads", t.NumKeyValueHeads);
        w.WriteNumber("head_dim", t.HeadDim);
        w.WriteNumber("rms_norm_eps", t.RmsNormEps);
        w.WriteNumber("rope_theta", t.RopeTheta);
        w.WriteNumber("vocab_size", t.VocabSize);
        w.WriteNumber("max_position_embeddings", t.MaxPositionEmbeddings);
        w.WriteString("hidden_act", t.HiddenAct);
        w.WriteNumber("bos_token_id", t.BosTokenId);
        w.WriteNumber("eos_token_id", t.EosTokenId);
        w.WriteNumber("pad_token_id", c.PadTokenId);
        w.WriteEndObject();
        w.WriteStartObject("vision_config");
        w.WriteString("model_type", "clip_vision_model");
        w.WriteNumber("hidden_size", v.HiddenSize);
        w.WriteNumber("intermediate_size", v.IntermediateSize);
        w.WriteNumber("num_hidden_layers", v.NumHiddenLayers);
        w.WriteNumber("num_attention_heads", v.NumAttentionHeads);
        w.WriteNumber("image_size", v.ImageSize);
        w.WriteNumber("patch_size", v.PatchSize);
        w.WriteNumber("num_channels", v.NumChannels);
        w.WriteString("hidden_act", v.HiddenAct);
        w.WriteNumber("layer_norm_eps", v.LayerNormEps);
        w.WriteNumber("projection_dim", 768);
        w.WriteEndObject();
        w.WriteEndObject();
    }

    private static void WritePreprocessor(string path, int size)
    {
        string mean = string.Join(", ", ClipImageProcessor.OpenAiClipMean.Select(x => x.ToString("R", CultureInfo.InvariantCulture)));
        string std = string.Join(", ", ClipImageProcessor.OpenAiClipStd.Select(x => x.ToString("R", CultureInfo.InvariantCulture)));
        File.WriteAllText(path, $$"""
            {
              "crop_size": { "height": {{size}}, "width": {{size}} },
              "do_center_crop": true, "do_convert_rgb": true, "do_normalize": true, "do_rescale": true, "do_resize": true,
              "image_mean": [{{mean}}],
              "image_std": [{{std}}],
              "image_processor_type": "CLIPImageProcessor",
              "resample": 3,
              "rescale_factor": 0.00392156862745098,
              "size": { "shortest_edge": {{size}} }
            }
            """);
    }
}
