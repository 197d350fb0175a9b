namespace AutoPrune.Models;

/// <summary>
/// Chooses the next token from the logits of one decode step, in the order Hugging Face applies its processors:
/// repetition penalty and logit bias, then (when sampling) temperature, top-k, top-p and a seeded draw; temperature 0 is greedy.
/// Ids at or beyond the tokenizer's vocabulary are never chosen: llava-hf checkpoints pad lm_head (32,064 rows for
/// 32,002 tokenizer ids) and those rows have no text. One instance per generation (it remembers the ids seen).
/// </summary>
public sealed class Sampling
{
    private readonly float _temperature, _topP, _penalty;
    private readonly int _topK, _vocab;
    private readonly Random _rng;
    private readonly bool[] _seen;
    private readonly float[] _work, _keys;
    private readonly int[] _order;
    private readonly KeyValuePair<int, float>[] _bias;

    /// <param name="vocab">Ids the tokenizer can decode; logits beyond it are masked.</param>
    /// <param name="promptIds">The prompt's ids, penalized like generated ones (as Hugging Face does).</param>
    public Sampling(GenerationOptions options, int vocab, ReadOnlySpan<int> promptIds)
    {
        if (vocab < 1) throw new ArgumentOutOfRangeException(nameof(vocab));
        Validate(options, vocab);
        _temperature = options.Temperature; _topP = options.TopP; _topK = options.TopK; _penalty = options.RepetitionPenalty;
        _vocab = vocab;
        _bias = options.LogitBias == null ? [] : [.. options.LogitBias];
        _rng = new Random(options.Seed);
        _seen = new bool[vocab];
        _work = new float[vocab];
        if (_temperature > 0) { _keys = new float[vocab]; _order = new int[vocab]; }
        else { _keys = []; _order = []; }
        foreach (var id in promptIds) Remember(id);
    }

    /// <summary>Range checks of the sampling settings, in their own words; <paramref name="vocab"/> bounds logit-bias ids.</summary>
    public static void Validate(GenerationOptions o, int? vocab = null)
    {
        if (o.MaxNewTokens is < 1) throw new GenerationOptionException($"max new tokens must be at least 1 (got {o.MaxNewTokens})");
        if (!(o.Temperature >= 0) || float.IsInfinity(o.Temperature)) throw new GenerationOptionException($"temperature must be a finite number >= 0 (got {o.Temperature})");
        if (!(o.TopP > 0 && o.TopP <= 1)) throw new GenerationOptionException($"top-p must be in (0, 1] (got {o.TopP})");
        if (o.TopK < 0) throw new GenerationOptionException($"top-k must be >= 0, 0 meaning no limit (got {o.TopK})");
        if (!(o.RepetitionPenalty > 0) || float.IsInfinity(o.RepetitionPenalty))
            throw new GenerationOptionException($"repetition penalty must be a finite number > 0, 1 meaning none (got {o.RepetitionPenalty})");
        if (o.LogitBias != null)
            foreach (var (id, b) in o.LogitBias)
                if (id < 0 || id >= vocab) throw new GenerationOptionException($"logit bias names token id {id}, outside the vocabulary (0 to {vocab - 1})");
                else if (!float.IsFinite(b)) throw new GenerationOptionException($"the logit bias of token {id} is not a finite number");
        if (o.Stop != null)
            foreach (var s in o.Stop)
                if (string.IsNullOrEmpty(s)) throw new GenerationOptionException("a stop sequence is empty");
    }

    /// <summary>The next token; it is remembered for the repetition penalty.</summary>
    public int Next(ReadOnlySpan<float> logits)
    {
        if (logits.Length < _vocab) throw new ArgumentException($"{logits.Length} logits for a vocabulary of {_vocab}", nameof(logits));
        var l = logits[.._vocab];
        if (_penalty != 1f || _bias.Length > 0)
        {
            l.CopyTo(_work);
            if (_penalty != 1f)
                for (int i = 0; i < _vocab; i++)
                    if (_seen[i]) _work[i] = _work[i] > 0 ? _work[i] / _penalty : _work[i] * _penalty;
            foreach (var (id, b) in _bias) _work[id] += b;
            l = _work;
        }
        int next = _temperature == 0 ? Argmax(l) : Draw(l);
        Remember(next);
        return next;
    }

    /// <summary>Index of the largest value (the first on ties).</summary>
    public static int Argmax(ReadOnlySpan<float> logits)
    {
        int best = 0;
        for (int i = 1; i < logits.Length; i++) if (logits[i] > logits[best]) best = i;
        return best;
    }

    /// <summary>Sort by logit, keep the top k, softmax at the temperature, keep the nucleus of mass top-p, draw.</summary>
    private int Draw(ReadOnlySpan<float> l)
    {
        int n = l.Length;
        for (int i = 0; i < n; i++) { _keys[i] = -l[i]; _order[i] = i; }
        Array.Sort(_keys, _order, 0, n);                 // ascending keys = descending logits; ties keep no order, but
        int k = _topK > 0 ? Math.Min(_topK, n) : n;      // equal logits get equal probabilities, so the draw is unaffected
        var p = _work.AsSpan(0, k);
        float max = -_keys[0];
        double sum = 0;
        for (int i = 0; i < k; i++) { p[i] = MathF.Exp((-_keys[i] - max) / _temperature); sum += p[i]; }
        double cum = 0; int keep = 0;
        while (keep < k) { cum += p[keep] / sum; keep++; if (cum >= _topP) break; }
        double r = _rng.NextDouble() * cum * sum, acc = 0;
        for (int i = 0; i < keep; i++) { acc += p[i]; if (r < acc) return _order[i]; }
        return _order[keep - 1];
    }

    private void Remember(int id)
    {
        if ((uint)id < (uint)_vocab) _seen[id] = true;
    }
}
