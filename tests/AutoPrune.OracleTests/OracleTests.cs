using AutoPrune.Loading.Gguf;
using AutoPrune.Models;
using AutoPrune.Pruning;

namespace AutoPrune.OracleTests;

/// <summary>The embedded model converted once per type, loaded in both engines.</summary>
public sealed class ConvertedModels : IDisposable
{
    public string Dir { get; } = Path.Combine(Path.GetTempPath(), "autoprune-oracle", Guid.NewGuid().ToString("N"));
    private readonly Dictionary<GgufFileType, (LlavaModel Ours, LlamaCpp Theirs)> _m = new();

    public static string RepoRoot { get; } = FindRoot();
    public static string TinyModel => Path.Combine(RepoRoot, "models", "llava-shapes-tiny");

    public (LlavaModel Ours, LlamaCpp Theirs) Get(GgufFileType t)
    {
        lock (_m)
        {
            if (_m.TryGetValue(t, out var p)) return p;
            var (lm, mm) = LlavaGgufConverter.Convert(TinyModel, Path.Combine(Dir, t.ToString()), t);
            return _m[t] = (LlavaModel.Load(lm, mmproj: mm), new LlamaCpp(lm));
        }
    }

    /// <summary>The mmproj file <c>convert</c> wrote beside the type-<paramref name="t"/> language model (after <see cref="Get"/>).</summary>
    public string Mmproj(GgufFileType t) => Path.Combine(Dir, t.ToString(), LlavaGgufConverter.MmprojFileName);

    private static string FindRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d != null; d = d.Parent)
            if (Directory.Exists(Path.Combine(d.FullName, "models", "llava-shapes-tiny"))) return d.FullName;
        throw new InvalidOperationException("repository root not found");
    }

    public void Dispose()
    {
        foreach (var (o, t) in _m.Values) { o.Dispose(); t.Dispose(); }
        try { Directory.Delete(Dir, recursive: true); } catch (IOException) { }
        // The shared parent goes with the last fixture; a fixture still running keeps it (not empty → IOException).
        try { Directory.Delete(Path.GetDirectoryName(Dir)!); } catch (IOException) { }
    }
}

/// <summary>
/// llama.cpp as the oracle for the GGUF path: the same files (written by <c>convert</c> from the embedded model) in
/// llama.cpp and in this engine give the same token ids, near-identical last-token logits and the same greedy text.
/// </summary>
public sealed class OracleTests(ConvertedModels fx, Xunit.Abstractions.ITestOutputHelper log) : IClassFixture<ConvertedModels>
{
    /// <summary>Text-only prompts: the dev questions (see <see cref="DevSet"/>).</summary>
    private static List<string> Prompts(int max) => DevSet.Load(max).Select(q => q.Text).ToList();

    private static string TextOnly(string question) => $"USER: {question} ASSISTANT:";

    /// <summary>This engine's text-only forward (a run with no image): last logits and the greedy continuation.</summary>
    private static (float[] Logits, int[] Greedy) Ours(LlavaModel m, int[] ids, int steps) =>
        Greedy(m, new TokenizedPrompt(ids, Array.Empty<int>()), [], steps);

    /// <summary>This engine's prefill of <paramref name="prompt"/>: its last logits and the greedy continuation of up to <paramref name="steps"/> tokens.</summary>
    internal static (float[] Logits, int[] Greedy) Greedy(LlavaModel m, TokenizedPrompt prompt, IReadOnlyList<ImageFeatures> images, int steps)
    {
        var run = m.StartRun(prompt, images, null, steps + 1);
        var logits = (float[])run.Prefill().Clone();
        var first = logits;
        var outIds = new List<int>();
        for (int s = 0; s < steps; s++)
        {
            int next = LlamaCpp.ArgMax(logits);
            outIds.Add(next);
            if (next == m.Tokenizer.EosId) break;
            logits = run.Decode(next);
        }
        return (first, outIds.ToArray());
    }

    internal static double Cosine(float[] a, float[] b)
    {
        double ab = 0, aa = 0, bb = 0;
        for (int i = 0; i < a.Length; i++) { ab += a[i] * b[i]; aa += a[i] * a[i]; bb += b[i] * b[i]; }
        return ab / Math.Sqrt(aa * bb);
    }

    [Fact]
    public void Tokenization_IdsAreIdentical()
    {
        var (ours, theirs) = fx.Get(GgufFileType.Q8_0);
        var texts = Prompts(600).Select(q => ChatTemplate.Format(q)).Concat(Prompts(600).Select(TextOnly))
            .Concat(["hello world", "  leading spaces", "trailing  ", "<image>\nWhat?", "ünïcödé 🙂", "a<pad>b</s>c"]);
        int n = 0;
        foreach (var t in texts)
        {
            Assert.Equal(theirs.Tokenize(t), ours.Tokenizer.EncodePrompt(t));
            n++;
        }
        Assert.True(n > 6);
    }

    [Theory]
    [InlineData(GgufFileType.F16, 0.9999)]
    [InlineData(GgufFileType.Q8_0, 0.999)]
    [InlineData(GgufFileType.Q4_K_M, 0.99)]
    public void TextOnly_LastLogitsAgree_AndGreedyContinuationsMatch(GgufFileType t, double minCosine)
    {
        var (ours, theirs) = fx.Get(t);
        double worst = 1;
        int same = 0, total = 0;
        foreach (var q in Prompts(12))
        {
            var ids = ours.Tokenizer.EncodePrompt(TextOnly(q));
            var (la, ga) = Ours(ours, ids, 8);
            var (lb, gb) = theirs.Run(ids, 8, ours.Tokenizer.EosId);
            worst = Math.Min(worst, Cosine(la, lb));
            total++;
            if (ga.SequenceEqual(gb)) same++;
        }
        log.WriteLine($"{t}: worst last-logit cosine {worst:F7} over {total} prompts; greedy identical on {same}/{total}");
        Assert.True(worst >= minCosine, $"{t}: worst cosine {worst:F6} < {minCosine}");
        Assert.True(same == total, $"{t}: greedy continuations differ on {total - same} of {total} prompts");
    }
}
