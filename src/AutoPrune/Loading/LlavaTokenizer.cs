using System.Text.Json;
using AutoPrune.Loading.Gguf;
using Microsoft.ML.Tokenizers;

namespace AutoPrune.Loading;

/// <summary>
/// The LLaMA SentencePiece tokenizer of a llava-hf model folder (tokenizer.model, or only tokenizer.json, + tokenizer_config.json), with the
/// added tokens (&lt;image&gt;, &lt;pad&gt;, ...) taken from tokenizer_config.json "added_tokens_decoder".
/// Prompts are split on added-token literals and each text chunk is encoded separately, as transformers' slow
/// LlamaTokenizer does. <c>legacy</c> (default true, as transformers treats an absent flag) decides whether text
/// following an added token also gets SentencePiece's dummy "▁" prefix (legacy) or not (legacy=false).
/// </summary>
public sealed class LlavaTokenizer
{
    private const char Spiece = '\u2581'; // "▁", SentencePiece's escaped space

    private readonly LlamaTokenizer _sp;
    private readonly Dictionary<string, int> _added;      // literal -> id, every added token
    private readonly string[] _splitLiterals;             // longest first, so a literal never shadows a longer one
    private readonly HashSet<int> _skipOnDecode;

    public int BosId { get; }
    public int EosId { get; }
    public int? PadId { get; }
    public int ImageTokenId { get; }
    /// <summary>SentencePiece pieces plus added tokens (max id + 1).</summary>
    public int VocabSize { get; }
    /// <summary>Characters of the longest piece or added token: no token covers more of a prompt.</summary>
    public int MaxTokenChars { get; }
    public bool Legacy { get; }
    public bool AddBos { get; }
    public IReadOnlyDictionary<string, int> AddedTokens => _added;

    private LlavaTokenizer(LlamaTokenizer sp, Dictionary<string, int> added, int bos, int eos, int? pad, int image, int vocab, bool legacy, bool addBos)
    {
        _sp = sp;
        _added = added;
        _splitLiterals = added.Keys.OrderByDescending(k => k.Length).ThenBy(k => k, StringComparer.Ordinal).ToArray();
        BosId = bos; EosId = eos; PadId = pad; ImageTokenId = image; VocabSize = vocab; Legacy = legacy; AddBos = addBos;
        _skipOnDecode = [.. added.Values, bos, eos];
        int longest = 1;
        foreach (var piece in sp.Vocabulary.Keys) longest = Math.Max(longest, piece.Length);
        foreach (var literal in added.Keys) longest = Math.Max(longest, literal.Length);
        MaxTokenChars = longest;
    }

    /// <summary>Loads tokenizer.model and tokenizer_config.json from a model folder.</summary>
    public static LlavaTokenizer FromFolder(string folder, bool? legacyOverride = null)
    {
        var modelPath = Path.Combine(folder, "tokenizer.model");
        var jsonPath = Path.Combine(folder, "tokenizer.json");
        // Many newer llava-hf repos ship only the fast tokenizer's tokenizer.json; its BPE becomes the same SentencePiece model.
        bool fromJson = !File.Exists(modelPath) && File.Exists(jsonPath);
        if (!File.Exists(modelPath) && !fromJson) throw new ModelLoadException($"neither tokenizer.model nor tokenizer.json found in {folder}");
        var cfgPath = Path.Combine(folder, "tokenizer_config.json");
        if (!File.Exists(cfgPath)) throw new ModelLoadException($"tokenizer_config.json not found in {folder}");

        using (var doc = JsonInput.ReadFile(cfgPath, p => new ModelLoadException($"{cfgPath}: {p}")))
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw new ModelLoadException($"{cfgPath}: expected a JSON object");

            var added = new Dictionary<string, int>(StringComparer.Ordinal);
            if (root.TryGetProperty("added_tokens_decoder", out var dec) && dec.ValueKind == JsonValueKind.Object)
            {
                foreach (var prop in dec.EnumerateObject())
                {
                    if (!int.TryParse(prop.Name, out int id) || id < 0)
                        throw new ModelLoadException($"{cfgPath}: added_tokens_decoder key '{prop.Name}' is not a token id");
                    if (prop.Value.ValueKind != JsonValueKind.Object || !prop.Value.TryGetProperty("content", out var c) || c.ValueKind != JsonValueKind.String
                        || string.IsNullOrEmpty(c.GetString()))
                        throw new ModelLoadException($"{cfgPath}: added token {id} has no content");
                    added[c.GetString()!] = id;
                }
            }

            LlamaTokenizer sp;
            try
            {
                using Stream fs = fromJson ? new MemoryStream(SentencePieceFromTokenizerJson.Convert(jsonPath)) : File.OpenRead(modelPath);
                // Added tokens the SentencePiece model does not know (image, pad) must be given to it for Decode and id lookups.
                sp = LlamaTokenizer.Create(fs, addBeginOfSentence: false, addEndOfSentence: false, specialTokens: added);
            }
            catch (Exception e) when (e is not ModelLoadException)
            {
                throw new ModelLoadException($"{(fromJson ? jsonPath : modelPath)}: cannot load SentencePiece model: {AutoPruneException.Describe(e)}", e);
            }

            int bos = TokenId(root, "bos_token", added, sp, sp.BeginningOfSentenceId, cfgPath);
            int eos = TokenId(root, "eos_token", added, sp, sp.EndOfSentenceId, cfgPath);
            int? pad = root.TryGetProperty("pad_token", out var pt) && pt.ValueKind != JsonValueKind.Null
                ? TokenId(root, "pad_token", added, sp, -1, cfgPath) : null;
            if (!added.TryGetValue("<image>", out int image))
                throw new ModelLoadException($"{cfgPath}: no '<image>' token in added_tokens_decoder");
            bool legacy = legacyOverride ?? (root.TryGetProperty("legacy", out var lg) && lg.ValueKind == JsonValueKind.False ? false : true);
            bool addBos = !(root.TryGetProperty("add_bos_token", out var ab) && ab.ValueKind == JsonValueKind.False);
            int vocab = Math.Max(sp.Vocabulary.Count, added.Count == 0 ? 0 : added.Values.Max() + 1);
            return new LlavaTokenizer(sp, added, bos, eos, pad, image, vocab, legacy, addBos);
        }
    }

    /// <summary>
    /// The tokenizer of a llama.cpp GGUF language model (tokenizer.ggml.*): the SentencePiece model is rebuilt from
    /// the tokens, scores and types; control, user-defined and unknown tokens (&lt;s&gt;, &lt;image&gt;, &lt;pad&gt;, ...)
    /// are the added tokens prompts are split on, as tokenizer_config.json's added_tokens_decoder lists them.
    /// </summary>
    public static LlavaTokenizer FromGguf(GgufFile f)
    {
        var model = f.TryGetString("tokenizer.ggml.model");
        if (model != "llama")
            throw new ModelLoadException($"{f.Path}: tokenizer.ggml.model is '{model ?? "(missing)"}'; only the SentencePiece 'llama' tokenizer is supported");
        var tokens = f.TryGetArray<string>("tokenizer.ggml.tokens", "strings") ?? throw new ModelLoadException($"{f.Path}: tokenizer.ggml.tokens is missing");
        var scores = f.TryGetArray<float>("tokenizer.ggml.scores", "float32") ?? new float[tokens.Length];
        var types = f.TryGetArray<int>("tokenizer.ggml.token_type", "int32") ?? Enumerable.Repeat(1, tokens.Length).ToArray();
        if (scores.Length != tokens.Length || types.Length != tokens.Length)
            throw new ModelLoadException($"{f.Path}: {tokens.Length} tokens but {scores.Length} scores and {types.Length} token types");
        int n = tokens.Length;
        int Id(string key, int dflt) => f.TryGetInt32(key, -1, n - 1) ?? dflt;
        int bos = Id("tokenizer.ggml.bos_token_id", 1), eos = Id("tokenizer.ggml.eos_token_id", 2), unk = Id("tokenizer.ggml.unknown_token_id", 0);
        int padId = Id("tokenizer.ggml.padding_token_id", -1);

        // The SentencePiece model proper ends at its last normal or byte piece; later tokens were added on top.
        int baseCount = 0;
        for (int i = 0; i < n; i++)
            if (types[i] is (int)SentencePieceModel.PieceType.Normal or (int)SentencePieceModel.PieceType.Byte) baseCount = i + 1;
        var added = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < n; i++)
            if (i >= baseCount || types[i] is (int)SentencePieceModel.PieceType.Control or (int)SentencePieceModel.PieceType.UserDefined or (int)SentencePieceModel.PieceType.Unknown)
                if (tokens[i].Length > 0) added.TryAdd(tokens[i], i);
        if (!added.TryGetValue("<image>", out int image))
            throw new ModelLoadException($"{f.Path}: the vocabulary has no '<image>' token");
        var spm = new SentencePieceModel
        {
            Pieces = Enumerable.Range(0, baseCount).Select(i => new SentencePieceModel.Piece(tokens[i], scores[i],
                Enum.IsDefined((SentencePieceModel.PieceType)types[i]) ? (SentencePieceModel.PieceType)types[i] : SentencePieceModel.PieceType.Normal)).ToList(),
            UnkId = unk, BosId = bos, EosId = eos,
            ByteFallback = types.Take(baseCount).Contains((int)SentencePieceModel.PieceType.Byte),
            AddDummyPrefix = f.TryGetBool("tokenizer.ggml.add_space_prefix") ?? true,
            RemoveExtraWhitespaces = f.TryGetBool("tokenizer.ggml.remove_extra_whitespaces") ?? false,
        };
        LlamaTokenizer sp;
        try
        {
            using var ms = new MemoryStream(spm.ToBytes());
            sp = LlamaTokenizer.Create(ms, addBeginOfSentence: false, addEndOfSentence: false, specialTokens: added);
        }
        catch (Exception e) when (e is not ModelLoadException)
        {
            throw new ModelLoadException($"{f.Path}: cannot build the SentencePiece model from tokenizer.ggml.*: {e.Message}", e);
        }
        bool addBos = f.TryGetBool("tokenizer.ggml.add_bos_token") ?? true;
        return new LlavaTokenizer(sp, added, bos, eos, padId >= 0 ? padId : null, image, n, legacy: true, addBos);
    }

    /// <summary>Throws if config.json's image/pad token ids disagree with the tokenizer files.</summary>
    public void CheckAgainst(LlavaConfig config)
    {
        if (config.ImageTokenIndex != ImageTokenId)
            throw new ConfigMismatchException($"config.json image_token_index {config.ImageTokenIndex} differs from the tokenizer's <image> id {ImageTokenId}");
        if (VocabSize > config.Text.VocabSize)
            throw new ConfigMismatchException($"tokenizer has {VocabSize} ids but text_config.vocab_size is {config.Text.VocabSize}");
    }

    /// <summary>
    /// Token ids of a prompt: BOS (if add_bos_token), then the text chunks between added-token literals, each
    /// encoded by SentencePiece, joined with the added tokens' ids.
    /// </summary>
    public int[] EncodePrompt(string prompt)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        var ids = new List<int>(prompt.Length / 2 + 4);
        if (AddBos) ids.Add(BosId);
        int pos = 0;
        bool afterSpecial = false;
        while (pos <= prompt.Length)
        {
            var (at, literal) = NextLiteral(prompt, pos);
            int end = at < 0 ? prompt.Length : at;
            if (end > pos) EncodeChunk(prompt.AsSpan(pos, end - pos), dummyPrefix: Legacy || !afterSpecial, ids);
            if (at < 0) break;
            ids.Add(_added[literal!]);
            afterSpecial = true;
            pos = at + literal!.Length;
        }
        return ids.ToArray();
    }

    /// <summary>Text of the ids without the special tokens (BOS, EOS, added tokens), leading space trimmed.</summary>
    public string Decode(IEnumerable<int> ids)
    {
        ArgumentNullException.ThrowIfNull(ids);
        var kept = ids.Where(i => !_skipOnDecode.Contains(i)).ToList();
        foreach (var i in kept)
            if (i < 0 || i >= VocabSize) throw new ArgumentOutOfRangeException(nameof(ids), $"token id {i} is outside the vocabulary ({VocabSize})");
        if (kept.Count == 0) return "";
        return _sp.Decode(kept, considerSpecialTokens: false).TrimStart(' ');
    }

    /// <summary>The id of a single piece or added token, or null.</summary>
    public int? TokenToId(string token)
    {
        if (_added.TryGetValue(token, out var id)) return id;
        return _sp.Vocabulary.TryGetValue(token, out var v) ? v : null;
    }

    private (int At, string? Literal) NextLiteral(string s, int from)
    {
        int best = -1; string? lit = null;
        foreach (var l in _splitLiterals)
        {
            int i = s.IndexOf(l, from, StringComparison.Ordinal);
            if (i >= 0 && (best < 0 || i < best)) { best = i; lit = l; }
        }
        return (best, lit);
    }

    private void EncodeChunk(ReadOnlySpan<char> text, bool dummyPrefix, List<int> ids)
    {
        if (dummyPrefix)
        {
            // The SentencePiece normalizer adds the "▁" dummy prefix and escapes spaces.
            ids.AddRange(_sp.EncodeToIds(text, addBeginningOfSentence: false, addEndOfSentence: false, considerPreTokenization: true, considerNormalization: true));
            return;
        }
        // Non-legacy text after an added token: escape spaces ourselves and skip the normalizer, so no dummy prefix.
        var escaped = text.ToString().Replace(' ', Spiece);
        ids.AddRange(_sp.EncodeToIds(escaped, addBeginningOfSentence: false, addEndOfSentence: false, considerPreTokenization: true, considerNormalization: false));
    }

    private static int TokenId(JsonElement root, string field, Dictionary<string, int> added, LlamaTokenizer sp, int fallback, string where)
    {
        if (!root.TryGetProperty(field, out var t) || t.ValueKind == JsonValueKind.Null)
        {
            if (fallback < 0) throw new ModelLoadException($"{where}: '{field}' is missing");
            return fallback;
        }
        string? content = t.ValueKind switch
        {
            JsonValueKind.String => t.GetString(),
            JsonValueKind.Object when t.TryGetProperty("content", out var c) && c.ValueKind == JsonValueKind.String => c.GetString(),
            _ => null,
        };
        if (string.IsNullOrEmpty(content)) throw new ModelLoadException($"{where}: '{field}' should be a token string, got {t.GetRawText()}");
        if (added.TryGetValue(content, out var id)) return id;
        if (sp.Vocabulary.TryGetValue(content, out var v)) return v;
        throw new ModelLoadException($"{where}: {field} '{content}' is not in the vocabulary");
    }
}
