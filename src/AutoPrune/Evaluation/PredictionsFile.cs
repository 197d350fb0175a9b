using System.Buffers;
using System.Text;
using System.Text.Json;

namespace AutoPrune.Evaluation;

/// <summary>One line of a predictions file.</summary>
/// <param name="Index">Position of the question in the benchmark file; merges restore file order with it.</param>
/// <param name="Answers">Reference answers, null when the benchmark has no answers file.</param>
/// <param name="Score">The scorer's value when written (0/1 or a VQA score); summaries re-score from Prediction and Answers.</param>
/// <param name="Image">The image name as in the questions file (MME pairs questions by image).</param>
public sealed record PredictionRecord(
    string QuestionId,
    int Index,
    string Prediction,
    IReadOnlyList<string>? Answers,
    double? Score,
    string? Category,
    string? Image,
    int[] VisualTokensPerLayer,
    double MeanVisualTokens,
    double Flops,
    double FlopsUnpruned,
    double PrefillMs,
    double DecodeMs)
{
    /// <summary>The id is written as a JSON number, as in the questions file it came from.</summary>
    public bool IdIsNumber { get; init; }
}

/// <summary>Reads and writes the JSON-lines predictions file.</summary>
public static class PredictionsFile
{
    /// <summary>One record as a single JSON line (no newline). "correct" is a bool for binary scorers, else a number.</summary>
    public static string Format(PredictionRecord r, bool binaryScore)
    {
        var buf = new ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(buf, EvalJson.LineWriter))
        {
            w.WriteStartObject();
            if (r.IdIsNumber)
            {
                w.WritePropertyName("question_id");
                w.WriteRawValue(r.QuestionId);   // the raw number text of the input, validated as JSON when read
            }
            else w.WriteString("question_id", r.QuestionId);
            w.WriteNumber("index", r.Index);
            w.WriteString("prediction", r.Prediction);
            w.WritePropertyName("answer");
            if (r.Answers is null) w.WriteNullValue();
            else if (r.Answers.Count == 1) w.WriteStringValue(r.Answers[0]);
            else
            {
                w.WriteStartArray();
                foreach (var a in r.Answers) w.WriteStringValue(a);
                w.WriteEndArray();
            }
            w.WritePropertyName("correct");
            if (r.Score is not double s) w.WriteNullValue();
            else if (binaryScore) w.WriteBooleanValue(s == 1);
            else w.WriteNumberValue(s);
            if (r.Category is null) w.WriteNull("category"); else w.WriteString("category", r.Category);
            if (r.Image is not null) w.WriteString("image", r.Image);
            w.WriteStartArray("visual_tokens_per_layer");
            foreach (var t in r.VisualTokensPerLayer) w.WriteNumberValue(t);
            w.WriteEndArray();
            w.WriteNumber("mean_visual_tokens", r.MeanVisualTokens);
            w.WriteNumber("flops", r.Flops);
            w.WriteNumber("flops_unpruned", r.FlopsUnpruned);
            w.WriteNumber("prefill_ms", r.PrefillMs);
            w.WriteNumber("decode_ms", r.DecodeMs);
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buf.WrittenSpan);
    }

    /// <summary>Reads a complete predictions file; a truncated or malformed line is an error naming its line.</summary>
    public static List<PredictionRecord> Read(string path)
    {
        if (!File.Exists(path))
            throw new BenchmarkFormatException(path, null, "predictions file not found");
        byte[] bytes;
        try { bytes = File.ReadAllBytes(path); }
        catch (IOException e) when (IsLockConflict(e))
        {
            throw new BenchmarkFormatException(path, null, "the file is being written by a running eval; read it when that run ends");
        }
        return ReadCore(bytes, path, null, out _);
    }

    /// <summary>
    /// Reads a predictions file for resuming, through the stream the runner holds locked. A last line without
    /// its newline that does not parse is what a crash mid-write leaves, including a tail of NUL bytes that a
    /// file system may leave after a power loss: it is cut off the file (that question is simply answered
    /// again). A complete last line missing only its newline is kept and the newline added. Returns the
    /// records and whether the file was repaired; the stream is left at its end.
    /// </summary>
    public static List<PredictionRecord> ReadForResume(FileStream stream, string path, out bool repaired)
    {
        stream.Position = 0;
        var bytes = new byte[stream.Length];
        stream.ReadExactly(bytes);
        var records = ReadCore(bytes, path, stream, out repaired);
        stream.Seek(0, SeekOrigin.End);
        return records;
    }

    /// <summary>.NET reports another process's lock (FileShare.None, an flock on Unix) as an IOException with this HResult on Windows, EWOULDBLOCK on Unix.</summary>
    internal static bool IsLockConflict(IOException e) => e.HResult is 32 or 33 or unchecked((int)0x80070020) or unchecked((int)0x80070021) or 11;

    /// <summary><paramref name="repair"/> null: strict reading; otherwise a damaged tail is repaired through it.</summary>
    private static List<PredictionRecord> ReadCore(byte[] bytes, string path, FileStream? repair, out bool repaired)
    {
        repaired = false;
        bool repairTruncatedTail = repair is not null;
        var records = new List<PredictionRecord>();
        var seen = new Dictionary<string, int>(StringComparer.Ordinal);
        int start = 0, line = 0;
        while (start < bytes.Length)
        {
            line++;
            int nl = Array.IndexOf(bytes, (byte)'\n', start);
            bool complete = nl >= 0;
            int end = complete ? nl : bytes.Length;
            var text = Encoding.UTF8.GetString(bytes, start, end - start);
            if (!string.IsNullOrWhiteSpace(text))
            {
                PredictionRecord r;
                try
                {
                    r = Parse(text, path, line);
                }
                catch (BenchmarkFormatException) when (!complete && repairTruncatedTail)
                {
                    repair!.SetLength(start);
                    repaired = true;
                    break;
                }
                catch (BenchmarkFormatException e) when (!complete)
                {
                    throw new BenchmarkFormatException(path, line, "truncated last line (a crashed run? resume it to repair): " + e.Message, e);
                }
                if (seen.TryGetValue(r.QuestionId, out var first))
                    throw new BenchmarkFormatException(path, line, $"duplicate question_id {r.QuestionId} (first on line {first})");
                seen[r.QuestionId] = line;
                records.Add(r);
                if (!complete && repairTruncatedTail)
                {
                    repair!.Seek(0, SeekOrigin.End);
                    repair.WriteByte((byte)'\n');
                    repaired = true;
                }
            }
            start = end + 1;
        }
        return records;
    }

    internal static PredictionRecord Parse(string text, string path, int line)
    {
        var o = EvalJson.ParseObjectLine(text, path, line);

        JsonElement Get(string name, params JsonValueKind[] kinds)
        {
            if (!o.TryGetProperty(name, out var v))
                throw new BenchmarkFormatException(path, line, $"missing field '{name}'");
            if (!kinds.Contains(v.ValueKind))
                throw new BenchmarkFormatException(path, line, $"'{name}' has type {v.ValueKind}, expected {string.Join(" or ", kinds)}");
            return v;
        }
        double Num(string name) => Get(name, JsonValueKind.Number).GetDouble();

        var id = BenchmarkSet.ReadId(o, path, line, out var idIsNumber);
        var index = Get("index", JsonValueKind.Number);
        if (!index.TryGetInt32(out var idx) || idx < 0)
            throw new BenchmarkFormatException(path, line, "'index' must be a non-negative integer");
        var prediction = Get("prediction", JsonValueKind.String).GetString()!;
        var answer = Get("answer", JsonValueKind.Null, JsonValueKind.String, JsonValueKind.Array, JsonValueKind.Number);
        IReadOnlyList<string>? answers = answer.ValueKind == JsonValueKind.Null ? null : BenchmarkSet.ReadAnswer(o, path, line);
        var correct = Get("correct", JsonValueKind.True, JsonValueKind.False, JsonValueKind.Number, JsonValueKind.Null);
        double? score = correct.ValueKind switch
        {
            JsonValueKind.True => 1,
            JsonValueKind.False => 0,
            JsonValueKind.Number => correct.GetDouble(),
            _ => null,
        };
        var cat = Get("category", JsonValueKind.String, JsonValueKind.Null);
        string? image = o.TryGetProperty("image", out var im) && im.ValueKind == JsonValueKind.String ? im.GetString() : null;
        var vt = Get("visual_tokens_per_layer", JsonValueKind.Array);
        var tokens = new int[vt.GetArrayLength()];
        int i = 0;
        foreach (var e in vt.EnumerateArray())
        {
            if (e.ValueKind != JsonValueKind.Number || !e.TryGetInt32(out tokens[i++]))
                throw new BenchmarkFormatException(path, line, "'visual_tokens_per_layer' must hold integers");
        }
        return new PredictionRecord(id, idx, prediction, answers, score,
            cat.ValueKind == JsonValueKind.String ? cat.GetString() : null, image, tokens,
            Num("mean_visual_tokens"), Num("flops"), Num("flops_unpruned"), Num("prefill_ms"), Num("decode_ms")) { IdIsNumber = idIsNumber };
    }
}
