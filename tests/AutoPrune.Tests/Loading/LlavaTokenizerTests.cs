using AutoPrune.Loading;

namespace AutoPrune.Tests.Loading;

public class LlavaTokenizerTests
{
    private static readonly LlavaTokenizer Tok = LlavaTokenizer.FromFolder(TestPaths.TinyModel);
    private static readonly LlavaTokenizer NonLegacy = LlavaTokenizer.FromFolder(TestPaths.TinyModel, legacyOverride: false);

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    public void GoldenInputIds(int n)
    {
        var g = GoldenCase.Load(n);
        Assert.Equal(g.InputIds, Tok.EncodePrompt(g.Prompt));
    }

    [Fact]
    public void IdsComeFromTheFiles()
    {
        Assert.True(Tok.Legacy);
        Assert.Equal(1, Tok.BosId);
        Assert.Equal(2, Tok.EosId);
        Assert.Equal(512, Tok.ImageTokenId);
        Assert.Equal(513, Tok.PadId);
        Assert.Equal(514, Tok.VocabSize);
        Assert.Equal(512, Tok.TokenToId("<image>"));
        Tok.CheckAgainst(LlavaConfig.Load(Path.Combine(TestPaths.TinyModel, "config.json")));
    }

    [Fact]
    public void ConfigMismatchIsDetected()
    {
        var cfg = LlavaConfig.Load(Path.Combine(TestPaths.TinyModel, "config.json")) with { ImageTokenIndex = 513 };
        Assert.Throws<ConfigMismatchException>(() => Tok.CheckAgainst(cfg));
    }

    [Fact]
    public void DecodesTheGoldenAnswer()
    {
        Assert.Equal("yes", Tok.Decode([347, 2]));
        Assert.Equal("yes", Tok.Decode([1, 347, 2, 513]));
    }

    [Theory]
    [InlineData("yes")]
    [InlineData("purple")]
    [InlineData("How many objects are there?")]
    public void EncodeDecodeRoundTrip(string text)
    {
        var ids = Tok.EncodePrompt(text);
        Assert.Equal(Tok.BosId, ids[0]);
        Assert.Equal(text, Tok.Decode(ids));
    }

    [Fact]
    public void DecodeSkipsImageAndPad()
    {
        var ids = Tok.EncodePrompt("USER: <image>\nIs there a yellow square? ASSISTANT:");
        Assert.Contains(Tok.ImageTokenId, ids);
        Assert.DoesNotContain("<image>", Tok.Decode(ids));
        Assert.DoesNotContain("<pad>", Tok.Decode([.. ids, 513]));
    }

    [Fact]
    public void DecodeRejectsOutOfRangeIds() => Assert.Throws<ArgumentOutOfRangeException>(() => Tok.Decode([5000]));

    [Fact]
    public void LegacyGivesEveryChunkTheDummyPrefix()
    {
        // "yes" alone and "yes" after <image> encode identically: both chunks get "▁".
        var alone = Tok.EncodePrompt("yes")[1..];
        var after = Tok.EncodePrompt("<image>yes");
        Assert.Equal([Tok.BosId, Tok.ImageTokenId, .. alone], after);
    }

    [Fact]
    public void NonLegacyTextAfterImageHasNoDummyPrefix()
    {
        // Golden case 0 (legacy) has "▁" (469) then "\n" (13) right after <image>. "▁" does not merge with the
        // byte-fallback newline, so dropping the dummy prefix removes exactly that token.
        var g = GoldenCase.Load(0);
        int img = Array.IndexOf(g.InputIds, 512);
        Assert.Equal(13, g.InputIds[img + 2]);
        int[] expected = [.. g.InputIds[..(img + 1)], .. g.InputIds[(img + 2)..]];
        Assert.Equal(expected, NonLegacy.EncodePrompt(g.Prompt));
        Assert.False(NonLegacy.Legacy);
    }

    [Fact]
    public void NonLegacyKeepsARealSpaceAfterImage()
    {
        // " yes" after <image>: non-legacy escapes the real space to "▁yes" == legacy "yes";
        // legacy adds a dummy prefix on top ("▁▁yes"), so the two differ.
        var legacyYes = Tok.EncodePrompt("yes")[1..];
        Assert.Equal([NonLegacy.BosId, NonLegacy.ImageTokenId, .. legacyYes], NonLegacy.EncodePrompt("<image> yes"));
        Assert.NotEqual(NonLegacy.EncodePrompt("<image> yes"), Tok.EncodePrompt("<image> yes"));
    }

    [Fact]
    public void NonLegacyWithoutSpaceDiffersFromPrefixed()
    {
        var ids = NonLegacy.EncodePrompt("<image>yes");
        Assert.NotEqual(Tok.EncodePrompt("<image>yes"), ids);
        Assert.Equal("yes", NonLegacy.Decode(ids));
        // The first chunk of a prompt still gets the prefix (transformers prepends "▁" to the whole text).
        Assert.Equal(Tok.EncodePrompt("yes"), NonLegacy.EncodePrompt("yes"));
    }

    [Fact]
    public void MissingTokenizerModelIsModelLoadError()
    {
        var dir = TestPaths.TempDir();
        File.Copy(Path.Combine(TestPaths.TinyModel, "tokenizer_config.json"), Path.Combine(dir, "tokenizer_config.json"));
        var e = Assert.Throws<ModelLoadException>(() => LlavaTokenizer.FromFolder(dir));
        Assert.Contains("tokenizer.model", e.Message);
    }

    [Fact]
    public void CorruptTokenizerModelIsModelLoadError()
    {
        var dir = TestPaths.TempDir();
        File.Copy(Path.Combine(TestPaths.TinyModel, "tokenizer_config.json"), Path.Combine(dir, "tokenizer_config.json"));
        File.WriteAllText(Path.Combine(dir, "tokenizer.model"), "not a protobuf at all, really not");
        Assert.Throws<ModelLoadException>(() => LlavaTokenizer.FromFolder(dir));
    }

    [Fact]
    public void AddedTokenIdsAreReadNotHardCoded()
    {
        // Move <image> and <pad> to other ids: the tokenizer must follow the file.
        var dir = TestPaths.TempDir();
        File.Copy(Path.Combine(TestPaths.TinyModel, "tokenizer.model"), Path.Combine(dir, "tokenizer.model"));
        var cfg = File.ReadAllText(Path.Combine(TestPaths.TinyModel, "tokenizer_config.json"))
            .Replace("\"512\"", "\"600\"").Replace("\"513\"", "\"601\"").Replace("\"legacy\": true", "\"legacy\": false");
        File.WriteAllText(Path.Combine(dir, "tokenizer_config.json"), cfg);
        var t = LlavaTokenizer.FromFolder(dir);
        Assert.Equal(600, t.ImageTokenId);
        Assert.Equal(601, t.PadId);
        Assert.Equal(602, t.VocabSize);
        Assert.False(t.Legacy);
        Assert.Equal(600, t.EncodePrompt("USER: <image>\nhi")[4]);
    }

    [Fact]
    public void MissingImageTokenIsModelLoadError()
    {
        var dir = TestPaths.TempDir();
        File.Copy(Path.Combine(TestPaths.TinyModel, "tokenizer.model"), Path.Combine(dir, "tokenizer.model"));
        var cfg = File.ReadAllText(Path.Combine(TestPaths.TinyModel, "tokenizer_config.json")).Replace("<image>", "<img>");
        File.WriteAllText(Path.Combine(dir, "tokenizer_config.json"), cfg);
        Assert.Throws<ModelLoadException>(() => LlavaTokenizer.FromFolder(dir));
    }
}
