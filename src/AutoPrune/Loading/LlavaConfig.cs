using System.Text.Json;

namespace AutoPrune.Loading;

/// <summary>
/// LLaMA-architecture decoder settings (config.json "text_config"). Defaults are LLaMA-7B's, as transformers applies
/// them; a "mistral" text_config (LLaVA-NeXT-Mistral) takes MistralConfig's defaults instead (8 KV heads, 14336 MLP,
/// 4096-token sliding window), the layers being the same RMSNorm + RoPE + SwiGLU blocks.
/// </summary>
public sealed record LlamaConfig
{
    /// <summary>"llama" or "mistral".</summary>
    public string ModelType { get; init; } = "llama";
    public int HiddenSize { get; init; } = 4096;
    public int IntermediateSize { get; init; } = 11008;
    public int NumHiddenLayers { get; init; } = 32;
    public int NumAttentionHeads { get; init; } = 32;
    /// <summary>Defaults to <see cref="NumAttentionHeads"/> (no grouped-query attention).</summary>
    public int NumKeyValueHeads { get; init; }
    /// <summary>Defaults to hidden / heads.</summary>
    public int HeadDim { get; init; }
    public float RmsNormEps { get; init; } = 1e-6f;
    public float RopeTheta { get; init; } = 10000f;
    public int VocabSize { get; init; } = 32000;
    public int MaxPositionEmbeddings { get; init; } = 2048;
    public string HiddenAct { get; init; } = "silu";
    public bool AttentionBias { get; init; }
    public bool MlpBias { get; init; }
    public bool TieWordEmbeddings { get; init; }
    public int BosTokenId { get; init; } = 1;
    public int EosTokenId { get; init; } = 2;
    /// <summary>Mistral's sliding attention window; 0 = none. The engine attends to the whole prefix, so a sequence
    /// longer than the window is refused rather than computed differently from the reference.</summary>
    public int SlidingWindow { get; init; }

    /// <summary>transformers' MistralConfig defaults where they differ from LLaMA's.</summary>
    internal static LlamaConfig MistralDefaults => new()
    {
        ModelType = "mistral", IntermediateSize = 14336, NumKeyValueHeads = 8, MaxPositionEmbeddings = 4096 * 32, SlidingWindow = 4096,
    };
}

/// <summary>CLIP vision tower settings (config.json "vision_config"). Defaults are CLIP ViT-L/14-336's, as LLaVA-1.5 uses.</summary>
public sealed record ClipVisionConfig
{
    public int HiddenSize { get; init; } = 1024;
    public int IntermediateSize { get; init; } = 4096;
    public int NumHiddenLayers { get; init; } = 24;
    public int NumAttentionHeads { get; init; } = 16;
    public int ImageSize { get; init; } = 336;
    public int PatchSize { get; init; } = 14;
    public int NumChannels { get; init; } = 3;
    public string HiddenAct { get; init; } = "quick_gelu";
    public float LayerNormEps { get; init; } = 1e-5f;

    public int HeadDim => HiddenSize / NumAttentionHeads;
    public int PatchesPerSide => ImageSize / PatchSize;
    public int NumPatches => PatchesPerSide * PatchesPerSide;
}

/// <summary>A llava-hf config.json. Every field the engine reads, with the default it applies when absent.</summary>
public sealed record LlavaConfig
{
    public LlamaConfig Text { get; init; } = new();
    public ClipVisionConfig Vision { get; init; } = new();
    public int ImageTokenIndex { get; init; } = 32000;
    public int PadTokenId { get; init; } = 32001;
    public string ProjectorHiddenAct { get; init; } = "gelu";
    public int VisionFeatureLayer { get; init; } = -2;
    /// <summary>"default" drops the CLS row, "full" keeps it.</summary>
    public string VisionFeatureSelectStrategy { get; init; } = "default";

    /// <summary>Number of vision encoder layers actually run: hidden_states[i] is the input of layer i.</summary>
    public int VisionLayersUsed => VisionFeatureLayer < 0 ? Vision.NumHiddenLayers + 1 + VisionFeatureLayer : VisionFeatureLayer;

    /// <summary>Visual tokens one image becomes in the decoder.</summary>
    public int ImageSeqLength => Vision.NumPatches + (VisionFeatureSelectStrategy == "full" ? 1 : 0);

    public static LlavaConfig Load(string path)
    {
        if (!File.Exists(path)) throw new ModelLoadException($"config.json not found: {path}");
        using var doc = JsonInput.ReadFile(path, p => new ModelLoadException($"{path}: {p}"));
        return Parse(doc.RootElement, path);
    }

    public static LlavaConfig Parse(JsonElement root, string where = "config.json") => Parse(root, where, "llava");

    /// <summary>The fields LLaVA-1.5 and LLaVA-NeXT share; <paramref name="modelType"/> is the top-level model_type expected.</summary>
    internal static LlavaConfig Parse(JsonElement root, string where, string modelType)
    {
        if (root.ValueKind != JsonValueKind.Object) throw new ModelLoadException($"{where}: expected a JSON object");
        var f = new Fields(where);
        var found = f.Str(root, "", "model_type", modelType);
        if (found != modelType)
            throw new ConfigMismatchException($"{where}: model_type '{found}' is not supported (expected '{modelType}')");

        var t = Section(root, "text_config", where);
        var v = Section(root, "vision_config", where);
        // RoPE scaling changes every position's rotation; running without it would be silently wrong.
        foreach (var (o, section) in new[] { (root, ""), (t, "text_config.") })
            if (Has(o, "rope_scaling", out var rs))
                throw new ConfigMismatchException($"{where}: '{section}rope_scaling' {rs.GetRawText()} is not supported (only plain RoPE)");

        var textType = f.Str(t, "text_config.", "model_type", "llama");
        var text = textType switch
        {
            "llama" => new LlamaConfig(),
            "mistral" => LlamaConfig.MistralDefaults,
            _ => throw new ConfigMismatchException($"{where}: text_config model_type '{textType}' is not supported (llama, mistral)"),
        };
        int heads = f.Int(t, "text_config.", "num_attention_heads", text.NumAttentionHeads);
        int hidden = f.Int(t, "text_config.", "hidden_size", text.HiddenSize);
        // Without head_dim transformers uses hidden / heads, which must then divide exactly.
        if (!Has(t, "head_dim", out _) && heads > 0 && hidden % heads != 0)
            throw new ConfigMismatchException(
                $"{where}: text_config hidden_size {hidden} is not divisible by num_attention_heads {heads} (and no head_dim is given)");
        text = text with
        {
            HiddenSize = hidden,
            IntermediateSize = f.Int(t, "text_config.", "intermediate_size", text.IntermediateSize),
            NumHiddenLayers = f.Int(t, "text_config.", "num_hidden_layers", text.NumHiddenLayers),
            NumAttentionHeads = heads,
            NumKeyValueHeads = f.Int(t, "text_config.", "num_key_value_heads", textType == "mistral" ? text.NumKeyValueHeads : heads),
            HeadDim = f.Int(t, "text_config.", "head_dim", heads > 0 ? hidden / heads : 0),
            RmsNormEps = f.Float(t, "text_config.", "rms_norm_eps", text.RmsNormEps),
            RopeTheta = f.Float(t, "text_config.", "rope_theta", text.RopeTheta),
            VocabSize = f.Int(t, "text_config.", "vocab_size", text.VocabSize),
            MaxPositionEmbeddings = f.Int(t, "text_config.", "max_position_embeddings", text.MaxPositionEmbeddings),
            HiddenAct = f.Str(t, "text_config.", "hidden_act", text.HiddenAct),
            AttentionBias = f.Bool(t, "text_config.", "attention_bias", false),
            MlpBias = f.Bool(t, "text_config.", "mlp_bias", false),
            TieWordEmbeddings = f.Bool(t, "text_config.", "tie_word_embeddings", f.Bool(root, "", "tie_word_embeddings", false)),
            BosTokenId = f.TokenId(t, "text_config.", "bos_token_id", text.BosTokenId),
            EosTokenId = f.TokenId(t, "text_config.", "eos_token_id", text.EosTokenId),
            // An explicit null (the llava-hf Mistral NeXT checkpoints) turns the window off; absent keeps the default.
            SlidingWindow = t.ValueKind == JsonValueKind.Object && t.TryGetProperty("sliding_window", out var sw) && sw.ValueKind == JsonValueKind.Null
                ? 0 : f.Int(t, "text_config.", "sliding_window", text.SlidingWindow),
        };
        var vis = new ClipVisionConfig();
        vis = vis with
        {
            HiddenSize = f.Int(v, "vision_config.", "hidden_size", vis.HiddenSize),
            IntermediateSize = f.Int(v, "vision_config.", "intermediate_size", vis.IntermediateSize),
            NumHiddenLayers = f.Int(v, "vision_config.", "num_hidden_layers", vis.NumHiddenLayers),
            NumAttentionHeads = f.Int(v, "vision_config.", "num_attention_heads", vis.NumAttentionHeads),
            ImageSize = f.Int(v, "vision_config.", "image_size", vis.ImageSize),
            PatchSize = f.Int(v, "vision_config.", "patch_size", vis.PatchSize),
            NumChannels = f.Int(v, "vision_config.", "num_channels", vis.NumChannels),
            HiddenAct = f.Str(v, "vision_config.", "hidden_act", vis.HiddenAct),
            LayerNormEps = f.Float(v, "vision_config.", "layer_norm_eps", vis.LayerNormEps),
        };
        var cfg = new LlavaConfig
        {
            Text = text,
            Vision = vis,
            ImageTokenIndex = f.Int(root, "", "image_token_index", 32000),
            PadTokenId = f.Int(root, "", "pad_token_id", 32001),
            ProjectorHiddenAct = f.Str(root, "", "projector_hidden_act", "gelu"),
            VisionFeatureLayer = f.Int(root, "", "vision_feature_layer", -2),
            VisionFeatureSelectStrategy = f.Str(root, "", "vision_feature_select_strategy", "default"),
        };
        cfg.Validate(where);
        return cfg;
    }

    /// <summary>
    /// Upper bounds of the sizes a config may declare. They are far above any released LLaVA (7B/13B/34B) and
    /// stop a corrupt or hostile config from sizing buffers (layers, positions, patches) it cannot fill.
    /// </summary>
    public const int MaxHiddenSize = 65536, MaxIntermediateSize = 1 << 20, MaxLayers = 1024, MaxHeads = 1024,
        MaxVocabSize = 1 << 22, MaxPositions = 1 << 22, MaxImageSize = 4096, MaxPatches = 1 << 16;

    /// <summary>Checks internal consistency; weights are checked against it when the model is built.</summary>
    public void Validate(string where = "config.json")
    {
        void Require(bool ok, string what) { if (!ok) throw new ConfigMismatchException($"{where}: {what}"); }
        void Range(string field, long value, long max) =>
            Require(value >= 1 && value <= max, $"{field} {value} is outside 1..{max}");
        void Eps(string field, float value) =>
            Require(value > 0 && value < 1, $"{field} {value} must be in (0, 1)");
        var t = Text; var v = Vision;
        Range("text_config.hidden_size", t.HiddenSize, MaxHiddenSize);
        Range("text_config.intermediate_size", t.IntermediateSize, MaxIntermediateSize);
        Range("text_config.num_hidden_layers", t.NumHiddenLayers, MaxLayers);
        Range("text_config.num_attention_heads", t.NumAttentionHeads, MaxHeads);
        Range("text_config.vocab_size", t.VocabSize, MaxVocabSize);
        Range("text_config.max_position_embeddings", t.MaxPositionEmbeddings, MaxPositions);
        Range("text_config.head_dim", t.HeadDim, MaxHiddenSize);
        Eps("text_config.rms_norm_eps", t.RmsNormEps);
        Range("vision_config.hidden_size", v.HiddenSize, MaxHiddenSize);
        Range("vision_config.intermediate_size", v.IntermediateSize, MaxIntermediateSize);
        Range("vision_config.num_hidden_layers", v.NumHiddenLayers, MaxLayers);
        Range("vision_config.num_attention_heads", v.NumAttentionHeads, MaxHeads);
        Range("vision_config.image_size", v.ImageSize, MaxImageSize);
        Range("vision_config.patch_size", v.PatchSize, v.ImageSize);
        Eps("vision_config.layer_norm_eps", v.LayerNormEps);
        Require(v.NumChannels == 3, $"vision_config.num_channels {v.NumChannels} is not supported (images are RGB: 3)");
        Require((long)v.NumPatches <= MaxPatches, $"vision image_size {v.ImageSize} / patch_size {v.PatchSize} makes {v.NumPatches} patches, over {MaxPatches}");
        Require(t.BosTokenId >= 0 && t.BosTokenId < t.VocabSize && t.EosTokenId >= 0 && t.EosTokenId < t.VocabSize,
            $"bos_token_id {t.BosTokenId} and eos_token_id {t.EosTokenId} must be ids below vocab_size {t.VocabSize}");
        Require(t.NumAttentionHeads > 0 && t.NumKeyValueHeads > 0 && t.NumAttentionHeads % t.NumKeyValueHeads == 0,
            $"num_attention_heads {t.NumAttentionHeads} must be a positive multiple of num_key_value_heads {t.NumKeyValueHeads}");
        Require(t.HeadDim > 0 && t.HeadDim % 2 == 0, $"head_dim {t.HeadDim} must be positive and even (RoPE)");
        Require(t.RmsNormEps > 0 && t.RopeTheta > 0 && t.MaxPositionEmbeddings > 0,
            "text_config rms_norm_eps, rope_theta and max_position_embeddings must be positive");
        Require(t.HiddenAct == "silu", $"text hidden_act '{t.HiddenAct}' is not supported (silu)");
        Require(t.SlidingWindow >= 0, $"text_config sliding_window {t.SlidingWindow} must not be negative");
        Require(v.HiddenSize > 0 && v.NumAttentionHeads > 0 && v.HiddenSize % v.NumAttentionHeads == 0,
            $"vision hidden_size {v.HiddenSize} must be divisible by num_attention_heads {v.NumAttentionHeads}");
        Require(v.IntermediateSize > 0 && v.NumChannels > 0 && v.LayerNormEps > 0,
            "vision_config intermediate_size, num_channels and layer_norm_eps must be positive");
        Require(v.PatchSize > 0 && v.ImageSize > 0 && v.ImageSize % v.PatchSize == 0,
            $"vision image_size {v.ImageSize} must be a multiple of patch_size {v.PatchSize}");
        Require(v.HiddenAct is "quick_gelu" or "gelu", $"vision hidden_act '{v.HiddenAct}' is not supported (quick_gelu, gelu)");
        Require(ProjectorHiddenAct == "gelu", $"projector_hidden_act '{ProjectorHiddenAct}' is not supported (gelu)");
        Require(VisionFeatureSelectStrategy is "default" or "full",
            $"vision_feature_select_strategy '{VisionFeatureSelectStrategy}' is not supported (default, full)");
        Require(VisionLayersUsed >= 1 && VisionLayersUsed <= v.NumHiddenLayers,
            $"vision_feature_layer {VisionFeatureLayer} is outside the {v.NumHiddenLayers} vision layers");
        // Not "< vocab_size": the image token is replaced by features before any embedding lookup, and
        // transformers' own defaults (image_token_index 32000, vocab_size 32000) rely on that.
        Require(ImageTokenIndex >= 0, $"image_token_index {ImageTokenIndex} must be non-negative");
    }

    /// <summary>
    /// The checkpoint's layer counts against the config: a checkpoint with more decoder layers than
    /// num_hidden_layers would otherwise run truncated without a word (fewer layers fail as a missing tensor).
    /// The vision checkpoint may stop after the layers LLaVA uses, but may not have more than the config.
    /// </summary>
    public void CheckLayers(Tensors.ModelWeights weights, string where = "config.json")
    {
        int text = LayerCount(weights, "language_model.model.layers.");
        int vision = LayerCount(weights, "vision_tower.vision_model.encoder.layers.");
        if (text > Text.NumHiddenLayers)
            throw new ConfigMismatchException(
                $"{where}: text_config.num_hidden_layers is {Text.NumHiddenLayers} but {weights.Source} holds {text} decoder layers");
        if (vision > Vision.NumHiddenLayers)
            throw new ConfigMismatchException(
                $"{where}: vision_config.num_hidden_layers is {Vision.NumHiddenLayers} but {weights.Source} holds {vision} vision layers");
    }

    /// <summary>1 + the highest layer index under <paramref name="prefix"/> ("...layers.{i}."), 0 when there is none.</summary>
    private static int LayerCount(Tensors.ModelWeights weights, string prefix)
    {
        int count = 0;
        foreach (var name in weights.Names)
        {
            if (!name.StartsWith(prefix, StringComparison.Ordinal)) continue;
            int dot = name.IndexOf('.', prefix.Length);
            if (dot > prefix.Length && int.TryParse(name.AsSpan(prefix.Length, dot - prefix.Length), out int i) && i >= 0)
                count = Math.Max(count, i >= int.MaxValue ? i : i + 1);
        }
        return count;
    }

    /// <summary>An optional sub-object; present but not an object is an error, not "use the defaults".</summary>
    internal static JsonElement Section(JsonElement root, string name, string where)
    {
        if (!root.TryGetProperty(name, out var e) || e.ValueKind == JsonValueKind.Null) return default;
        if (e.ValueKind != JsonValueKind.Object)
            throw new ConfigMismatchException($"{where}: '{name}' should be an object, got {e.GetRawText()}");
        return e;
    }

    internal static bool Has(JsonElement o, string name, out JsonElement e)
    {
        e = default;
        return o.ValueKind == JsonValueKind.Object && o.TryGetProperty(name, out e) && e.ValueKind != JsonValueKind.Null;
    }

    /// <summary>Typed field readers; errors name the file and the full field path.</summary>
    internal readonly struct Fields(string where)
    {
        private ConfigMismatchException Wrong(string section, string name, string what, JsonElement e) =>
            new($"{where}: '{section}{name}' should be {what}, got {e.GetRawText()}");

        public int Int(JsonElement o, string section, string name, int dflt)
        {
            if (!Has(o, name, out var e)) return dflt;
            if (e.ValueKind == JsonValueKind.Number && e.TryGetInt32(out var i)) return i;
            throw Wrong(section, name, "an integer", e);
        }

        /// <summary>bos/eos ids may be lists (generation configs with several stop tokens): the first is the primary one.</summary>
        public int TokenId(JsonElement o, string section, string name, int dflt)
        {
            if (Has(o, name, out var e) && e.ValueKind == JsonValueKind.Array)
            {
                if (e.GetArrayLength() > 0 && e[0].ValueKind == JsonValueKind.Number && e[0].TryGetInt32(out var first)) return first;
                throw Wrong(section, name, "an integer or a non-empty list of integers", e);
            }
            return Int(o, section, name, dflt);
        }

        public float Float(JsonElement o, string section, string name, float dflt)
        {
            if (!Has(o, name, out var e)) return dflt;
            if (e.ValueKind == JsonValueKind.Number && float.IsFinite((float)e.GetDouble())) return (float)e.GetDouble();
            throw Wrong(section, name, "a finite number", e);
        }

        public string Str(JsonElement o, string section, string name, string dflt)
        {
            if (!Has(o, name, out var e)) return dflt;
            if (e.ValueKind == JsonValueKind.String) return e.GetString()!;
            throw Wrong(section, name, "a string", e);
        }

        public bool Bool(JsonElement o, string section, string name, bool dflt)
        {
            if (!Has(o, name, out var e)) return dflt;
            return e.ValueKind switch
            {
                JsonValueKind.True => true,
                JsonValueKind.False => false,
                _ => throw Wrong(section, name, "true or false", e),
            };
        }
    }
}
