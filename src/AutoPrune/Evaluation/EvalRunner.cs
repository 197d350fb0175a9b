using System.Diagnostics;

namespace AutoPrune.Evaluation;

public sealed record EvalRunOptions
{
    /// <summary>Only the first N questions of the file (applied before sharding, so shards of a limited run merge to it).</summary>
    public int? Limit { get; init; }
    public IProgress<EvalProgress>? Progress { get; init; }
}

/// <summary>
/// Runs a benchmark through an engine delegate, appending one flushed JSON line per answered question,
/// so a crash loses at most the question in flight and a rerun resumes where it stopped.
/// </summary>
public static class EvalRunner
{
    /// <summary>The questions a run with these settings covers, in file order.</summary>
    public static IReadOnlyList<EvalQuestion> Select(IReadOnlyList<EvalQuestion> questions, int? limit, ShardSpec? shard)
    {
        if (limit is < 1) throw new EvalSettingsException($"a question limit of {limit} selects nothing; it must be at least 1");
        shard?.Validate();
        // Position k in the limited list decides the shard, so shards are disjoint and cover the list.
        var limited = questions.Take(limit ?? int.MaxValue);
        return shard is ShardSpec s ? limited.Where((_, k) => s.Contains(k)).ToList() : limited.ToList();
    }

    public static EvalResult Run(
        BenchmarkSet set,
        EvalRunSettings settings,
        string predictionsPath,
        Func<EvalQuestion, CancellationToken, EvalAnswer> answer,
        EvalRunOptions? options = null,
        CancellationToken cancellationToken = default)
    {
        options ??= new EvalRunOptions();
        var scorer = Scorers.ByName(settings.Scorer);
        settings = settings with { Scorer = scorer.Name };
        ShardSpec? shard = settings.Shard is null ? null : ShardSpec.Parse(settings.Shard);
        var selection = Select(set.Questions, options.Limit, shard);

        // Check every reference answer up front: a scorer problem must not surface after hours of inference.
        if (set.Answers is not null)
            foreach (var q in selection)
                if (scorer.CheckAnswers(set.Answers[q.QuestionId]) is string problem)
                    throw new BenchmarkFormatException(set.AnswersPath!, set.AnswerLines.GetValueOrDefault(q.QuestionId),
                        $"question_id {q.QuestionId}: {problem} (scorer '{scorer.Name}')");

        predictionsPath = Path.GetFullPath(predictionsPath);
        var metaPath = EvalRunSettings.MetaPath(predictionsPath);
        var done = new HashSet<string>(StringComparer.Ordinal);
        // An empty file is what a run stopped between creating it and writing its meta leaves: start afresh.
        bool exists = File.Exists(predictionsPath) && new FileInfo(predictionsPath).Length > 0;
        if (exists && !File.Exists(metaPath))
            throw new EvalSettingsException($"{predictionsPath} exists without its {Path.GetFileName(metaPath)}; cannot tell how it was made, refusing to append");
        if (!exists) Directory.CreateDirectory(Path.GetDirectoryName(predictionsPath)!);
        // One writer per file: the stream holds an exclusive lock (an flock on Unix) until the run ends, and all
        // reading, repairing and appending goes through it. A second eval on the same output stops here.
        using var stream = OpenLocked(predictionsPath);
        if (exists)
        {
            var diffs = EvalRunSettings.Load(metaPath).Differences(settings, includeShard: true);
            if (diffs.Count > 0)
                throw new EvalSettingsException($"{predictionsPath} was made with other settings ({string.Join("; ", diffs)}); use another output file");
            // Ids outside this shard mean the file belongs to another run even if the meta agrees.
            var shardIds = Select(set.Questions, null, shard).Select(q => q.QuestionId).ToHashSet(StringComparer.Ordinal);
            foreach (var r in PredictionsFile.ReadForResume(stream, predictionsPath, out _))
            {
                if (!shardIds.Contains(r.QuestionId))
                    throw new EvalSettingsException($"{predictionsPath} holds question_id {r.QuestionId}, which is not part of this run's questions");
                done.Add(r.QuestionId);
            }
        }
        else
        {
            // Meta before any record: a predictions file without meta is never ours.
            (settings with { Questions = set.QuestionsPath }).Save(metaPath);
        }

        var todo = selection.Where(q => !done.Contains(q.QuestionId)).ToList();
        int total = selection.Count, resumed = total - todo.Count, answered = 0;
        var clock = Stopwatch.StartNew();
        options.Progress?.Report(new EvalProgress(resumed, total, resumed, 0, todo.Count == 0 ? TimeSpan.Zero : null, null));

        {
            foreach (var q in todo)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var a = answer(q, cancellationToken);
                Validate(a, q);
                var refs = set.Answers?[q.QuestionId];
                var record = new PredictionRecord(q.QuestionId, q.Index, a.Prediction, refs,
                    refs is null ? null : scorer.Score(a.Prediction, refs), q.Category, q.Image,
                    a.VisualTokensPerLayer, a.MeanVisualTokens, a.Flops, a.FlopsUnpruned, a.PrefillMs, a.DecodeMs) { IdIsNumber = q.IdIsNumber };
                // One write per record, then flush to disk: a crash leaves at most one partial last line.
                stream.Write(System.Text.Encoding.UTF8.GetBytes(PredictionsFile.Format(record, scorer.IsBinary) + "\n"));
                stream.Flush(flushToDisk: true);

                answered++;
                double rate = answered / Math.Max(clock.Elapsed.TotalSeconds, 1e-9);
                int remaining = todo.Count - answered;
                options.Progress?.Report(new EvalProgress(resumed + answered, total, resumed, rate,
                    TimeSpan.FromSeconds(remaining / rate), q.QuestionId));
            }
        }
        stream.Dispose(); // release the lock before reading the file back
        return EvalResult.FromPredictions(predictionsPath);
    }

    private static FileStream OpenLocked(string path)
    {
        try { return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None); }
        catch (IOException e) when (PredictionsFile.IsLockConflict(e))
        {
            throw new EvalSettingsException($"{path} is being written by another eval run; wait for it to finish or use another output file");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new EvalSettingsException($"{path}: cannot open for writing: {e.Message}");
        }
    }

    private static void Validate(EvalAnswer a, EvalQuestion q)
    {
        // Engine contract violations are bugs, not bad input: say which question and what.
        if (a is null || a.Prediction is null || a.VisualTokensPerLayer is null)
            throw new InvalidOperationException($"engine returned an incomplete answer for question_id {q.QuestionId}");
        foreach (var (name, v) in new[] { ("mean_visual_tokens", a.MeanVisualTokens), ("flops", a.Flops), ("flops_unpruned", a.FlopsUnpruned), ("prefill_ms", a.PrefillMs), ("decode_ms", a.DecodeMs) })
            if (!double.IsFinite(v) || v < 0)
                throw new InvalidOperationException($"engine returned {name} = {v} for question_id {q.QuestionId}");
    }
}
