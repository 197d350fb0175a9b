using System.Text.Json;
using AutoPrune.Tensors;
using AutoPrune.Tensors.Quant;

namespace AutoPrune.Loading.Gguf;

/// <summary>The weight types <c>autoprune convert</c> writes, named as llama.cpp names its file types.</summary>
public enum GgufFileType { F16, Q8_0, Q4_0, Q4_K_M }

/// <summary>
/// Writes a llava-hf LLaVA-1.5 folder as the two GGUF files llama.cpp runs: the language model
/// (<c>ggml-model-TYPE.gguf</c>, as convert_hf_to_gguf.py + llama-quantize lay it out: llama.* hyper-parameters,
/// tokenizer.ggml.*, q/k rows permuted for llama.cpp's RoPE) and the vision tower + projector
/// (<c>mmproj-model-f16.gguf</c>, as the LLaVA image-encoder converter lays it out: clip.* metadata, legacy
/// ffn_down/ffn_up naming for fc1/fc2, the layers after LLaVA's feature layer dropped and that layer named in
/// clip.vision.feature_layer, F16 matrices and F32 vectors).
/// Weight types per file type follow llama.cpp: F16 and Q8_0 quantize every matrix; Q4_0 keeps the output
/// matrix at Q6_K; Q4_K_M uses Q4_K with Q6_K for the output matrix and for attn_v / ffn_down in the layers
/// llama.cpp gives more bits (the first and last eighth and every third in between). A matrix whose rows do not
/// split into whole blocks falls back as llama.cpp does (Q4_K→Q5_0, Q6_K→Q8_0, then F16). Norms stay F32.
/// </summary>
public static class LlavaGgufConverter
{
    public static GgufFileType ParseType(string s) => s.ToLowerInvariant() switch
    {
        "f16" => GgufFileType.F16,
        "q8_0" => GgufFileType.Q8_0,
        "q4_0" => GgufFileType.Q4_0,
        "q4_k_m" => GgufFileType.Q4_K_M,
        _ => throw new ModelLoadException($"unknown GGUF type '{s}' (f16, q8_0, q4_0, q4_k_m)"),
    };

    public static string FileName(GgufFileType t) => $"ggml-model-{t.ToString().ToLowerInvariant()}.gguf";
    public const string MmprojFileName = "mmproj-model-f16.gguf";

    /// <summary>Converts <paramref name="modelDir"/>; returns the paths of the language-model and mmproj files.</summary>
    public static (string LanguageModel, string Mmproj) Convert(string modelDir, string outDir, GgufFileType type, string? weightsFile = null, Action<string>? progress = null)
    {
        modelDir = ModelFolder.Resolve(modelDir);
        var config = LlavaConfig.Load(Path.Combine(modelDir, ModelFolder.ConfigFileName));
        var tok = LlavaTokenizer.FromFolder(modelDir);
        tok.CheckAgainst(config);
        var spPath = Path.Combine(modelDir, "tokenizer.model");
        var spm = SentencePieceModel.Read(File.ReadAllBytes(spPath), spPath);
        var raw = ReadRawConfig(modelDir);
        Directory.CreateDirectory(outDir);
        using var weights = CheckpointLoader.Open(weightsFile == null ? modelDir : Path.Combine(modelDir, weightsFile));
        var name = Path.GetFileName(Path.TrimEndingDirectorySeparator(modelDir));

        var lmPath = Path.Combine(outDir, FileName(type));
        progress?.Invoke($"writing {lmPath}");
        LanguageModel(config, tok, spm, weights, type, name).Write(lmPath);
        var mmPath = Path.Combine(outDir, MmprojFileName);
        progress?.Invoke($"writing {mmPath}");
        Mmproj(config, raw, weights, name, modelDir).Write(mmPath);
        return (lmPath, mmPath);
    }

    private static JsonElement ReadRawConfig(string dir)
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(dir, ModelFolder.ConfigFileName)));
        return doc.RootElement.Clone();
    }

    private static uint FileTypeId(GgufFileType t) => t switch
    {
        GgufFileType.F16 => 1, GgufFileType.Q8_0 => 7, GgufFileType.Q4_0 => 2, _ => 15, // llama_ftype
    };

    /// <summary>llama.cpp's "more bits" layers of Q4_K_M: first and last eighth, and every third layer between.</summary>
    public static bool UseMoreBits(int i, int n) => i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2;

    /// <summary>The type of a language-model matrix in a file of type <paramref name="ft"/>.</summary>
    public static DType MatrixType(GgufFileType ft, string ggufName, int layer, int layers, int cols)
    {
        DType t = ft switch
        {
            GgufFileType.F16 => DType.F16,
            GgufFileType.Q8_0 => DType.Q8_0,
            GgufFileType.Q4_0 => ggufName == "output.weight" ? DType.Q6_K : DType.Q4_0,
            _ => ggufName == "output.weight" ? DType.Q6_K
                : (ggufName.EndsWith("attn_v.weight") || ggufName.EndsWith("ffn_down.weight")) && UseMoreBits(layer, layers) ? DType.Q6_K
                : DType.Q4_K,
        };
        if (cols % t.BlockElements() != 0)
            t = t switch { DType.Q4_K => DType.Q5_0, DType.Q6_K => DType.Q8_0, _ => t };
        if (cols % t.BlockElements() != 0) t = DType.F16;
        return t;
    }

    private static GgufWriter LanguageModel(LlavaConfig config, LlavaTokenizer tok, SentencePieceModel spm, ModelWeights w, GgufFileType ft, string name)
    {
        var c = config.Text;
        var g = new GgufWriter();
        g.Add("general.architecture", "llama");
        g.Add("general.name", name);
        g.Add("llama.context_length", (uint)c.MaxPositionEmbeddings);
        g.Add("llama.embedding_length", (uint)c.HiddenSize);
        g.Add("llama.block_count", (uint)c.NumHiddenLayers);
        g.Add("llama.feed_forward_length", (uint)c.IntermediateSize);
        g.Add("llama.rope.dimension_count", (uint)c.HeadDim);
        g.Add("llama.attention.head_count", (uint)c.NumAttentionHeads);
        g.Add("llama.attention.head_count_kv", (uint)c.NumKeyValueHeads);
        g.Add("llama.attention.layer_norm_rms_epsilon", c.RmsNormEps);
        g.Add("llama.rope.freq_base", c.RopeTheta);
        if (c.HeadDim * c.NumAttentionHeads != c.HiddenSize)
        {
            g.Add("llama.attention.key_length", (uint)c.HeadDim);
            g.Add("llama.attention.value_length", (uint)c.HeadDim);
        }
        g.Add("general.file_type", FileTypeId(ft));
        g.Add("llama.vocab_size", (uint)c.VocabSize);

        int n = c.VocabSize;
        var tokens = new string[n];
        var scores = new float[n];
        var types = new int[n];
        for (int i = 0; i < n; i++)
        {
            if (i < spm.Pieces.Count) { tokens[i] = spm.Pieces[i].Text; scores[i] = spm.Pieces[i].Score; types[i] = (int)spm.Pieces[i].Type; }
            else { tokens[i] = $"[PAD{i}]"; scores[i] = -1000; types[i] = (int)SentencePieceModel.PieceType.Unused; }
        }
        foreach (var (text, id) in tok.AddedTokens)
            if (id >= spm.Pieces.Count && id < n) { tokens[id] = text; scores[id] = -1000; types[id] = (int)SentencePieceModel.PieceType.Control; }
        g.Add("tokenizer.ggml.model", "llama");
        g.Add("tokenizer.ggml.pre", "default");
        g.Add("tokenizer.ggml.tokens", tokens);
        g.Add("tokenizer.ggml.scores", scores);
        g.Add("tokenizer.ggml.token_type", types);
        g.Add("tokenizer.ggml.bos_token_id", (uint)tok.BosId);
        g.Add("tokenizer.ggml.eos_token_id", (uint)tok.EosId);
        g.Add("tokenizer.ggml.unknown_token_id", (uint)spm.UnkId);
        if (tok.PadId is int pad) g.Add("tokenizer.ggml.padding_token_id", (uint)pad);
        g.Add("tokenizer.ggml.add_bos_token", tok.AddBos);
        g.Add("tokenizer.ggml.add_eos_token", false);
        g.Add("tokenizer.ggml.add_space_prefix", spm.AddDummyPrefix);
        if (ft != GgufFileType.F16) g.Add("general.quantization_version", 2u);

        const string P = "language_model.model.";
        int L = c.NumHiddenLayers;
        void Matrix(string hf, string gg, int layer, int permuteHeads = 0)
        {
            var src = w.Get(hf);
            if (src.Shape.Length != 2) throw new ConfigMismatchException($"{hf} is not a matrix");
            var t = MatrixType(ft, gg, layer, L, src.Cols);
            g.AddTensor(gg, t, src.Shape, () => Encode(src, t, permuteHeads));
        }
        void Vector(string hf, string gg)
        {
            var src = w.Get(hf);
            g.AddTensor(gg, DType.F32, src.Shape, () => Encode(src, DType.F32, 0));
        }
        Matrix(P + "embed_tokens.weight", "token_embd.weight", 0);
        for (int i = 0; i < L; i++)
        {
            string p = $"{P}layers.{i}.", b = $"blk.{i}.";
            Vector(p + "input_layernorm.weight", b + "attn_norm.weight");
            Matrix(p + "self_attn.q_proj.weight", b + "attn_q.weight", i, c.NumAttentionHeads);
            Matrix(p + "self_attn.k_proj.weight", b + "attn_k.weight", i, c.NumKeyValueHeads);
            Matrix(p + "self_attn.v_proj.weight", b + "attn_v.weight", i);
            Matrix(p + "self_attn.o_proj.weight", b + "attn_output.weight", i);
            Vector(p + "post_attention_layernorm.weight", b + "ffn_norm.weight");
            Matrix(p + "mlp.gate_proj.weight", b + "ffn_gate.weight", i);
            Matrix(p + "mlp.up_proj.weight", b + "ffn_up.weight", i);
            Matrix(p + "mlp.down_proj.weight", b + "ffn_down.weight", i);
        }
        Vector(P + "norm.weight", "output_norm.weight");
        if (w.Contains("language_model.lm_head.weight")) Matrix("language_model.lm_head.weight", "output.weight", 0);
        return g;
    }

    private static GgufWriter Mmproj(LlavaConfig config, JsonElement raw, ModelWeights w, string name, string dir)
    {
        var v = config.Vision;
        var g = new GgufWriter();
        g.Add("general.architecture", "clip");
        g.Add("clip.has_text_encoder", false);
        g.Add("clip.has_vision_encoder", true);
        g.Add("clip.has_llava_projector", true);
        g.Add("general.file_type", 1u);
        g.Add("general.name", name);
        g.Add("general.description", "image encoder for LLaVA");
        g.Add("clip.projector_type", "mlp");
        g.Add("clip.vision.image_size", (uint)v.ImageSize);
        g.Add("clip.vision.patch_size", (uint)v.PatchSize);
        g.Add("clip.vision.embedding_length", (uint)v.HiddenSize);
        g.Add("clip.vision.feed_forward_length", (uint)v.IntermediateSize);
        int proj = raw.TryGetProperty("vision_config", out var vc) && vc.TryGetProperty("projection_dim", out var pd) && pd.TryGetInt32(out var pv) ? pv : 768;
        g.Add("clip.vision.projection_dim", (uint)proj);
        g.Add("clip.vision.attention.head_count", (uint)v.NumAttentionHeads);
        g.Add("clip.vision.attention.layer_norm_epsilon", v.LayerNormEps);
        int layers = config.VisionLayersUsed; // the converter drops the layers LLaVA does not read
        g.Add("clip.vision.block_count", (uint)layers);
        // As llama.cpp's converter writes it for a config with vision_feature_layer: without this key llama.cpp's
        // LLaVA graph runs one layer fewer than the file holds (it assumes the last stored layer is the unused one).
        g.Add("clip.vision.feature_layer", new[] { layers });
        var pp = Path.Combine(dir, "preprocessor_config.json");
        var proc = File.Exists(pp) ? ClipImageProcessor.FromFile(pp) : new ClipImageProcessor();
        g.Add("clip.vision.image_mean", proc.ImageMean);
        g.Add("clip.vision.image_std", proc.ImageStd);
        g.Add("clip.use_gelu", v.HiddenAct == "gelu");

        void Add(string hf, string gg)
        {
            var src = w.Get(hf);
            var t = src.Shape.Length >= 2 ? DType.F16 : DType.F32;
            g.AddTensor(gg, t, src.Shape, () => Encode(src, t, 0));
        }
        const string M = "multi_modal_projector.", P = "vision_tower.vision_model.";
        Add(M + "linear_1.weight", "mm.0.weight"); Add(M + "linear_1.bias", "mm.0.bias");
        Add(M + "linear_2.weight", "mm.2.weight"); Add(M + "linear_2.bias", "mm.2.bias");
        Add(P + "embeddings.class_embedding", "v.class_embd");
        Add(P + "embeddings.patch_embedding.weight", "v.patch_embd.weight");
        Add(P + "embeddings.position_embedding.weight", "v.position_embd.weight");
        Add(P + "pre_layrnorm.weight", "v.pre_ln.weight"); Add(P + "pre_layrnorm.bias", "v.pre_ln.bias");
        for (int i = 0; i < layers; i++)
        {
            string p = $"{P}encoder.layers.{i}.", b = $"v.blk.{i}.";
            foreach (var (hf, gg) in new[] { ("self_attn.q_proj", "attn_q"), ("self_attn.k_proj", "attn_k"), ("self_attn.v_proj", "attn_v"),
                         ("self_attn.out_proj", "attn_out"), ("layer_norm1", "ln1"), ("layer_norm2", "ln2"),
                         ("mlp.fc1", "ffn_down"), ("mlp.fc2", "ffn_up") }) // legacy names: fc1 → ffn_down, fc2 → ffn_up
            {
                Add(p + hf + ".weight", b + gg + ".weight");
                Add(p + hf + ".bias", b + gg + ".bias");
            }
        }
        return g;
    }

    /// <summary>The tensor's values in type <paramref name="t"/>, q/k rows permuted into llama.cpp's order when heads &gt; 0.</summary>
    private static unsafe byte[] Encode(Weight src, DType t, int permuteHeads)
    {
        var bytes = new byte[t.ByteCount(src.ElementCount)];
        int hd = permuteHeads > 0 ? src.Rows / permuteHeads : 0;
        fixed (byte* p = bytes)
            Quantize.Rows(src, t, p, permuteHeads > 0 ? r => LlavaGgufLoader.PermutedSource(r, hd) : null);
        return bytes;
    }
}
