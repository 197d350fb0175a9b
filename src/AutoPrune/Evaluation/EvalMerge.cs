using System.Text;

namespace AutoPrune.Evaluation;

/// <summary>Joins the predictions files of shards (or partial runs) of one run into a single file and summary.</summary>
public static class EvalMerge
{
    /// <summary>
    /// Writes the union of the inputs' records to <paramref name="outputPath"/> (in benchmark file order) with a
    /// meta sidecar without shard, and returns its summary. Inputs must share model/policy/budget/scorer/benchmark;
    /// a question id in two inputs is an error unless both records are identical. Sharded inputs must be
    /// exactly the shards 0..N-1 of one N, so a forgotten shard cannot pass for a full run.
    /// </summary>
    public static EvalResult Merge(string outputPath, params string[] inputs)
    {
        if (inputs.Length == 0) throw new EvalSettingsException("merge: no input predictions files");
        outputPath = Path.GetFullPath(outputPath);
        var metas = inputs.Select(p => EvalRunSettings.Load(EvalRunSettings.MetaPath(p))).ToList();
        for (int i = 1; i < metas.Count; i++)
        {
            var diffs = metas[0].Differences(metas[i], includeShard: false);
            if (diffs.Count > 0)
                throw new EvalSettingsException($"merge: {inputs[i]} was made with other settings than {inputs[0]} ({string.Join("; ", diffs)})");
        }
        CheckShards(inputs, metas);
        if (inputs.Any(p => Path.GetFullPath(p) == outputPath))
            throw new EvalSettingsException($"merge: output {outputPath} is also an input");

        var scorer = Scorers.ByName(metas[0].Scorer);
        var byId = new Dictionary<string, (PredictionRecord Record, string Line, string From)>(StringComparer.Ordinal);
        foreach (var path in inputs)
            foreach (var r in PredictionsFile.Read(path))
            {
                var line = PredictionsFile.Format(r, scorer.IsBinary);
                if (byId.TryGetValue(r.QuestionId, out var prev))
                {
                    if (prev.Line != line)
                        throw new EvalSettingsException($"merge: question_id {r.QuestionId} appears in {prev.From} and {path} with different records");
                    continue;
                }
                byId[r.QuestionId] = (r, line, path);
            }

        var ordered = byId.Values.OrderBy(v => v.Record.Index).ThenBy(v => v.Record.QuestionId, StringComparer.Ordinal).ToList();
        var sb = new StringBuilder();
        foreach (var v in ordered) sb.Append(v.Line).Append('\n');
        Directory.CreateDirectory(Path.GetDirectoryName(outputPath)!);
        (metas[0] with { Shard = null }).Save(EvalRunSettings.MetaPath(outputPath));
        EvalJson.WriteAtomic(outputPath, sb.ToString());
        return EvalResult.Compute(metas[0] with { Shard = null }, ordered.Select(v => v.Record).ToList());
    }

    private static void CheckShards(string[] inputs, List<EvalRunSettings> metas)
    {
        var shards = metas.Select(m => m.Shard is null ? (ShardSpec?)null : ShardSpec.Parse(m.Shard)).ToList();
        if (shards.All(s => s is null)) return;
        if (shards.Any(s => s is null))
            throw new EvalSettingsException("merge: cannot mix sharded and unsharded predictions files");
        int n = shards[0]!.Value.Count;
        if (shards.Any(s => s!.Value.Count != n))
            throw new EvalSettingsException($"merge: shards of different counts ({string.Join(", ", shards.Select(s => s.ToString()))})");
        var seen = new Dictionary<int, string>();
        for (int i = 0; i < inputs.Length; i++)
            if (!seen.TryAdd(shards[i]!.Value.Index, inputs[i]))
                throw new EvalSettingsException($"merge: shard {shards[i]} given twice ({seen[shards[i]!.Value.Index]} and {inputs[i]})");
        var missing = Enumerable.Range(0, n).Where(i => !seen.ContainsKey(i)).ToList();
        if (missing.Count > 0)
            throw new EvalSettingsException($"merge: missing shard(s) {string.Join(", ", missing.Select(i => $"{i}/{n}"))}");
    }
}
