using AutoPrune.Loading.Gguf;
using AutoPrune.Models;

namespace AutoPrune.OracleTests;

/// <summary>
/// The embedded model converted to F16 GGUF, loaded by this engine and by llama.cpp, with three libmtmd contexts: on
/// the mmproj <c>convert</c> wrote, and on the two copies <see cref="ClsOrderCorrection"/> needs.
/// </summary>
public sealed class VisionModels : IDisposable
{
    private readonly ConvertedModels _converted = new();
    public LlavaModel Ours { get; }
    public LlamaCpp Theirs { get; }
    public Mtmd Standard { get; }
    private readonly Mtmd _passA, _passB;

    public VisionModels()
    {
        (Ours, Theirs) = _converted.Get(GgufFileType.F16);
        var mmproj = _converted.Mmproj(GgufFileType.F16);
        string a = Path.Combine(_converted.Dir, "mmproj-pass-a.gguf"), b = Path.Combine(_converted.Dir, "mmproj-pass-b.gguf");
        ClsOrderCorrection.WriteRotatedTable(mmproj, a);
        ClsOrderCorrection.WriteSwappedTable(mmproj, b);
        Standard = Mtmd.Load(mmproj, Theirs.Weights.NativeHandle, Theirs.Threads);
        _passA = Mtmd.Load(a, Theirs.Weights.NativeHandle, Theirs.Threads);
        _passB = Mtmd.Load(b, Theirs.Weights.NativeHandle, Theirs.Threads);
    }

    /// <summary>The prompt in the chat template with libmtmd's image marker.</summary>
    public string Prompt(string question) =>
        ChatTemplate.Format(question).Replace(ChatTemplate.ImageLiteral, Standard.Marker, StringComparison.Ordinal);

    /// <summary>llama.cpp's projector output for the image of <paramref name="chunks"/> (chunk 1) as it stands, bug included.</summary>
    public float[] Uncorrected(MtmdChunks chunks) => Standard.Encode(chunks, 1, Ours.Config.Text.HiddenSize);

    /// <summary>llama.cpp's projector output for an image with the [CLS]-order bug compensated (two encodes).</summary>
    public float[] Corrected(string question, MtmdImage image)
    {
        int dim = Ours.Config.Text.HiddenSize;
        using var a = _passA.Tokenize(Prompt(question), [image]);
        using var b = _passB.Tokenize(Prompt(question), [ClsOrderCorrection.RotatePatches(image, Ours.Config.Vision.PatchSize)]);
        return ClsOrderCorrection.Assemble(_passA.Encode(a, 1, dim), _passB.Encode(b, 1, dim), dim);
    }

    public void Dispose()
    {
        Standard?.Dispose();
        _passA?.Dispose();
        _passB?.Dispose();
        _converted.Dispose();
    }
}

/// <summary>
/// llama.cpp as the oracle for questions with an image: the image goes through libmtmd (llama.cpp decodes, preprocesses
/// and encodes it), the GGUF files are those <c>convert</c> writes from the embedded model, and this engine runs the same
/// files through its GGUF path. <c>AUTOPRUNE_ORACLE_FULL=1</c> compares on all 600 dev questions, with and without the
/// [CLS]-order correction, and reports the counts (about 9 minutes on 2 cores).
/// </summary>
public sealed class MtmdOracleTests(VisionModels fx, Xunit.Abstractions.ITestOutputHelper log) : IClassFixture<VisionModels>
{
    private const int Steps = 8;
    private static readonly bool Full = Environment.GetEnvironmentVariable("AUTOPRUNE_ORACLE_FULL") == "1";

    // llama.cpp computes the projector's GELU with the tanh approximation and multiplies F16 weights with
    // F16-rounded activations; measured: 3e-4 of the largest output value.
    private const float RelativeEmbeddingTolerance = 1e-3f;
    private const double MinLogitCosine = 0.9999;

    [Fact]
    public void Image_TextAroundTheImageTokenizesToTheSameIds()
    {
        int n = 0;
        foreach (var q in DevSet.Load())
        {
            var ours = fx.Ours.Tokenize(q.Text);
            using var chunks = fx.Standard.Tokenize(fx.Prompt(q.Text), [q.Image]);
            Assert.Equal(3, chunks.Count);
            Assert.Equal([Mtmd.ChunkText, Mtmd.ChunkImage, Mtmd.ChunkText], [chunks.Type(0), chunks.Type(1), chunks.Type(2)]);
            Assert.Equal(fx.Ours.ImageTokens, chunks.Tokens(1));
            int at = ours.ImagePositions[0];
            Assert.Equal(ours.Ids[..at], chunks.TextTokens(0));
            Assert.Equal(ours.Ids[(at + 1)..], chunks.TextTokens(2));
            n++;
        }
        log.WriteLine($"{n} prompts: identical ids before and after the image, {fx.Ours.ImageTokens} image positions");
    }

    [Fact]
    public void Image_ProjectorOutputAgrees_OnlyWithTheClsOrderCorrected()
    {
        // Relative to the image's largest |value| (projector outputs reach ~50 on this model).
        float worstCorrected = 0, bestUncorrected = float.MaxValue, worstAbs = 0;
        foreach (var q in DevSet.Load(Full ? int.MaxValue : 8))
        {
            var ours = fx.Ours.EncodeImage(fx.Ours.PreprocessImage(q.Image)).Features;
            float scale = 0;
            foreach (var v in ours) scale = Math.Max(scale, Math.Abs(v));
            var image = fx.Standard.ReadImage(q.Image);
            using var chunks = fx.Standard.Tokenize(fx.Prompt(q.Text), [image]);
            float corrected = MaxAbsDiff(ours, fx.Corrected(q.Text, image));
            worstAbs = Math.Max(worstAbs, corrected);
            worstCorrected = Math.Max(worstCorrected, corrected / scale);
            bestUncorrected = Math.Min(bestUncorrected, MaxAbsDiff(ours, fx.Uncorrected(chunks)) / scale);
        }
        log.WriteLine($"projector output max |ours - llama.cpp| / max |ours|: {worstCorrected:G3} corrected (worst image; {worstAbs:G3} absolute), " +
                      $"{bestUncorrected:G3} uncorrected (best image)");
        Assert.True(worstCorrected <= RelativeEmbeddingTolerance, $"corrected: relative max abs diff {worstCorrected} > {RelativeEmbeddingTolerance}");
        // If this fails after a LLamaSharp update, llama.cpp has the fix (PR #25844): drop ClsOrderCorrection.
        Assert.True(bestUncorrected > 100 * RelativeEmbeddingTolerance, $"uncorrected: relative max abs diff only {bestUncorrected}; has llama.cpp fixed the [CLS] order?");
    }

    [Fact]
    public void Image_LastLogitsAgree_AndGreedyAnswersMatch()
    {
        var questions = DevSet.Load(Full ? int.MaxValue : 16);
        var corrected = Compare(questions, corrected: true);
        log.WriteLine($"corrected: greedy answers identical on {corrected.Same}/{questions.Count}; worst last-logit cosine {corrected.WorstCosine:F7}, max |diff| {corrected.MaxDiff:G3}");
        if (Full)
        {
            var standard = Compare(questions, corrected: false);
            log.WriteLine($"uncorrected: greedy answers identical on {standard.Same}/{questions.Count}; worst last-logit cosine {standard.WorstCosine:F7}, max |diff| {standard.MaxDiff:G3}");
        }
        Assert.True(corrected.WorstCosine >= MinLogitCosine, $"worst cosine {corrected.WorstCosine:F6} < {MinLogitCosine}");
        Assert.True(corrected.Same == questions.Count, $"greedy answers differ on {questions.Count - corrected.Same} of {questions.Count} questions");
    }

    /// <summary>
    /// Both engines on each question: llama.cpp decodes the prompt's chunks through libmtmd, the image from its own
    /// encode (<paramref name="corrected"/> false) or from the compensated features.
    /// </summary>
    private (int Same, double WorstCosine, float MaxDiff) Compare(List<DevQuestion> questions, bool corrected)
    {
        int same = 0;
        double worst = 1;
        float maxDiff = 0;
        int eos = fx.Ours.Tokenizer.EosId;
        foreach (var q in questions)
        {
            var m = fx.Ours;
            var (la, ga) = OracleTests.Greedy(m, m.Tokenize(q.Text), [m.EncodeImage(m.PreprocessImage(q.Image))], Steps);
            var image = fx.Standard.ReadImage(q.Image);
            using var chunks = fx.Standard.Tokenize(fx.Prompt(q.Text), [image]);
            var (lb, gb) = fx.Theirs.Run(fx.Standard, chunks, Steps, eos, corrected ? [fx.Corrected(q.Text, image)] : null);
            worst = Math.Min(worst, OracleTests.Cosine(la, lb));
            maxDiff = Math.Max(maxDiff, MaxAbsDiff(la, lb));
            if (ga.SequenceEqual(gb)) same++;
        }
        return (same, worst, maxDiff);
    }

    private static float MaxAbsDiff(float[] a, float[] b)
    {
        Assert.Equal(a.Length, b.Length);
        float m = 0;
        for (int i = 0; i < a.Length; i++) m = Math.Max(m, Math.Abs(a[i] - b[i]));
        return m;
    }
}
