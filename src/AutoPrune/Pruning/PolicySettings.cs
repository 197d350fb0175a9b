using System.Globalization;

namespace AutoPrune.Pruning;

public enum SettingKind { Number, Integer, IntegerList, Boolean, Choice }

/// <summary>
/// One setting a policy accepts through <see cref="PolicyOptions.Settings"/> (the CLI's --set NAME=VALUE). Policies
/// declare theirs in their <see cref="PolicyInfo"/>; the CLI builds its help and checks from the declarations.
/// </summary>
/// <param name="Default">The default as text, as help shows it (e.g. "14.9", "strict", "by depth: 2 of 32").</param>
/// <param name="Choices">The allowed values of a <see cref="SettingKind.Choice"/> setting.</param>
public sealed record PolicySetting(string Name, SettingKind Kind, string Default, string Help, params string[] Choices)
{
    public string KindText => Kind switch
    {
        SettingKind.Number => "number",
        SettingKind.Integer => "integer",
        SettingKind.IntegerList => "integers,comma-separated",
        SettingKind.Boolean => "true|false",
        _ => string.Join("|", Choices),
    };
}

/// <summary>What a policy is, for `autoprune policies`, --help and errors.</summary>
/// <param name="Prunes">Where in the model it prunes.</param>
/// <param name="RanksBy">What it ranks visual tokens by.</param>
/// <param name="DefaultBudget">What it keeps when no budget is given.</param>
/// <param name="Positions">Its default position mode.</param>
public sealed record PolicyInfo(string Name, string Prunes, string RanksBy, string DefaultBudget, string Positions, IReadOnlyList<PolicySetting> Settings)
{
    public PolicySetting? Setting(string name) => Settings.FirstOrDefault(s => s.Name.Equals(name, StringComparison.OrdinalIgnoreCase));
}

/// <summary>
/// Reads a policy's settings against its declarations: an unknown name or a value of the wrong kind is refused up
/// front (a typo must not silently fall back to a default), with messages that name the policy.
/// </summary>
internal sealed class SettingsReader
{
    private readonly PolicyInfo _info;
    private readonly Dictionary<string, string> _settings = new(StringComparer.OrdinalIgnoreCase);

    public SettingsReader(PolicyInfo info, PolicyOptions options)
    {
        _info = info;
        foreach (var (key, value) in options.Settings)
        {
            var decl = info.Setting(key) ?? throw new PruningOptionException(info.Settings.Count == 0
                ? $"{info.Name}: unknown setting '{key}' (this policy has no settings)"
                : $"{info.Name}: unknown setting '{key}' (known: {string.Join(", ", info.Settings.Select(s => s.Name))})");
            if (!_settings.TryAdd(decl.Name, value)) throw new PruningOptionException($"{info.Name}: setting '{key}' is given twice");
            CheckKind(decl, value);
        }
    }

    private void CheckKind(PolicySetting d, string v)
    {
        bool ok = d.Kind switch
        {
            SettingKind.Number => double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out var x) && double.IsFinite(x),
            SettingKind.Integer => int.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out _),
            SettingKind.IntegerList => v.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries) is { Length: > 0 } parts
                                       && parts.All(p => int.TryParse(p, NumberStyles.Integer, CultureInfo.InvariantCulture, out _)),
            SettingKind.Boolean => ParseBool(v) != null,
            _ => d.Choices.Contains(v, StringComparer.OrdinalIgnoreCase),
        };
        if (!ok) throw new PruningOptionException($"{_info.Name}: setting {d.Name}='{v}' is not {(d.Kind == SettingKind.Choice ? "one of " + string.Join(", ", d.Choices) : "a valid " + d.KindText)}");
    }

    private static bool? ParseBool(string v) => v.ToLowerInvariant() switch
    {
        "true" or "1" or "yes" or "on" => true,
        "false" or "0" or "no" or "off" => false,
        _ => null,
    };

    public bool Has(string key) => _settings.ContainsKey(key);

    public double? Double(string key, double min, double max, bool minExclusive = false)
    {
        if (!_settings.TryGetValue(key, out var s)) return null;
        var v = double.Parse(s, NumberStyles.Float, CultureInfo.InvariantCulture);
        if (v > max || v < min || (minExclusive && v == min))
            throw new PruningOptionException($"{_info.Name}: setting {key}={s} is out of range {(minExclusive ? "(" : "[")}{min.ToString(CultureInfo.InvariantCulture)}, {max.ToString(CultureInfo.InvariantCulture)}]");
        return v;
    }

    public int? Int(string key, int min, int max)
    {
        if (!_settings.TryGetValue(key, out var s)) return null;
        var v = int.Parse(s, NumberStyles.Integer, CultureInfo.InvariantCulture);
        if (v < min || v > max)
            throw new PruningOptionException($"{_info.Name}: setting {key}={s} is out of range [{min}, {max}]");
        return v;
    }

    /// <summary>A comma-separated list of integers, e.g. layers=2,4,6.</summary>
    public int[]? IntList(string key) => _settings.TryGetValue(key, out var s)
        ? s.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).Select(p => int.Parse(p, CultureInfo.InvariantCulture)).ToArray()
        : null;

    public bool? Bool(string key) => _settings.TryGetValue(key, out var s) ? ParseBool(s) : null;

    /// <summary>The chosen value in lower case, or null when not given.</summary>
    public string? Choice(string key) => _settings.TryGetValue(key, out var s) ? s.ToLowerInvariant() : null;
}
