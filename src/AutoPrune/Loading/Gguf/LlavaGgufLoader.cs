using AutoPrune.Tensors;

namespace AutoPrune.Loading.Gguf;

/// <summary>What a LLaVA model is built from, read from a llama.cpp language-model GGUF and its mmproj GGUF.</summary>
public sealed record LlavaGgufParts(LlavaConfig Config, ModelWeights Weights, LlavaTokenizer Tokenizer, ClipImageProcessor Processor);

/// <summary>
/// Reads llama.cpp's LLaVA-1.5 files: the language model (<c>general.architecture = llama</c>: token_embd, blk.N.*,
/// output_norm, output) and the CLIP/projector file (<c>clip.*</c> metadata, v.* and mm.* tensors). The configuration
/// comes from the metadata, the tokenizer from tokenizer.ggml.*, and the converters' changes are undone: the q/k rows
/// permuted for llama.cpp's RoPE layout are put back (the only tensors copied out of the mapping), the legacy mmproj
/// naming (ffn_down for CLIP fc1, ffn_up for fc2) is recognised by shape, and a tower written without its last layer is
/// read as "features from the input of the dropped layer", which is what LLaVA-1.5 uses. Tensors are renamed to the
/// llava-hf names, so the model code is the same as for safetensors.
/// </summary>
public static class LlavaGgufLoader
{
    /// <summary>
    /// The two files from a path: a language-model .gguf (with <paramref name="mmproj"/>), or a folder holding one
    /// language-model GGUF and one mmproj GGUF (told apart by their general.architecture).
    /// </summary>
    public static (string LanguageModel, string Mmproj) Resolve(string path, string? mmproj)
    {
        if (Directory.Exists(path))
        {
            string? lm = null, mm = mmproj;
            var files = Directory.GetFiles(path, "*.gguf");
            Array.Sort(files, StringComparer.Ordinal);
            foreach (var f in files)
            {
                string arch;
                using (var g = GgufFile.Open(f)) arch = g.TryGetString("general.architecture") ?? "";
                if (arch == "clip" && mmproj == null)
                {
                    if (mm != null) throw new ModelLoadException($"{path} holds two mmproj GGUF files ({Path.GetFileName(mm)}, {Path.GetFileName(f)}); name one explicitly");
                    mm = f;
                }
                else if (arch == "llama")
                {
                    if (lm != null) throw new ModelLoadException($"{path} holds two language-model GGUF files ({Path.GetFileName(lm)}, {Path.GetFileName(f)}); pass one file");
                    lm = f;
                }
            }
            if (lm == null) throw new ModelLoadException($"{path} has no language-model GGUF file (general.architecture = llama)");
            if (mm == null) throw new ModelLoadException($"{path} has no mmproj GGUF file (the CLIP vision tower and projector)");
            return (lm, mm);
        }
        if (!File.Exists(path)) throw new ModelLoadException($"model path not found: {path}");
        if (mmproj == null)
            throw new ModelLoadException($"{path} is a GGUF language model; LLaVA also needs its mmproj GGUF file (the vision tower and projector)");
        if (!File.Exists(mmproj)) throw new ModelLoadException($"mmproj file not found: {mmproj}");
        return (path, mmproj);
    }

    public static bool IsGgufPath(string path) =>
        (File.Exists(path) && path.EndsWith(".gguf", StringComparison.OrdinalIgnoreCase)) ||
        (Directory.Exists(path) && !File.Exists(Path.Combine(path, ModelFolder.ConfigFileName)) && Directory.GetFiles(path, "*.gguf").Length > 0);

    public static LlavaGgufParts Open(string languageModel, string mmproj)
    {
        var lm = GgufFile.Open(languageModel);
        GgufFile? mm = null;
        var owners = new List<IDisposable> { lm };
        try
        {
            mm = GgufFile.Open(mmproj);
            owners.Add(mm);
            var lmArch = lm.TryGetString("general.architecture");
            if (lmArch != "llama")
                throw new ModelLoadException($"{languageModel}: general.architecture is '{lmArch ?? "(missing)"}'; a LLaVA-1.5 language model is 'llama'");
            if (mm.TryGetString("general.architecture") != "clip" || mm.TryGetBool("clip.has_vision_encoder") == false)
                throw new ModelLoadException($"{mmproj}: not an mmproj file (general.architecture 'clip' with a vision encoder)");
            var ptype = mm.TryGetString("clip.projector_type") ?? "mlp";
            if (ptype != "mlp") throw new ModelLoadException($"{mmproj}: projector type '{ptype}' is not supported (LLaVA-1.5 uses 'mlp')");

            var tok = LlavaTokenizer.FromGguf(lm);
            var (config, processor) = ReadConfig(lm, mm, tok);
            var weights = new List<Weight>();
            MapLanguageModel(lm, config.Text, weights, owners);
            MapVision(mm, config, weights);
            var mw = new ModelWeights($"{languageModel} + {mmproj}", weights, owners);
            tok.CheckAgainst(config);
            return new LlavaGgufParts(config, mw, tok, processor);
        }
        catch
        {
            foreach (var o in owners) o.Dispose();
            throw;
        }
    }

    private static (LlavaConfig, ClipImageProcessor) ReadConfig(GgufFile lm, GgufFile mm, LlavaTokenizer tok)
    {
        const string L = "llama.", V = "clip.vision.";
        int heads = lm.GetInt32(L + "attention.head_count", 1, 1 << 16);
        int hidden = lm.GetInt32(L + "embedding_length", 1, 1 << 20);
        var embd = lm.TryGet("token_embd.weight", out var e) ? e : throw new MissingTensorException("token_embd.weight", lm.Path);
        var text = new LlamaConfig
        {
            HiddenSize = hidden,
            IntermediateSize = lm.GetInt32(L + "feed_forward_length", 1, 1 << 24),
            NumHiddenLayers = lm.GetInt32(L + "block_count", 1, 4096),
            NumAttentionHeads = heads,
            NumKeyValueHeads = lm.TryGetInt32(L + "attention.head_count_kv", 1, 1 << 16) ?? heads,
            HeadDim = lm.TryGetInt32(L + "attention.key_length", 2, 1 << 16) ?? lm.TryGetInt32(L + "rope.dimension_count", 2, 1 << 16) ?? hidden / heads,
            RmsNormEps = lm.TryGetFloat(L + "attention.layer_norm_rms_epsilon") ?? 1e-5f,
            RopeTheta = lm.TryGetFloat(L + "rope.freq_base") ?? 10000f,
            VocabSize = embd.Rows,
            MaxPositionEmbeddings = lm.TryGetInt32(L + "context_length", 1, int.MaxValue) ?? 4096,
            TieWordEmbeddings = !lm.Contains("output.weight"),
            BosTokenId = tok.BosId,
            EosTokenId = tok.EosId,
        };
        int vLayers = mm.GetInt32(V + "block_count", 1, 4096);
        int vHidden = mm.GetInt32(V + "embedding_length", 1, 1 << 20);
        // Newer converters name the hidden state LLaVA reads; legacy files dropped the layers after it instead.
        var feature = mm.TryGetArray(V + "feature_layer");
        int featureLayer = -2, totalLayers = vLayers + 1;
        if (feature != null && feature.Count > 0)
        {
            int f = feature.Values.Cast<object>().Select(System.Convert.ToInt32).Max();
            if (f < 1 || f > vLayers) throw new GgufFormatException(mm.Path, $"clip.vision.feature_layer {f} is outside the {vLayers} layers in the file");
            featureLayer = f; totalLayers = vLayers;
        }
        var vision = new ClipVisionConfig
        {
            HiddenSize = vHidden,
            IntermediateSize = mm.GetInt32(V + "feed_forward_length", 1, 1 << 24),
            NumHiddenLayers = totalLayers,
            NumAttentionHeads = mm.GetInt32(V + "attention.head_count", 1, 1 << 16),
            ImageSize = mm.GetInt32(V + "image_size", 1, 1 << 16),
            PatchSize = mm.GetInt32(V + "patch_size", 1, 1 << 16),
            HiddenAct = mm.TryGetBool("clip.use_gelu") == true ? "gelu" : "quick_gelu",
            LayerNormEps = mm.TryGetFloat(V + "attention.layer_norm_epsilon") ?? 1e-5f,
        };
        var config = new LlavaConfig
        {
            Text = text,
            Vision = vision,
            ImageTokenIndex = tok.ImageTokenId,
            PadTokenId = tok.PadId ?? tok.ImageTokenId + 1,
            VisionFeatureLayer = featureLayer,
        };
        config.Validate(lm.Path);
        var mean = mm.TryGetArray<float>(V + "image_mean", "float32") ?? ClipImageProcessor.OpenAiClipMean;
        var std = mm.TryGetArray<float>(V + "image_std", "float32") ?? ClipImageProcessor.OpenAiClipStd;
        if (mean.Length != 3 || std.Length != 3) throw new GgufFormatException(mm.Path, "clip.vision.image_mean and image_std need 3 values each");
        var processor = new ClipImageProcessor
        {
            ShortestEdge = vision.ImageSize, CropHeight = vision.ImageSize, CropWidth = vision.ImageSize,
            ImageMean = mean, ImageStd = std,
        };
        processor.Validate(mm.Path);
        return (config, processor);
    }

    private static void MapLanguageModel(GgufFile lm, LlamaConfig c, List<Weight> into, List<IDisposable> owners)
    {
        const string P = "language_model.model.";
        void Map(string from, string to) => into.Add(Renamed(lm.Get(from), to));
        Map("token_embd.weight", P + "embed_tokens.weight");
        Map("output_norm.weight", P + "norm.weight");
        if (lm.Contains("output.weight")) Map("output.weight", "language_model.lm_head.weight");
        for (int i = 0; i < c.NumHiddenLayers; i++)
        {
            string b = $"blk.{i}.", p = $"{P}layers.{i}.";
            Map(b + "attn_norm.weight", p + "input_layernorm.weight");
            into.Add(Unpermute(lm, lm.Get(b + "attn_q.weight"), p + "self_attn.q_proj.weight", c.NumAttentionHeads, owners));
            into.Add(Unpermute(lm, lm.Get(b + "attn_k.weight"), p + "self_attn.k_proj.weight", c.NumKeyValueHeads, owners));
            Map(b + "attn_v.weight", p + "self_attn.v_proj.weight");
            Map(b + "attn_output.weight", p + "self_attn.o_proj.weight");
            Map(b + "ffn_norm.weight", p + "post_attention_layernorm.weight");
            Map(b + "ffn_gate.weight", p + "mlp.gate_proj.weight");
            Map(b + "ffn_up.weight", p + "mlp.up_proj.weight");
            Map(b + "ffn_down.weight", p + "mlp.down_proj.weight");
        }
    }

    private static void MapVision(GgufFile mm, LlavaConfig config, List<Weight> into)
    {
        const string P = "vision_tower.vision_model.";
        void Map(string from, string to) => into.Add(Renamed(mm.Get(from), to));
        Map("v.class_embd", P + "embeddings.class_embedding");
        Map("v.patch_embd.weight", P + "embeddings.patch_embedding.weight");
        Map("v.position_embd.weight", P + "embeddings.position_embedding.weight");
        Map("v.pre_ln.weight", P + "pre_layrnorm.weight");
        Map("v.pre_ln.bias", P + "pre_layrnorm.bias");
        int ff = config.Vision.IntermediateSize;
        for (int i = 0; i < config.VisionLayersUsed; i++)
        {
            string b = $"v.blk.{i}.", p = $"{P}encoder.layers.{i}.";
            foreach (var (from, to) in new[] { ("attn_q", "self_attn.q_proj"), ("attn_k", "self_attn.k_proj"), ("attn_v", "self_attn.v_proj"),
                         ("attn_out", "self_attn.out_proj"), ("ln1", "layer_norm1"), ("ln2", "layer_norm2") })
            {
                Map(b + from + ".weight", p + to + ".weight");
                Map(b + from + ".bias", p + to + ".bias");
            }
            // fc1 is [ff, d]: the legacy converter calls it ffn_down, newer ones ffn_up.
            var up = mm.Get(b + "ffn_up.weight");
            bool legacy = up.Rows != ff;
            string fc1 = legacy ? "ffn_down" : "ffn_up", fc2 = legacy ? "ffn_up" : "ffn_down";
            Map(b + fc1 + ".weight", p + "mlp.fc1.weight");
            Map(b + fc1 + ".bias", p + "mlp.fc1.bias");
            Map(b + fc2 + ".weight", p + "mlp.fc2.weight");
            Map(b + fc2 + ".bias", p + "mlp.fc2.bias");
        }
        Map("mm.0.weight", "multi_modal_projector.linear_1.weight");
        Map("mm.0.bias", "multi_modal_projector.linear_1.bias");
        Map("mm.2.weight", "multi_modal_projector.linear_2.weight");
        Map("mm.2.bias", "multi_modal_projector.linear_2.bias");
    }

    private static unsafe Weight Renamed(Weight w, string name) => new(name, w.DType, w.Shape, w.Data);

    /// <summary>
    /// llama.cpp's converter reorders each head's q/k rows so that RoPE rotates adjacent pairs: its row 2i+j of a head
    /// is row j·(hd/2)+i of the original. Rows are whole blocks, so putting them back is a row copy in any type. The
    /// copy is read from the file rather than the mapping: the mapped original would stay resident beside it for
    /// nothing (1.2 GB at 13B Q4_K_M).
    /// </summary>
    private static unsafe Weight Unpermute(GgufFile file, Weight w, string name, int heads, List<IDisposable> owners)
    {
        if (w.Shape.Length != 2 || heads <= 0 || w.Rows % (2 * heads) != 0)
            throw new ConfigMismatchException($"{w.Name} has shape [{string.Join(",", w.Shape)}], not {heads} heads of even size");
        int hd = w.Rows / heads, half = hd / 2;
        long rb = w.RowBytes;
        var buf = new SyntheticWeights.NativeBuffer(Math.Max(1, w.ByteLength));
        owners.Add(buf);
        byte* dst = (byte*)buf.Pointer;
        file.ReadTensor(w, dst);
        var head = new byte[hd * rb];
        fixed (byte* src = head)
            for (int h = 0; h < heads; h++)
            {
                byte* rows = dst + h * hd * rb;
                Buffer.MemoryCopy(rows, src, head.Length, head.Length);
                for (int i = 0; i < half; i++)
                    for (int j = 0; j < 2; j++)
                        Buffer.MemoryCopy(src + (2 * i + j) * rb, rows + (j * half + i) * rb, rb, rb);
            }
        return new Weight(name, w.DType, w.Shape, dst);
    }

    /// <summary>Row order the converter writes (the inverse of <see cref="Unpermute"/>): GGUF row r takes original row Source(r).</summary>
    public static int PermutedSource(int r, int headDim)
    {
        int h = r / headDim, within = r % headDim, i = within / 2, j = within % 2;
        return h * headDim + j * (headDim / 2) + i;
    }
}
