namespace AutoPrune.Models;

/// <summary>
/// A prompt as token ids, with one placeholder id per image at <paramref name="ImagePositions"/> (ascending): each
/// placeholder is replaced by that image's visual tokens when the sequence is built.
/// </summary>
public sealed record TokenizedPrompt(int[] Ids, int[] ImagePositions)
{
    /// <summary>A prompt with a single image placeholder.</summary>
    public TokenizedPrompt(int[] ids, int imagePosition) : this(ids, [imagePosition]) { }

    public int Images => ImagePositions.Length;

    /// <summary>Text tokens without the image placeholders.</summary>
    public int TextTokens => Ids.Length - ImagePositions.Length;
}
