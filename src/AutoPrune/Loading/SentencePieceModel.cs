using System.Text;

namespace AutoPrune.Loading;

/// <summary>
/// The parts of a SentencePiece model file (a protobuf ModelProto) that GGUF carries: the pieces with their scores
/// and types, the ids of unk/bos/eos, byte fallback, and the normalizer's dummy-prefix and whitespace flags.
/// Read from tokenizer.model to write tokenizer.ggml.* metadata; written back from that metadata so the same
/// SentencePiece encoder can be built from a GGUF file.
/// </summary>
public sealed class SentencePieceModel
{
    /// <summary>SentencePiece piece types; GGUF's tokenizer.ggml.token_type uses the same numbers.</summary>
    public enum PieceType { Normal = 1, Unknown = 2, Control = 3, UserDefined = 4, Unused = 5, Byte = 6 }

    public sealed record Piece(string Text, float Score, PieceType Type);

    public List<Piece> Pieces { get; init; } = new();
    public int UnkId { get; init; }
    public int BosId { get; init; } = 1;
    public int EosId { get; init; } = 2;
    public bool ByteFallback { get; init; } = true;
    public bool AddDummyPrefix { get; init; } = true;
    public bool RemoveExtraWhitespaces { get; init; }

    public static SentencePieceModel Read(byte[] bytes, string where)
    {
        var pieces = new List<Piece>();
        int unk = 0, bos = 1, eos = 2;
        bool byteFallback = false, dummy = true, removeWs = true;
        try
        {
            var r = new Reader(bytes, 0, bytes.Length);
            while (r.More)
            {
                var (field, wire) = r.Key();
                if (field == 1 && wire == 2)
                {
                    var p = r.Sub();
                    string text = ""; float score = 0; var type = PieceType.Normal;
                    while (p.More)
                    {
                        var (f, w) = p.Key();
                        if (f == 1 && w == 2) text = p.String();
                        else if (f == 2 && w == 5) score = p.Float();
                        else if (f == 3 && w == 0) type = (PieceType)p.Varint();
                        else p.Skip(w);
                    }
                    pieces.Add(new Piece(text, score, type));
                }
                else if (field == 2 && wire == 2)
                {
                    var t = r.Sub();
                    while (t.More)
                    {
                        var (f, w) = t.Key();
                        if (w != 0) { t.Skip(w); continue; }
                        long v = (long)t.Varint();
                        switch (f)
                        {
                            case 35: byteFallback = v != 0; break;
                            case 40: unk = (int)v; break;
                            case 41: bos = (int)v; break;
                            case 42: eos = (int)v; break;
                        }
                    }
                }
                else if (field == 3 && wire == 2)
                {
                    var n = r.Sub();
                    while (n.More)
                    {
                        var (f, w) = n.Key();
                        if (f == 3 && w == 0) dummy = n.Varint() != 0;
                        else if (f == 4 && w == 0) removeWs = n.Varint() != 0;
                        else n.Skip(w);
                    }
                }
                else r.Skip(wire);
            }
        }
        catch (Exception e) when (e is IndexOutOfRangeException or ArgumentException or InvalidDataException)
        {
            throw new ModelLoadException($"{where}: not a valid SentencePiece model: {e.Message}", e);
        }
        if (pieces.Count == 0) throw new ModelLoadException($"{where}: the SentencePiece model has no pieces");
        return new SentencePieceModel
        {
            Pieces = pieces, UnkId = unk, BosId = bos, EosId = eos, ByteFallback = byteFallback,
            AddDummyPrefix = dummy, RemoveExtraWhitespaces = removeWs,
        };
    }

    /// <summary>A BPE ModelProto with these pieces, the special ids and an identity normalizer.</summary>
    public byte[] ToBytes()
    {
        var ms = new MemoryStream();
        foreach (var p in Pieces)
        {
            var pb = new MemoryStream();
            WriteBytes(pb, 1, Encoding.UTF8.GetBytes(p.Text));
            WriteTag(pb, 2, 5); pb.Write(BitConverter.GetBytes(p.Score));
            WriteTag(pb, 3, 0); WriteVarint(pb, (ulong)p.Type);
            WriteBytes(ms, 1, pb.ToArray());
        }
        var t = new MemoryStream();
        WriteTag(t, 3, 0); WriteVarint(t, 2); // model_type BPE
        WriteTag(t, 4, 0); WriteVarint(t, (ulong)Pieces.Count);
        WriteTag(t, 35, 0); WriteVarint(t, ByteFallback ? 1UL : 0);
        WriteTag(t, 40, 0); WriteVarint(t, (ulong)(long)UnkId);
        WriteTag(t, 41, 0); WriteVarint(t, (ulong)(long)BosId);
        WriteTag(t, 42, 0); WriteVarint(t, (ulong)(long)EosId);
        WriteTag(t, 43, 0); WriteVarint(t, unchecked((ulong)-1L)); // no pad piece in the model itself
        WriteBytes(ms, 2, t.ToArray());
        var n = new MemoryStream();
        WriteBytes(n, 1, "identity"u8.ToArray());
        WriteTag(n, 3, 0); WriteVarint(n, AddDummyPrefix ? 1UL : 0);
        WriteTag(n, 4, 0); WriteVarint(n, RemoveExtraWhitespaces ? 1UL : 0);
        WriteTag(n, 5, 0); WriteVarint(n, 1); // escape whitespaces as "▁"
        WriteBytes(ms, 3, n.ToArray());
        return ms.ToArray();
    }

    private static void WriteTag(Stream s, int field, int wire) => WriteVarint(s, (ulong)(field << 3 | wire));

    private static void WriteVarint(Stream s, ulong v)
    {
        while (v >= 0x80) { s.WriteByte((byte)(v | 0x80)); v >>= 7; }
        s.WriteByte((byte)v);
    }

    private static void WriteBytes(Stream s, int field, byte[] b)
    {
        WriteTag(s, field, 2);
        WriteVarint(s, (ulong)b.Length);
        s.Write(b);
    }

    /// <summary>Minimal protobuf wire reader over a byte range; out-of-range reads throw.</summary>
    private sealed class Reader(byte[] b, int pos, int end)
    {
        private int _pos = pos;
        public bool More => _pos < end;

        public ulong Varint()
        {
            ulong v = 0;
            for (int shift = 0; shift < 64; shift += 7)
            {
                if (_pos >= end) throw new InvalidDataException("truncated varint");
                byte c = b[_pos++];
                v |= (ulong)(c & 0x7F) << shift;
                if (c < 0x80) return v;
            }
            throw new InvalidDataException("varint too long");
        }

        public (int Field, int Wire) Key()
        {
            ulong k = Varint();
            return ((int)(k >> 3), (int)(k & 7));
        }

        private int Length()
        {
            ulong n = Varint();
            if (n > (ulong)(end - _pos)) throw new InvalidDataException("length past the end");
            return (int)n;
        }

        public Reader Sub()
        {
            int n = Length();
            var r = new Reader(b, _pos, _pos + n);
            _pos += n;
            return r;
        }

        public string String()
        {
            int n = Length();
            var s = Encoding.UTF8.GetString(b, _pos, n);
            _pos += n;
            return s;
        }

        public float Float()
        {
            if (end - _pos < 4) throw new InvalidDataException("truncated float");
            float f = BitConverter.ToSingle(b, _pos);
            _pos += 4;
            return f;
        }

        public void Skip(int wire)
        {
            switch (wire)
            {
                case 0: Varint(); break;
                case 1: _pos += 8; break;
                case 2: int n = Length(); _pos += n; break; // not `_pos += Length()`: that adds to the position before the length
                case 5: _pos += 4; break;
                default: throw new InvalidDataException($"wire type {wire}");
            }
            if (_pos > end) throw new InvalidDataException("field past the end");
        }
    }
}
