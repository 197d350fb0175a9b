using System.Text;
using System.Text.RegularExpressions;
using Xunit.Abstractions;

namespace AutoPrune.Tests.Support;

/// <summary>
/// Seeded mutation fuzzing. Each case mutates a valid input with 1-4 byte- or JSON-level edits and hands it to the
/// library, which must either accept it or throw an <see cref="AutoPruneException"/> with a non-empty, printable
/// message; anything else (another exception type) fails the test with the case's seed for reproduction.
/// AUTOPRUNE_FUZZ_CASES sets the cases per format (default <see cref="DefaultCases"/>; CI's long mode uses more),
/// AUTOPRUNE_FUZZ_SEED the base seed.
/// </summary>
public static class Fuzz
{
    public const int DefaultCases = 300;

    public static int Cases(int scale = 1) =>
        int.TryParse(Environment.GetEnvironmentVariable("AUTOPRUNE_FUZZ_CASES"), out var n) && n > 0 ? n : DefaultCases / scale;

    public static int BaseSeed =>
        int.TryParse(Environment.GetEnvironmentVariable("AUTOPRUNE_FUZZ_SEED"), out var s) ? s : 20251128;

    /// <summary>Runs the cases; returns (accepted, typed errors) and fails on any other outcome.</summary>
    public static (int Accepted, int Typed) Run(string format, int cases, Func<Mutator, byte[]> make, Action<byte[]> consume,
        ITestOutputHelper? output = null)
    {
        int accepted = 0, typed = 0;
        var failures = new List<string>();
        for (int i = 0; i < cases; i++)
        {
            int seed = unchecked(BaseSeed * 31 + i);
            var input = make(new Mutator(seed));
            try
            {
                consume(input);
                accepted++;
            }
            catch (AutoPruneException e)
            {
                typed++;
                if (string.IsNullOrWhiteSpace(e.Message) || e.Message.Any(char.IsControl) || e.Message.Contains("Object reference"))
                    failures.Add($"seed {seed}: unhelpful message: {e.Message}");
            }
            catch (Exception e)
            {
                failures.Add($"seed {seed}: {e.GetType().Name}: {e.Message}");
            }
        }
        output?.WriteLine($"fuzz {format}: {cases} cases, {accepted} accepted, {typed} typed errors, {failures.Count} other");
        Assert.True(failures.Count == 0, $"{format}: {failures.Count} of {cases} cases failed:\n" + string.Join("\n", failures.Take(20)));
        return (accepted, typed);
    }
}

/// <summary>Random edits of a valid input.</summary>
public sealed class Mutator(int seed)
{
    private readonly Random _rng = new(seed);

    private static readonly int[] InterestingInts = [0, -1, 1, 2, 255, 256, 65535, 65536, int.MaxValue, int.MinValue, 0x10000000];

    private static readonly string[] InterestingJson =
    [
        "0", "-1", "1", "2147483647", "-2147483648", "4294967296", "1e300", "-1e300", "1e-45", "0.5", "100000",
        "\"8\"", "\"\"", "[]", "{}", "null", "true", "\"\\ud800\"", "\"\\u0000\"", "[1,2,3]", "{\"a\":1}",
    ];

    public int Next(int max) => _rng.Next(max);

    /// <summary>1-4 byte-level edits: bit flips, interesting bytes and integers, truncation, deletion, insertion, duplication, NUL tails.</summary>
    public byte[] Bytes(byte[] input, int protectPrefix = 0)
    {
        var b = new List<byte>(input);
        int edits = 1 + _rng.Next(4);
        for (int k = 0; k < edits; k++)
        {
            int lo = Math.Min(protectPrefix, b.Count);
            int At() => b.Count == lo ? lo : lo + _rng.Next(b.Count - lo);
            switch (_rng.Next(9))
            {
                case 0: if (b.Count > lo) { int i = At(); b[i] ^= (byte)(1 << _rng.Next(8)); } break;
                case 1: if (b.Count > lo) b[At()] = (byte)new[] { 0, 0xFF, 0x7F, 0x80, 0x01 }[_rng.Next(5)]; break;
                case 2:
                    if (b.Count >= lo + 4)
                    {
                        int i = lo + _rng.Next(b.Count - lo - 3), v = InterestingInts[_rng.Next(InterestingInts.Length)];
                        var bytes = _rng.Next(2) == 0 ? BitConverter.GetBytes(v) : BitConverter.GetBytes(v).Reverse().ToArray();
                        for (int j = 0; j < 4; j++) b[i + j] = bytes[j];
                    }
                    break;
                case 3: if (b.Count > lo) { int i = At(); b.RemoveRange(i, b.Count - i); } break; // truncate
                case 4: if (b.Count > lo) { int i = At(); b.RemoveRange(i, Math.Min(b.Count - i, 1 + _rng.Next(16))); } break;
                case 5: { int i = At(); var ins = new byte[1 + _rng.Next(16)]; _rng.NextBytes(ins); b.InsertRange(i, ins); } break;
                case 6: if (b.Count > lo) { int i = At(), n = Math.Min(b.Count - i, 1 + _rng.Next(32)); b.InsertRange(At(), b.GetRange(i, n)); } break;
                case 7: { int n = 1 + _rng.Next(64); int i = Math.Max(lo, b.Count - n); for (int j = i; j < b.Count; j++) b[j] = 0; } break;
                default: if (b.Count > lo) { int i = At(); b[i] = (byte)_rng.Next(256); } break;
            }
        }
        return b.ToArray();
    }

    private static readonly Regex JsonToken = new("\"(?:[^\"\\\\]|\\\\.)*\"|-?\\d+(?:\\.\\d+)?(?:[eE][+-]?\\d+)?|true|false|null", RegexOptions.Compiled);

    /// <summary>1-3 JSON-aware edits (a value or key replaced by an interesting one), sometimes followed by a byte edit.</summary>
    public byte[] Json(string json)
    {
        int edits = 1 + _rng.Next(3);
        for (int k = 0; k < edits; k++)
        {
            var tokens = JsonToken.Matches(json);
            if (tokens.Count == 0) break;
            var t = tokens[_rng.Next(tokens.Count)];
            json = string.Concat(json.AsSpan(0, t.Index), InterestingJson[_rng.Next(InterestingJson.Length)], json.AsSpan(t.Index + t.Length));
        }
        var bytes = Encoding.UTF8.GetBytes(json);
        return _rng.Next(4) == 0 ? Bytes(bytes) : bytes;
    }
}
