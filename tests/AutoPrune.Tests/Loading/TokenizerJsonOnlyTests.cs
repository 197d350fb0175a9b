using System.Text.Json;
using AutoPrune.Loading;

namespace AutoPrune.Tests.Loading;

/// <summary>A model folder with tokenizer.json but no tokenizer.model (as many newer llava-hf repos ship) loads and
/// tokenizes exactly like the SentencePiece file.</summary>
public sealed class TokenizerJsonOnlyTests
{
    private static string JsonOnlyCopy(string dir)
    {
        foreach (var f in Directory.EnumerateFiles(TestPaths.TinyModel))
            if (Path.GetFileName(f) != "tokenizer.model") File.CreateSymbolicLink(Path.Combine(dir, Path.GetFileName(f)), f);
        return dir;
    }

    private static IEnumerable<string> Texts()
    {
        yield return "What color is the triangle?";
        yield return "  two  spaces, tabs\tand\nnewlines ";
        yield return "Ünïcödé → 数字 and emoji 🙂 fall back to bytes";
        yield return "USER: <image>\nHow many objects are there? ASSISTANT:";
        yield return "";
        foreach (var line in File.ReadLines(Path.Combine(TestPaths.DevSet, "questions.jsonl")).Where(l => l.Length > 0))
            yield return JsonDocument.Parse(line).RootElement.GetProperty("text").GetString()!;
    }

    [Fact]
    public void EncodesAndDecodesLikeTokenizerModel()
    {
        var dir = TestPaths.TempDir();
        try
        {
            var reference = LlavaTokenizer.FromFolder(TestPaths.TinyModel);
            var fromJson = LlavaTokenizer.FromFolder(JsonOnlyCopy(dir));
            Assert.Equal(reference.VocabSize, fromJson.VocabSize);
            Assert.Equal((reference.BosId, reference.EosId, reference.PadId, reference.ImageTokenId), (fromJson.BosId, fromJson.EosId, fromJson.PadId, fromJson.ImageTokenId));
            int n = 0;
            foreach (var text in Texts())
            {
                var ids = reference.EncodePrompt(text);
                Assert.Equal(ids, fromJson.EncodePrompt(text));
                Assert.Equal(reference.Decode(ids), fromJson.Decode(ids));
                n++;
            }
            Assert.True(n >= 10);
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void ModelAnswersTheSameFromAJsonOnlyFolder()
    {
        var dir = TestPaths.TempDir();
        try
        {
            var (code, stdout, stderr) = Tests.Cli.CliTests.Run("ask", "--image", Path.Combine(TestPaths.Golden, "case0.png"), "Is there a yellow square?",
                "--model", JsonOnlyCopy(dir));
            Assert.True(code == 0, stderr);
            Assert.Equal("yes", stdout.Trim());   // the golden greedy answer of case 0
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void NeitherTokenizerFileIsAClearError()
    {
        var dir = TestPaths.TempDir();
        try
        {
            File.Copy(Path.Combine(TestPaths.TinyModel, "tokenizer_config.json"), Path.Combine(dir, "tokenizer_config.json"));
            var e = Assert.Throws<ModelLoadException>(() => LlavaTokenizer.FromFolder(dir));
            Assert.Contains("neither tokenizer.model nor tokenizer.json", e.Message);
            File.WriteAllText(Path.Combine(dir, "tokenizer.json"), "{\"model\": {\"type\": \"WordPiece\", \"vocab\": {}}}");
            Assert.Contains("only BPE", Assert.Throws<ModelLoadException>(() => LlavaTokenizer.FromFolder(dir)).Message);
        }
        finally { Directory.Delete(dir, true); }
    }
}
