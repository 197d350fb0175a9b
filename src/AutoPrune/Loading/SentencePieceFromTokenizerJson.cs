using System.Text;
using System.Text.Json;

namespace AutoPrune.Loading;

/// <summary>
/// Builds the SentencePiece model (protobuf) that a Hugging Face tokenizer.json of the LLaMA kind describes — BPE with
/// byte fallback, "▁" for spaces — for folders that ship no tokenizer.model. SentencePiece's BPE merges the adjacent pair
/// whose joined piece scores highest; tokenizer.json ranks merges instead, so each piece scores minus the rank of the
/// first merge that makes it (pieces no merge makes score below all of them and are never merge results).
/// </summary>
internal static class SentencePieceFromTokenizerJson
{
    private const int Normal = 1, Unknown = 2, Control = 3, Byte = 6;

    public static byte[] Convert(string path)
    {
        JsonDocument doc;
        try { doc = JsonDocument.Parse(File.ReadAllBytes(path)); }
        catch (JsonException e) { throw new ModelLoadException($"{path}: invalid JSON: {e.Message}", e); }
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("model", out var model) || model.ValueKind != JsonValueKind.Object)
                throw new ModelLoadException($"{path}: no \"model\" object");
            if (!model.TryGetProperty("type", out var type) || type.GetString() != "BPE")
                throw new ModelLoadException($"{path}: only BPE tokenizers (LLaMA's) are supported, this one is {(type.ValueKind == JsonValueKind.String ? type.GetString() : "untyped")}");
            if (!model.TryGetProperty("vocab", out var vocabEl) || vocabEl.ValueKind != JsonValueKind.Object)
                throw new ModelLoadException($"{path}: model.vocab missing");
            bool byteFallback = model.TryGetProperty("byte_fallback", out var bf) && bf.ValueKind == JsonValueKind.True;

            var pieces = new SortedDictionary<int, string>();
            foreach (var p in vocabEl.EnumerateObject())
            {
                if (!p.Value.TryGetInt32(out var id) || id < 0 || !pieces.TryAdd(id, p.Name))
                    throw new ModelLoadException($"{path}: vocab entry '{p.Name}' has a bad or duplicate id");
            }
            if (pieces.Count == 0 || pieces.Keys.Last() != pieces.Count - 1)
                throw new ModelLoadException($"{path}: vocab ids are not 0..{pieces.Count - 1}");

            // Rank of the first merge producing each piece. Merges are "a b" strings or ["a", "b"] pairs.
            var rank = new Dictionary<string, int>(StringComparer.Ordinal);
            if (model.TryGetProperty("merges", out var merges) && merges.ValueKind == JsonValueKind.Array)
            {
                int r = 0;
                foreach (var m in merges.EnumerateArray())
                {
                    string joined = m.ValueKind switch
                    {
                        JsonValueKind.String when m.GetString()!.Split(' ') is [var a, var b] => a + b,
                        JsonValueKind.Array when m.GetArrayLength() == 2 => m[0].GetString() + m[1].GetString(),
                        _ => throw new ModelLoadException($"{path}: merge {r} is neither \"a b\" nor [\"a\", \"b\"]"),
                    };
                    rank.TryAdd(joined, r++);
                }
            }
            string unk = model.TryGetProperty("unk_token", out var u) && u.ValueKind == JsonValueKind.String ? u.GetString()! : "<unk>";
            var ids = pieces.ToDictionary(kv => kv.Value, kv => kv.Key, StringComparer.Ordinal);
            int Id(string piece) => ids.TryGetValue(piece, out var i) ? i : -1;

            var proto = new ProtoWriter();
            foreach (var (id, piece) in pieces)
            {
                int kind = piece == unk ? Unknown
                    : piece is "<s>" or "</s>" ? Control
                    : byteFallback && piece.Length == 6 && piece.StartsWith("<0x", StringComparison.Ordinal) && piece.EndsWith('>') ? Byte
                    : Normal;
                float score = kind == Normal ? (rank.TryGetValue(piece, out var r) ? -r : -(rank.Count + id)) : 0;
                var sp = new ProtoWriter();
                sp.String(1, piece);
                sp.Float(2, score);
                if (kind != Normal) sp.Varint(3, kind);
                proto.Message(1, sp);
            }
            var trainer = new ProtoWriter();
            trainer.Varint(3, 2);                  // model_type BPE
            trainer.Varint(4, pieces.Count);       // vocab_size
            trainer.Varint(35, byteFallback ? 1 : 0);
            trainer.Varint(40, Id(unk));
            trainer.Varint(41, Id("<s>"));
            trainer.Varint(42, Id("</s>"));
            trainer.Varint(43, -1);                // no pad piece in the SentencePiece vocabulary
            proto.Message(2, trainer);
            var normalizer = new ProtoWriter();
            normalizer.String(1, "identity");
            normalizer.Varint(3, AddsDummyPrefix(root) ? 1 : 0);
            normalizer.Varint(4, 0);               // remove_extra_whitespaces: LLaMA keeps them
            proto.Message(3, normalizer);
            return proto.ToArray();
        }
    }

    /// <summary>A "▁" is prepended to the text: by a Prepend normalizer (older files) or a Metaspace pre-tokenizer (newer).</summary>
    private static bool AddsDummyPrefix(JsonElement root)
    {
        static bool Has(JsonElement e, Func<JsonElement, bool> pred) => e.ValueKind == JsonValueKind.Object &&
            (pred(e) || (e.TryGetProperty("normalizers", out var n) || e.TryGetProperty("pretokenizers", out n)) && n.ValueKind == JsonValueKind.Array && n.EnumerateArray().Any(x => Has(x, pred)));
        static string? Type(JsonElement e) => e.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString() : null;
        if (root.TryGetProperty("normalizer", out var norm) && Has(norm, e => Type(e) == "Prepend"))
            return true;
        return root.TryGetProperty("pre_tokenizer", out var pre) && Has(pre, e => Type(e) == "Metaspace" &&
            !(e.TryGetProperty("prepend_scheme", out var s) && s.GetString() == "never") &&
            !(e.TryGetProperty("add_prefix_space", out var a) && a.ValueKind == JsonValueKind.False));
    }

    /// <summary>The few protobuf wire-format writes a ModelProto needs.</summary>
    private sealed class ProtoWriter
    {
        private readonly MemoryStream _s = new();
        private void Raw(ulong v) { while (v >= 0x80) { _s.WriteByte((byte)(v | 0x80)); v >>= 7; } _s.WriteByte((byte)v); }
        private void Tag(int field, int wire) => Raw((ulong)((field << 3) | wire));
        public void Varint(int field, long v) { Tag(field, 0); Raw((ulong)v); }
        public void Float(int field, float v) { Tag(field, 5); Span<byte> b = stackalloc byte[4]; BitConverter.TryWriteBytes(b, v); _s.Write(b); }
        public void Bytes(int field, ReadOnlySpan<byte> b) { Tag(field, 2); Raw((ulong)b.Length); _s.Write(b); }
        public void String(int field, string v) => Bytes(field, Encoding.UTF8.GetBytes(v));
        public void Message(int field, ProtoWriter m) => Bytes(field, m._s.ToArray());
        public byte[] ToArray() => _s.ToArray();
    }
}
