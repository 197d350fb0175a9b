using System.Security.Cryptography;
using AutoPrune.Loading;

namespace AutoPrune.Models;

/// <summary>Who speaks in a conversation turn.</summary>
public enum Speaker { System, User, Assistant }

/// <summary>An encoded image (PNG, JPEG, ...) of a conversation, identified by the SHA-256 of its bytes.</summary>
public sealed class ImageInput
{
    public byte[] Bytes { get; }
    /// <summary>Where it came from, for messages (a file name, "image 2 of the request").</summary>
    public string Source { get; }
    private string? _key;
    private RgbImage? _decoded;

    public ImageInput(byte[] bytes, string source)
    {
        Bytes = bytes ?? throw new ArgumentNullException(nameof(bytes));
        Source = source;
    }

    public static ImageInput FromFile(string path)
    {
        if (!File.Exists(path)) throw new ImageLoadException($"{path}: image file not found");
        try { return new ImageInput(File.ReadAllBytes(path), path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ImageLoadException($"{path}: cannot read image file: {e.Message}", e);
        }
    }

    /// <summary>Content key (hex SHA-256): equal bytes, equal key, whatever the source.</summary>
    public string Key => _key ??= Convert.ToHexString(SHA256.HashData(Bytes));

    /// <summary>The decoded pixels (decoded once).</summary>
    public RgbImage Decode() => _decoded ??= ImageLoader.Load(Bytes, Source);
}

/// <summary>One message of a conversation: its text and the images it shows (rendered before the text).</summary>
public sealed record Turn(Speaker Speaker, string Text, IReadOnlyList<ImageInput> Images)
{
    public Turn(Speaker speaker, string text) : this(speaker, text, []) { }
}
