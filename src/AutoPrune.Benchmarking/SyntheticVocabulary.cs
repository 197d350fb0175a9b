using System.Text.Json;
using AutoPrune.Loading;

namespace AutoPrune.Benchmarking;

/// <summary>
/// A LLaMA-style SentencePiece tokenizer of any size for random-weight models, so a model folder of a named shape
/// needs nothing from elsewhere: &lt;unk&gt;, &lt;s&gt;, &lt;/s&gt;, the 256 byte pieces (byte fallback, so any text
/// encodes), then made-up pieces (single characters, "▁"-prefixed and bare letter pairs, triples, ...) up to the size,
/// each with a lower score than the one before. &lt;image&gt; and &lt;pad&gt; are added tokens after the pieces, as in llava-hf.
/// </summary>
public static class SyntheticVocabulary
{
    private const string Letters = "etaoinshrdlcumwfgypbvkjxqz";
    private const string Others = "ETAOINSHRDLCUMWFGYPBVKJXQZ0123456789.,?!:;'\"-()";

    /// <summary>The SentencePiece model with <paramref name="pieces"/> pieces (at least 259 + 64).</summary>
    public static SentencePieceModel Model(int pieces)
    {
        if (pieces < 259 + 64) throw new ArgumentOutOfRangeException(nameof(pieces), $"a vocabulary needs at least {259 + 64} pieces, got {pieces}");
        var list = new List<SentencePieceModel.Piece>(pieces)
        {
            new("<unk>", 0, SentencePieceModel.PieceType.Unknown),
            new("<s>", 0, SentencePieceModel.PieceType.Control),
            new("</s>", 0, SentencePieceModel.PieceType.Control),
        };
        for (int b = 0; b < 256; b++) list.Add(new($"<0x{b:X2}>", 0, SentencePieceModel.PieceType.Byte));
        foreach (var text in Words())
        {
            if (list.Count == pieces) break;
            list.Add(new(text, -(list.Count - 259), SentencePieceModel.PieceType.Normal));
        }
        return new SentencePieceModel { Pieces = list, UnkId = 0, BosId = 1, EosId = 2, ByteFallback = true, AddDummyPrefix = true };
    }

    /// <summary>Made-up pieces, shortest first; every prefix of a piece comes before it, so BPE merges can reach it.</summary>
    private static IEnumerable<string> Words()
    {
        yield return "▁";
        foreach (var c in Letters) yield return c.ToString();
        foreach (var c in Letters) yield return "▁" + c;
        foreach (var c in Others) yield return c.ToString();
        for (int len = 2; ; len++)
            foreach (var w in Strings(len))
            {
                yield return "▁" + w;
                yield return w;
            }
    }

    private static IEnumerable<string> Strings(int len)
    {
        if (len == 1) { foreach (var c in Letters) yield return c.ToString(); yield break; }
        foreach (var head in Strings(len - 1))
            foreach (var c in Letters) yield return head + c;
    }

    /// <summary>
    /// Writes tokenizer.model and tokenizer_config.json: the SentencePiece pieces fill the ids below the image and
    /// pad tokens, which are added tokens (llava-hf 7B: 32,000 pieces, &lt;image&gt; 32000, &lt;pad&gt; 32001).
    /// </summary>
    public static void Write(string dir, LlavaConfig config)
    {
        int pieces = Math.Min(config.ImageTokenIndex, config.PadTokenId);
        if (Math.Max(config.ImageTokenIndex, config.PadTokenId) != pieces + 1 || pieces + 2 > config.Text.VocabSize)
            throw new ArgumentException($"the image and pad tokens ({config.ImageTokenIndex}, {config.PadTokenId}) must be the two ids after the " +
                                        $"SentencePiece pieces, inside the vocabulary ({config.Text.VocabSize})");
        File.WriteAllBytes(Path.Combine(dir, "tokenizer.model"), Model(pieces).ToBytes());
        using var fs = File.Create(Path.Combine(dir, "tokenizer_config.json"));
        using var w = new Utf8JsonWriter(fs, new JsonWriterOptions { Indented = true });
        w.WriteStartObject();
        w.WriteBoolean("add_bos_token", true);
        w.WriteBoolean("add_eos_token", false);
        w.WriteStartObject("added_tokens_decoder");
        foreach (var (id, text) in new[] { (0, "<unk>"), (1, "<s>"), (2, "</s>"), (config.ImageTokenIndex, "<image>"), (config.PadTokenId, "<pad>") })
        {
            w.WriteStartObject(id.ToString(System.Globalization.CultureInfo.InvariantCulture));
            w.WriteString("content", text);
            w.WriteBoolean("special", true);
            w.WriteEndObject();
        }
        w.WriteEndObject();
        w.WriteString("bos_token", "<s>");
        w.WriteString("eos_token", "</s>");
        w.WriteString("unk_token", "<unk>");
        w.WriteString("pad_token", "<pad>");
        w.WriteBoolean("legacy", true);
        w.WriteString("tokenizer_class", "LlamaTokenizer");
        w.WriteEndObject();
    }
}
