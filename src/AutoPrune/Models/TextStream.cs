using AutoPrune.Loading;

namespace AutoPrune.Models;

/// <summary>
/// Turns generated ids into text as they come: the whole prefix is decoded each time (SentencePiece pieces only
/// become text in context: leading spaces, byte fallback), stop sequences end the answer (the stop text itself is
/// not part of it), and text that could still grow into a stop sequence, or trailing whitespace, is held back.
/// The deltas handed out concatenate to exactly <see cref="Text"/>.
/// </summary>
public sealed class TextStream
{
    private readonly LlavaTokenizer _tokenizer;
    private readonly IReadOnlyList<string> _stop;
    private readonly List<int> _ids = [];
    private string _text = "";
    private int _emitted;

    public TextStream(LlavaTokenizer tokenizer, IReadOnlyList<string>? stop = null)
    {
        _tokenizer = tokenizer;
        _stop = stop ?? [];
    }

    /// <summary>A stop sequence appeared; no more ids should be pushed.</summary>
    public bool Stopped { get; private set; }

    /// <summary>The answer so far (final once generation ended): decoded, cut at a stop sequence, trimmed.</summary>
    public string Text => _text.TrimEnd();

    /// <summary>Adds one generated id; returns the text that became safe to show (possibly empty).</summary>
    public string Push(int id)
    {
        if (Stopped) return "";
        _ids.Add(id);
        _text = _tokenizer.Decode(_ids).TrimStart();
        foreach (var s in _stop)
        {
            int at = _text.IndexOf(s, StringComparison.Ordinal);
            if (at >= 0) { _text = _text[..at]; Stopped = true; }
        }
        return Take(Stopped ? SafeEnd(0) : SafeEnd(HeldForStop()));
    }

    /// <summary>What was held back, once generation ended.</summary>
    public string Flush() => Take(Text.Length);

    private string Take(int end)
    {
        if (end <= _emitted) return "";
        var d = _text[_emitted..end];
        _emitted = end;
        return d;
    }

    /// <summary>End of the text that can be shown: before <paramref name="held"/> chars and before trailing whitespace
    /// (the final text is trimmed), never inside what was already shown.</summary>
    private int SafeEnd(int held)
    {
        int end = _text.Length - held;
        // An unfinished UTF-8 sequence decodes as U+FFFD until its last byte arrives.
        while (end > 0 && (char.IsWhiteSpace(_text[end - 1]) || _text[end - 1] == '\uFFFD')) end--;
        return Math.Max(end, Math.Min(_emitted, _text.Length));
    }

    /// <summary>Length of the longest suffix of the text that is a proper prefix of a stop sequence.</summary>
    private int HeldForStop()
    {
        int held = 0;
        foreach (var s in _stop)
            for (int n = Math.Min(s.Length - 1, _text.Length); n > held; n--)
                if (_text.AsSpan(_text.Length - n).SequenceEqual(s.AsSpan(0, n))) { held = n; break; }
        return held;
    }
}
